//! Events against the AWS emulator: an EventBridge sink puts each deployment and outcome on its
//! bus (a rule there forwards them to an SQS queue the test reads), and a webhook's signing
//! secret is read from an SSM SecureString.

use ledger_testutil::moto::{Moto, REGION};
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

[services.api]
image_repository = "registry.local/api"

[aws]
region = "{REGION}"
write_latest = false

[[notify]]
name = "bus"
type = "eventbridge"
bus = "deploys"
kinds = ["deployment", "outcome"]
environments = ["prod"]

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

    let receiver = Receiver::start();
    let project = Project::new(&manifest(&receiver.url())).with_env(moto.env());
    project.ok(&["init"]);
    project.ok(&["register", "api", "registry.local/api:v1"]);
    project.ok(&["apply", "latest", "stage", "--yes"]);
    project.ok(&["promote", "stage", "prod", "--yes"]);

    // The bus heard prod's deployment and outcome only, each as its entry's event.
    let events = drain(&moto, queue_url);
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|event| {
            (event["detail-type"].as_str().unwrap(), event["detail"]["entry"]["kind"].as_str().unwrap())
        })
        .collect();
    assert_eq!(kinds, [("Ledger Deployment", "deployment"), ("Ledger Outcome", "outcome")], "{events:?}");
    for event in &events {
        assert_eq!(event["source"], "ledger");
        let id = event["detail"]["id"].as_str().unwrap();
        assert_eq!(event["detail"]["entry"], project.json(&["show", id]));
        assert_eq!(event["detail"]["environment"]["env"], "prod");
    }

    // The webhook heard every entry, signed with the secret read from SSM.
    let requests = receiver.requests();
    assert_eq!(requests.len(), project.entry_count());
    assert!(requests.iter().all(|request| request.signed_with("X-Ledger-Signature-256", SECRET)));
    assert_eq!(project.json(&["notify"])["pending"], 0);
}
