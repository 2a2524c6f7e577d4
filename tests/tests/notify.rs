//! Events against the AWS emulator: an EventBridge sink for failed deployments to prod puts the
//! outcome of a rollout ECS failed on its bus (a rule there forwards it to an SQS queue the test
//! reads), and a webhook's signing secret is read from an SSM SecureString.

use ledger_testutil::moto::{Moto, REGION, Rollout};
use ledger_testutil::process::Project;
use ledger_testutil::receiver::Receiver;
use serde_json::{Value, json};

const SECRET: &str = "secret kept in SSM";

fn manifest(webhook_url: &str) -> String {
    format!(
        r#"[project]
id = "catalogue"

[environments.stage]
[environments.prod]
cluster = "prod"
poll_interval = "20ms"
timeout = "60s"

[services.api]
image_repository = "registry.local/api"
container = "app"

[aws]
region = "{REGION}"
write_latest = false

[[notify]]
name = "bus"
type = "eventbridge"
bus = "deploys"
kinds = ["outcome"]
environments = ["prod"]
results = ["failed", "rolled_back"]

[[notify]]
name = "hook"
type = "webhook"
url = "{webhook_url}"
secret = {{ ssm = "/catalogue/webhook-secret" }}
"#
    )
}

/// Every message the queue holds now.
fn drain(moto: &Moto, queue_url: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        let answer =
            moto.call("sqs", "ReceiveMessage", json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10}));
        let Some(batch) = answer["Messages"].as_array().filter(|batch| !batch.is_empty()) else {
            return messages;
        };
        for message in batch {
            messages.push(serde_json::from_str(message["Body"].as_str().unwrap()).unwrap());
            moto.call(
                "sqs",
                "DeleteMessage",
                json!({"QueueUrl": queue_url, "ReceiptHandle": message["ReceiptHandle"]}),
            );
        }
    }
}

#[test]
fn eventbridge_and_an_ssm_secret() {
    let moto = Moto::start();
    moto.call("events", "CreateEventBus", json!({"Name": "deploys"}));
    let queue = moto.call("sqs", "CreateQueue", json!({"QueueName": "ledger-events"}));
    let queue_url = queue["QueueUrl"].as_str().unwrap();
    let rule = json!({"Name": "all-ledger", "EventBusName": "deploys", "EventPattern": json!({"source": ["ledger"]}).to_string()});
    moto.call("events", "PutRule", rule);
    let target = json!({"Id": "queue", "Arn": format!("arn:aws:sqs:{REGION}:123456789012:ledger-events")});
    moto.call(
        "events",
        "PutTargets",
        json!({"Rule": "all-ledger", "EventBusName": "deploys", "Targets": [target]}),
    );
    moto.call(
        "ssm",
        "PutParameter",
        json!({"Name": "/catalogue/webhook-secret", "Value": SECRET, "Type": "SecureString"}),
    );

    moto.create_cluster("prod");
    moto.create_service("prod", "api", "app", "registry.local/api:v0");

    let receiver = Receiver::start();
    let project = Project::new(&manifest(&receiver.url())).with_env(moto.env());
    project.ok(&["init"]);
    for version in ["v1", "v2"] {
        project.ok(&["register", "api", &format!("registry.local/api:{version}")]);
        project.ok(&["apply", "latest", "stage", "--yes"]);
        if version == "v2" {
            moto.set_rollout("prod", "api", Rollout::Fail, 1);
        }
        let promoted = project.run(&["promote", "stage", "prod", "--yes"]);
        assert_eq!(promoted.code, if version == "v1" { 0 } else { 3 }, "{}", promoted.render());
    }

    // The bus heard of the failed deployment to prod only, as its outcome's event.
    let events = drain(&moto, queue_url);
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!((&event["source"], &event["detail-type"]), (&json!("ledger"), &json!("Ledger Outcome")));
    let id = event["detail"]["id"].as_str().unwrap();
    assert_eq!(event["detail"]["entry"], project.json(&["show", id]));
    assert_eq!(event["detail"]["entry"]["result"], "failed");
    assert_eq!(event["detail"]["environment"]["env"], "prod");
    let summary = &event["detail"]["summary"];
    let headline = summary["headline"].as_str().unwrap();
    assert!(
        headline.contains(" to prod by e2e <e2e@example.com>") && headline.ends_with(": failed"),
        "{event}"
    );
    assert!(
        summary["lines"][0].as_str().unwrap().starts_with("api: failed: ECS service deployment STOPPED"),
        "{event}"
    );

    // The webhook heard every entry, signed with the secret read from SSM.
    let requests = receiver.requests();
    assert_eq!(requests.len(), project.entry_count());
    assert!(requests.iter().all(|request| request.signed_with("X-Ledger-Signature-256", SECRET)));
    assert_eq!(project.json(&["notify"])["pending"], 0);
}
