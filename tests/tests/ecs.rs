//! Rolling out to ECS for real: the `ledger` binary against the local AWS emulator
//! (tests/moto), whose ECS deployments start, progress and end as real ones do.

use std::time::{Duration, Instant};

use ledger_testutil::moto::{Moto, Rollout, repository};
use ledger_testutil::process::Project;
use serde_json::Value;

const SERVICES: [&str; 5] = ["api", "search", "worker", "web", "admin"];
const CONTAINER: &str = "app";

/// An emulated account with clusters `stage` and `prod`, each running every service of
/// `services` at image tag `v0`, and a project that deploys to them.
fn account(services: &[&str], extra_manifest: &str) -> (Moto, Project) {
    let moto = Moto::start();
    let mut manifest = String::from(
        "[project]\nid = \"e2e\"\n\n\
         [environments.stage]\ncluster = \"stage\"\npoll_interval = \"20ms\"\ntimeout = \"60s\"\n\n\
         [environments.prod]\ncluster = \"prod\"\nprotected = true\npoll_interval = \"20ms\"\ntimeout = \"60s\"\n",
    );
    for cluster in ["stage", "prod"] {
        moto.create_cluster(cluster);
        for service in services {
            moto.create_service(cluster, service, CONTAINER, &image(service, "v0"));
        }
    }
    for service in services {
        manifest.push_str(&format!(
            "\n[services.{service}]\nimage_repository = \"{}\"\ncontainer = \"{CONTAINER}\"\n",
            repository(&format!("e2e/{service}"))
        ));
    }
    manifest.push_str(extra_manifest);
    let project = Project::new(&manifest).with_env(moto.env());
    project.ok(&["init"]);
    (moto, project)
}

fn image(service: &str, tag: &str) -> String {
    format!("{}:{tag}", repository(&format!("e2e/{service}")))
}

fn register_all(project: &Project, services: &[&str], tag: &str) {
    for service in services {
        project.ok(&["register", service, &image(service, tag)]);
    }
}

fn parameter(env: &str, service: &str) -> String {
    format!("/e2e/images/{env}/{service}")
}

/// The AWS calls the emulator counted since its last reset are exactly `expected`.
fn assert_calls(moto: &Moto, expected: &[(&str, u64)]) {
    let expected = expected.iter().map(|(call, count)| (call.to_string(), *count)).collect();
    assert_eq!(moto.calls(), expected);
}

fn service_outcome<'a>(json: &'a Value, service: &str) -> &'a Value {
    &json["outcome"]["services"][service]
}

#[test]
fn five_services_applied_to_stage_then_promoted_to_prod() {
    let (moto, project) = account(&SERVICES, "");
    register_all(&project, &SERVICES, "v1");

    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes", "-m", "first"]);
    assert_eq!(code, 0, "{applied:#}");
    assert_eq!(applied["outcome"]["result"], "succeeded");
    let deployment = applied["deployment"]["id"].as_str().unwrap().to_string();
    for service in SERVICES {
        let ended = service_outcome(&applied, service);
        assert_eq!(ended["result"], "succeeded", "{service}: {ended}");
        // ECS's record of the rollout, which it followed.
        let record = format!("arn:aws:ecs:us-east-1:123456789012:service-deployment/stage/{service}/");
        assert!(ended["ecs_deployment"].as_str().unwrap().starts_with(&record), "{ended}");
        assert_eq!(ended["detail"], "ECS service deployment SUCCESSFUL (rolling), 2/2 tasks running");
        // The revision ECS runs is the one recorded, made for this deployment.
        let running = moto.describe_service("stage", service);
        assert_eq!(running["taskDefinition"], ended["task_definition"]);
        assert_eq!(running["currentServiceDeployment"], ended["ecs_deployment"]);
        let (_, tags) = moto.describe_task_definition(ended["task_definition"].as_str().unwrap());
        assert!(
            tags.as_array()
                .unwrap()
                .iter()
                .any(|t| t["key"] == "ledger:deployment" && t["value"] == deployment)
        );
        assert_eq!(moto.running_image("stage", service, CONTAINER), image(service, "v1"));
        assert_eq!(moto.parameter_history(&parameter("stage", service)), [image(service, "v1")]);
        // prod is not touched by a stage deployment.
        assert_eq!(moto.running_image("prod", service, CONTAINER), image(service, "v0"));
        assert!(moto.parameter_history(&parameter("prod", service)).is_empty());
    }
    // The principal the credentials act as is recorded beside the actor.
    assert!(
        applied["deployment"]["actor"].as_str().unwrap().contains("arn:aws:"),
        "{}",
        applied["deployment"]
    );

    let (code, promoted) = project.json_exit(&["promote", "stage", "prod", "--yes", "-m", "ship it"]);
    assert_eq!(code, 0, "{promoted:#}");
    assert_eq!(promoted["outcome"]["result"], "succeeded");
    for service in SERVICES {
        assert_eq!(moto.running_image("prod", service, CONTAINER), image(service, "v1"));
        assert_eq!(moto.parameter_history(&parameter("prod", service)), [image(service, "v1")]);
    }

    // A second release of one service: only it changes, and its parameter keeps its history.
    project.ok(&["register", "api", &image("api", "v2")]);
    let (code, again) = project.json_exit(&["apply", "latest", "stage", "--service", "api", "--yes"]);
    assert_eq!(code, 0, "{again:#}");
    assert_eq!(again["outcome"]["services"].as_object().unwrap().len(), 1);
    assert_eq!(moto.parameter_history(&parameter("stage", "api")), [image("api", "v1"), image("api", "v2")]);
    assert_eq!(moto.parameter_history(&parameter("stage", "search")), [image("search", "v1")]);

    let log = project.json(&["log", "prod"]);
    assert_eq!(log["deployments"][0]["result"], "succeeded");
    assert_eq!(log["deployments"][0]["message"], "ship it");
    let diff = project.json(&["diff", "stage", "prod"]);
    let changed: Vec<&Value> =
        diff["changes"].as_array().unwrap().iter().filter(|c| c["change"] == "changed").collect();
    assert_eq!(changed.len(), 1, "{diff:#}");
    assert_eq!(changed[0]["service"], "api");
}

#[test]
fn calls_grow_with_services_and_polls_not_with_the_account() {
    let (moto, project) = account(&SERVICES, "");
    // A busy account: another cluster with many services that an apply must never look at.
    moto.create_cluster("other");
    for n in 0..40 {
        moto.create_service("other", &format!("noise-{n}"), CONTAINER, "busybox:1");
    }
    register_all(&project, &SERVICES, "v1");
    moto.reset_calls();
    // A dry run: one DescribeServices per 10 services and one DescribeTaskDefinition per service
    // (the task definition each would register, against the one it runs), and the identity.
    let n = SERVICES.len() as u64;
    let (code, planned) = project.json_exit(&["apply", "latest", "stage", "--dry-run"]);
    assert_eq!(code, 0, "{planned:#}");
    let planned_calls = [
        ("ecs:DescribeServices", n.div_ceil(10)),
        ("ecs:DescribeTaskDefinition", n),
        ("sts:GetCallerIdentity", 1),
    ];
    assert_calls(&moto, &planned_calls);
    moto.reset_calls();
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");

    // Per service: one DescribeTaskDefinition (the plan's, to show the task definition it
    // registers; the rollout reuses it), RegisterTaskDefinition, UpdateService,
    // ListServiceDeployments (which service deployment the update started) and PutParameter.
    // For the services together: one DescribeServices per 10 services for the plan (how ECS
    // deploys each) and one before the updates, then one DescribeServiceDeployments per 20
    // services per poll: three polls (the emulator's rollouts are seen in progress twice, then
    // SUCCESSFUL). Once: the caller's identity.
    let polls = 3;
    let expected = [
        ("ecs:DescribeServices", n.div_ceil(10) * 2),
        ("ecs:DescribeTaskDefinition", n),
        ("ecs:RegisterTaskDefinition", n),
        ("ecs:UpdateService", n),
        ("ecs:ListServiceDeployments", n),
        ("ecs:DescribeServiceDeployments", n.div_ceil(20) * polls),
        ("ssm:PutParameter", n),
        ("sts:GetCallerIdentity", 1),
    ];
    assert_calls(&moto, &expected);
}

#[test]
fn without_service_deployments_the_services_are_polled_as_before() {
    let (moto, project) = account(&SERVICES, "");
    register_all(&project, &SERVICES, "v1");
    moto.deny(&["ecs:ListServiceDeployments"]);
    moto.reset_calls();
    let output = project.output(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        printed.matches("ECS service deployments not available").count(),
        1,
        "decided once, and said:\n{printed}"
    );
    // As before service deployments, and the one ListServiceDeployments refused: issue 13's
    // bound, ≤ 4 per service + 1 per 10 services per look + 1, plus that call (the looks: the
    // plan's, the one before the updates, three polls).
    let n = SERVICES.len() as u64;
    let looks = 5;
    let expected = [
        ("ecs:DescribeServices", n.div_ceil(10) * looks),
        ("ecs:DescribeTaskDefinition", n),
        ("ecs:RegisterTaskDefinition", n),
        ("ecs:UpdateService", n),
        ("ecs:ListServiceDeployments", 1),
        ("ssm:PutParameter", n),
        ("sts:GetCallerIdentity", 1),
    ];
    assert_calls(&moto, &expected);
    let log = project.json(&["log", "stage"]);
    assert_eq!(log["deployments"][0]["result"], "succeeded", "{log:#}");
}

#[test]
fn rollback_after_the_previous_revision_was_deregistered() {
    let (moto, project) = account(&["api"], "");
    project.ok(&["register", "api", &image("api", "v1")]);
    let (code, first) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{first:#}");
    let v1_revision = service_outcome(&first, "api")["task_definition"].as_str().unwrap().to_string();
    project.ok(&["register", "api", &image("api", "v2")]);
    let (code, second) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{second:#}");

    // The revision that ran v1 is gone (and so is the one before it): ECS cannot go back to it.
    moto.deregister_task_definition(&v1_revision);
    moto.deregister_task_definition("arn:aws:ecs:us-east-1:123456789012:task-definition/api:1");

    let (code, rolled_back) = project.json_exit(&["rollback", "stage", "--yes", "-m", "v2 is broken"]);
    assert_eq!(code, 0, "{rolled_back:#}");
    assert_eq!(rolled_back["outcome"]["result"], "succeeded");
    assert_eq!(rolled_back["deployment"]["trigger"]["kind"], "rollback");
    let restored = service_outcome(&rolled_back, "api")["task_definition"].as_str().unwrap();
    assert_ne!(restored, v1_revision, "a new revision, made from the ledger's own record");
    assert_eq!(moto.running_image("stage", "api", CONTAINER), image("api", "v1"));
    assert_eq!(
        moto.parameter_history(&parameter("stage", "api")),
        [image("api", "v1"), image("api", "v2"), image("api", "v1")]
    );
}

/// tests/moto/full_task_definition.json: every field RegisterTaskDefinition takes.
fn full_task_definition() -> Value {
    serde_json::from_str(include_str!("../moto/full_task_definition.json")).expect("the full task definition")
}

/// Service `full` of cluster `stage` running `definition` (its container `web`), and a project
/// that deploys it; returns the task definition's ARN too.
fn running(definition: Value) -> (Moto, Project, String) {
    let moto = Moto::start();
    moto.create_cluster("stage");
    let original = moto.register_task_definition(definition);
    moto.create_service_with("stage", "full", &original);
    let manifest = format!(
        "[project]\nid = \"e2e\"\n[environments.stage]\ncluster = \"stage\"\npoll_interval = \"20ms\"\n\
         [services.full]\nimage_repository = \"{}\"\ncontainer = \"web\"\n",
        repository("web")
    );
    let project = Project::new(&manifest).with_env(moto.env());
    project.ok(&["init"]);
    (moto, project, original)
}

#[test]
fn a_task_definition_with_every_field_comes_back_identical_but_for_the_image() {
    let full = full_task_definition();
    let (moto, project, original) = running(full.clone());
    let new_image = format!("{}:2.0.0@sha256:{}", repository("web"), "b".repeat(64));
    project.ok(&["register", "full", &new_image]);
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");

    let (before, before_tags) = moto.describe_task_definition(&original);
    let (after, after_tags) =
        moto.describe_task_definition(service_outcome(&applied, "full")["task_definition"].as_str().unwrap());
    assert_eq!(after["revision"], 2);
    let without_what_ecs_sets = |mut definition: Value| {
        for set_by_ecs in ["taskDefinitionArn", "revision", "registeredAt", "registeredBy"] {
            definition.as_object_mut().unwrap().remove(set_by_ecs);
        }
        definition
    };
    let mut expected = before.clone();
    expected["containerDefinitions"][0]["image"] = Value::String(new_image);
    assert_eq!(without_what_ecs_sets(after), without_what_ecs_sets(expected));
    // Every field the test file gives is there, as given (ECS only adds defaults).
    for (field, value) in full.as_object().unwrap() {
        if field != "containerDefinitions" && field != "tags" {
            assert_eq!(&before[field], value, "{field}");
        }
    }
    let mut expected_tags = before_tags.as_array().unwrap().clone();
    expected_tags.push(serde_json::json!({"key": "ledger:deployment", "value": applied["deployment"]["id"]}));
    assert_eq!(after_tags, Value::Array(expected_tags));
}

#[test]
fn a_task_definition_with_fields_ledger_cannot_copy_is_refused_not_copied_without_them() {
    let mut newer = full_task_definition();
    // A field ECS has that the AWS SDK for Rust does not model yet.
    newer["trustedExecutionConfiguration"] = serde_json::json!({"isolationMode": "SHARED"});
    let (moto, project, original) = running(newer);
    project.ok(&["register", "full", &format!("{}:2.0.0", repository("web"))]);
    moto.reset_calls();
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 3, "{applied:#}");
    let full = service_outcome(&applied, "full");
    assert_eq!(full["result"], "failed");
    assert!(
        full["detail"].as_str().unwrap().contains("cannot copy (trustedExecutionConfiguration)"),
        "{full}"
    );
    let calls = moto.calls();
    assert!(
        !calls.contains_key("ecs:RegisterTaskDefinition") && !calls.contains_key("ecs:UpdateService"),
        "{calls:?}"
    );
    assert_eq!(moto.describe_service("stage", "full")["taskDefinition"], original.as_str());
}

#[test]
fn failures_are_recorded_as_they_happened_and_ssm_follows_only_successes() {
    let (moto, project) = account(&SERVICES, "");

    // One service of five fails its rollout (the circuit breaker stops it, nothing rolls back).
    register_all(&project, &SERVICES, "v1");
    moto.set_rollout("stage", "search", Rollout::Fail, 1);
    let (code, failed) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 3, "{failed:#}");
    assert_eq!(failed["outcome"]["result"], "failed");
    let search = service_outcome(&failed, "search");
    assert_eq!(search["result"], "failed");
    assert_eq!(
        search["detail"],
        "ECS service deployment STOPPED: the circuit breaker tripped (3 failed tasks, threshold 3); \
         ECS says \"ECS deployment circuit breaker: tasks failed to start.\""
    );
    for service in SERVICES {
        let history = moto.parameter_history(&parameter("stage", service));
        if service == "search" {
            assert!(history.is_empty(), "SSM written for a failed service: {history:?}");
        } else {
            assert_eq!(service_outcome(&failed, service)["result"], "succeeded");
            assert_eq!(history, [image(service, "v1")]);
        }
    }
    let status = project.json(&["status", "stage"]);
    assert_eq!(status["environments"][0]["last_result"], "failed");

    // The circuit breaker rolls the new revision back: ECS runs the old one, the outcome says so.
    moto.set_rollout("stage", "search", Rollout::RollBack, 1);
    let (code, rolled) = project.json_exit(&["apply", "latest", "stage", "--service", "search", "--yes"]);
    assert_eq!(code, 3, "{rolled:#}");
    let search = service_outcome(&rolled, "search");
    assert_eq!(search["result"], "failed");
    // From ECS's record: rolled back, by the circuit breaker, to the last revision that
    // completed (v0's, not the failed v1 the service was set to: what runs is named, not claimed).
    assert_eq!(
        search["detail"],
        "ECS service deployment ROLLBACK_SUCCESSFUL: the circuit breaker tripped (3 failed tasks, threshold 3); \
         ECS says \"ECS deployment circuit breaker: tasks failed to start.\"; \
         ECS rolled back to the last deployment that completed; the PRIMARY deployment runs search:1"
    );
    assert_eq!(search["running"], Value::Null);
    assert_eq!(moto.running_image("stage", "search", CONTAINER), image("search", "v0"));
    assert!(moto.parameter_history(&parameter("stage", "search")).is_empty());
    // ECS started that rollback, but the ledger saw it happen and recorded it: not unrecorded.
    let live = project.json(&["status", "stage", "--live"]);
    assert_eq!(live["environments"][0]["live"]["search"]["unrecorded"], Value::Null, "{live:#}");

    // A rollout that never ends is a failure once the environment's timeout has passed.
    let manifest_path = project.path().join("ledger.toml");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(&manifest_path, manifest.replacen("timeout = \"60s\"", "timeout = \"1s\"", 1)).unwrap();
    moto.set_rollout("stage", "search", Rollout::Never, 0);
    let started = Instant::now();
    let (code, timed_out) = project.json_exit(&["apply", "latest", "stage", "--service", "search", "--yes"]);
    assert_eq!(code, 3, "{timed_out:#}");
    assert!(started.elapsed() < Duration::from_secs(30), "the wait is bounded by the timeout");
    let search = service_outcome(&timed_out, "search");
    assert_eq!(search["result"], "failed");
    assert!(search["detail"].as_str().unwrap().starts_with("timed out after 1s"), "{search}");
    assert!(moto.parameter_history(&parameter("stage", "search")).is_empty());
    let log = project.json(&["log", "stage"]);
    let results: Vec<&Value> = log["deployments"].as_array().unwrap().iter().map(|d| &d["result"]).collect();
    assert_eq!(results, ["failed", "failed", "failed"]);
}

#[test]
fn rollback_on_failure_puts_every_changed_service_back() {
    let (moto, project) = account(&["api", "search"], "");
    register_all(&project, &["api", "search"], "v1");
    let (code, first) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{first:#}");

    // search fails and ECS's circuit breaker puts v1 back; api succeeded, so the ledger puts
    // v1 back itself, in a new revision.
    register_all(&project, &["api", "search"], "v2");
    moto.set_rollout("stage", "search", Rollout::RollBack, 1);
    let (code, second) = project.json_exit(&["apply", "latest", "stage", "--yes", "--rollback-on-failure"]);
    assert_eq!(code, 3, "{second:#}");
    assert_eq!(second["outcome"]["result"], "rolled_back");
    for service in ["api", "search"] {
        assert_eq!(service_outcome(&second, service)["result"], "rolled_back", "{second:#}");
        assert_eq!(moto.running_image("stage", service, CONTAINER), image(service, "v1"));
        // SSM still names what runs.
        assert_eq!(moto.parameter_history(&parameter("stage", service)), [image(service, "v1")]);
    }
    let status = project.json(&["status", "stage"]);
    let state = &status["environments"][0]["state"];
    assert_eq!(state["api"]["image"], image("api", "v1"), "{status:#}");
    assert_eq!(state["search"]["image"], image("search", "v1"), "{status:#}");
}

#[test]
fn no_wait_records_submitted_and_wait_records_the_truth() {
    let (moto, project) = account(&["api"], "");
    project.ok(&["register", "api", &image("api", "v1")]);
    let (code, submitted) = project.json_exit(&["apply", "latest", "stage", "--yes", "--no-wait"]);
    assert_eq!(code, 0, "{submitted:#}");
    assert_eq!(submitted["outcome"]["result"], "submitted");
    assert!(
        moto.parameter_history(&parameter("stage", "api")).is_empty(),
        "nothing observed, nothing written"
    );

    // Until it is observed, the environment takes no new deployment.
    project.ok(&["register", "api", &image("api", "v2")]);
    let refused = project.output(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ledger wait stage"), "{refused:?}");

    let waited = project.output(&["wait", "stage"]);
    assert_eq!(waited.status.code(), Some(0), "{waited:?}");
    let log = project.json(&["log", "stage"]);
    assert_eq!(log["deployments"][0]["result"], "succeeded", "{log:#}");
    assert_eq!(moto.parameter_history(&parameter("stage", "api")), [image("api", "v1")]);
    let (code, next) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{next:#}");
}

#[test]
fn an_interrupted_apply_is_in_flight_until_reconciled() {
    let (moto, project) = account(&["api"], "");
    project.ok(&["register", "api", &image("api", "v1")]);
    moto.set_rollout("stage", "api", Rollout::Never, 0);
    let mut apply = project.command(&["apply", "latest", "stage", "--yes"]).spawn().expect("starting apply");

    // Once ECS has the update, the apply is waiting.
    let deadline = Instant::now() + Duration::from_secs(60);
    while moto.describe_service("stage", "api")["deployments"].as_array().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the apply never updated the service");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A second apply to the same environment is refused, naming the holder.
    let second = project.output(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(second.status.code(), Some(3), "{second:?}");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("environment stage is locked by e2e <e2e@example.com>"), "{stderr}");

    apply.kill().expect("killing apply");
    apply.wait().expect("reaping apply");

    let status = project.json(&["status", "stage"]);
    assert_eq!(status["environments"][0]["in_flight"], true, "{status:#}");
    let refused = project.output(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ledger reconcile stage"), "{refused:?}");

    moto.set_rollout("stage", "api", Rollout::Complete, 0);
    let reconciled = project.output(&["reconcile", "stage"]);
    assert_eq!(reconciled.status.code(), Some(0), "{reconciled:?}");
    let status = project.json(&["status", "stage"]);
    assert_eq!(status["environments"][0]["in_flight"], false);
    assert_eq!(status["environments"][0]["last_result"], "succeeded");
    assert_eq!(moto.parameter_history(&parameter("stage", "api")), [image("api", "v1")]);
}

#[test]
fn drift_behind_the_ledgers_back_is_reported() {
    let (moto, project) = account(&["api", "search"], "");
    register_all(&project, &["api", "search"], "v1");
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");
    let clean = project.output(&["status", "stage", "--live", "--exit-code"]);
    assert_eq!(clean.status.code(), Some(0), "{clean:?}");

    // Someone deploys a hotfix by hand, and someone else edits a parameter.
    moto.redeploy_behind_the_ledger("stage", "api", CONTAINER, &image("api", "hotfix"));
    moto.put_parameter(&parameter("stage", "search"), &image("search", "v0"));

    let drifted = project.output(&["status", "stage", "--live", "--exit-code"]);
    assert_eq!(drifted.status.code(), Some(3), "{drifted:?}");
    let human = String::from_utf8_lossy(&drifted.stdout);
    let row =
        |service: &str| human.lines().find(|l| l.trim_start().starts_with(service)).unwrap().to_string();
    assert!(row("api").ends_with("DRIFT: ECS"), "{human}");
    assert!(row("search").ends_with("DRIFT: SSM"), "{human}");
    assert!(human.contains("drift: ECS does not run what the ledger recorded in stage"), "{human}");
    assert!(human.contains("drift: SSM under /e2e/images/stage does not name"), "{human}");
    let live = project.json(&["status", "stage", "--live"]);
    let env = &live["environments"][0];
    assert_eq!(env["drift"], true);
    assert_eq!(env["live"]["api"]["ledger"], image("api", "v1"));
    assert_eq!(env["live"]["api"]["ecs"], image("api", "hotfix"));
    assert_eq!(env["live"]["api"]["drift"], true);
    assert_eq!(env["live"]["search"]["ecs"], image("search", "v1"));
    assert_eq!(env["live"]["search"]["ssm"], image("search", "v0"));
    assert_eq!(env["live"]["search"]["drift"], true);

    // A service ECS does not have is shown as such; a cluster it does not have is an error.
    let manifest_path = project.path().join("ledger.toml");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let renamed = manifest.replace("[services.search]\n", "[services.search]\necs_service = \"search-v2\"\n");
    std::fs::write(&manifest_path, &renamed).unwrap();
    let human = project.output(&["status", "stage", "--live"]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("no ECS service \"search-v2\""), "{human:?}");
    let live = project.json(&["status", "stage", "--live"]);
    assert_eq!(live["environments"][0]["live"]["search"]["ecs"], Value::Null);
    std::fs::write(&manifest_path, manifest.replace("cluster = \"stage\"", "cluster = \"stage-old\""))
        .unwrap();
    let missing = project.output(&["status", "stage", "--live"]);
    assert_eq!(missing.status.code(), Some(3), "{missing:?}");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("ClusterNotFoundException") && stderr.contains("`cluster` and `region`"),
        "{stderr}"
    );
}

#[test]
fn deployments_no_ledger_user_started_are_named_by_status_live_and_recorded_by_observe() {
    let (moto, project) = account(&["api", "search"], "");
    register_all(&project, &["api", "search"], "v1");
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");
    let live = project.json(&["status", "stage", "--live"]);
    assert_eq!(live["environments"][0]["live"]["api"]["unrecorded"], Value::Null, "{live:#}");
    assert_eq!(live["environments"][0]["live"]["search"]["unrecorded"], Value::Null, "{live:#}");
    let nothing = project.output(&["observe", "stage"]);
    assert_eq!(nothing.status.code(), Some(0), "{nothing:?}");
    assert!(String::from_utf8_lossy(&nothing.stdout).contains("nothing recorded"), "{nothing:?}");

    // A hotfix from the console, and a new revision of search with the same image (someone
    // edited its environment variables): neither started by a ledger user.
    moto.set_rollout("stage", "*", Rollout::Complete, 0);
    moto.redeploy_behind_the_ledger("stage", "api", CONTAINER, &image("api", "hotfix"));
    let search_revision =
        moto.redeploy_behind_the_ledger("stage", "search", CONTAINER, &image("search", "v1"));

    let drifted = project.output(&["status", "stage", "--live", "--exit-code"]);
    assert_eq!(drifted.status.code(), Some(3), "{drifted:?}");
    let human = String::from_utf8_lossy(&drifted.stdout);
    let line = |service: &str| {
        human
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{service}: ECS deployment")))
            .map(str::to_string)
    };
    let search_line = line("search").unwrap_or_else(|| panic!("{human}"));
    assert!(search_line.contains("by no ledger user"), "{human}");
    assert!(search_line.contains(search_revision.rsplit('/').next().unwrap()), "{human}");
    assert!(line("api").is_some(), "{human}");
    assert!(human.contains("`ledger observe stage`"), "{human}");
    let live = project.json(&["status", "stage", "--live"]);
    let search = &live["environments"][0]["live"]["search"];
    assert_eq!(search["ecs"], image("search", "v1"), "same image, yet a deployment the ledger did not start");
    assert_eq!(search["drift"], true);
    assert_eq!(search["unrecorded"]["task_definition"], search_revision.as_str());
    assert!(search["unrecorded"]["ecs_deployment"].as_str().unwrap().starts_with("ecs-svc/"), "{search:#}");
    assert!(search["unrecorded"]["started"].as_str().unwrap().ends_with('Z'), "{search:#}");

    let observed = project.json(&["observe", "stage", "-m", "console hotfix, incident 4711"]);
    let deployment = &observed["observed"]["deployment"];
    assert_eq!(deployment["trigger"]["kind"], "observed", "{observed:#}");
    assert_eq!(deployment["message"], "console hotfix, incident 4711");
    let started = deployment["trigger"]["started"].as_object().unwrap();
    assert_eq!(started.keys().collect::<Vec<_>>(), ["api", "search"], "{observed:#}");
    let outcome = &observed["observed"]["outcome"];
    assert_eq!(outcome["result"], "succeeded", "{observed:#}");
    assert_eq!(outcome["services"]["search"]["task_definition"], search_revision.as_str());

    // The history is complete again: the state is what ECS runs, nothing is unrecorded, and the
    // log says the deployment was observed, not started by a ledger user.
    let status = project.json(&["status", "stage"]);
    assert_eq!(status["environments"][0]["state"]["api"]["image"], image("api", "hotfix"), "{status:#}");
    let live = project.json(&["status", "stage", "--live"]);
    let rows = &live["environments"][0]["live"];
    assert_eq!(rows["api"]["unrecorded"], Value::Null, "{live:#}");
    assert_eq!(rows["search"]["unrecorded"], Value::Null, "{live:#}");
    assert_eq!(rows["search"]["drift"], false, "{live:#}");
    // Observing records; it changes nothing: SSM still names what the last apply wrote.
    assert_eq!(rows["api"]["ecs"], rows["api"]["ledger"], "{live:#}");
    assert_eq!(rows["api"]["ssm"], image("api", "v1"), "{live:#}");
    let log = project.output(&["log", "stage"]);
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.contains("observed on ECS, started by no ledger user"), "{log}");
    let again = project.output(&["observe", "stage"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing recorded"), "{again:?}");
    let verified = project.output(&["verify"]);
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");

    // A record-only environment has nothing to observe.
    let manifest_path = project.path().join("ledger.toml");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(&manifest_path, format!("{manifest}\n[environments.dev]\n")).unwrap();
    let refused = project.output(&["observe", "dev"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
}

#[test]
fn import_adopts_a_running_environment() {
    let (moto, project) = account(&["api", "search"], "");
    moto.reset_calls();
    let imported = project.json(&["import", "prod", "-m", "adopted"]);
    assert_eq!(imported["outcome"]["result"], "succeeded");
    assert_eq!(imported["deployment"]["trigger"]["kind"], "import");
    let status = project.json(&["status", "prod"]);
    let state = &status["environments"][0]["state"];
    assert_eq!(state["api"]["image"], image("api", "v0"), "{status:#}");
    assert_eq!(state["search"]["image"], image("search", "v0"), "{status:#}");
    // Nothing on ECS or SSM was changed.
    let calls = moto.calls();
    assert!(
        calls.keys().all(|call| call.starts_with("ecs:Describe") || call == "sts:GetCallerIdentity"),
        "{calls:?}"
    );

    // From there, the ledger deploys as usual, and a second import is refused.
    register_all(&project, &["api"], "v1");
    let (code, applied) = project.json_exit(&["apply", "latest", "prod", "--service", "api", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");
    assert_eq!(service_outcome(&applied, "api")["result"], "succeeded");
    let again = project.output(&["import", "prod"]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
}

#[test]
fn register_resolves_digests_in_ecr_and_writes_the_latest_parameter() {
    let (moto, project) = account(&["api"], "\n[aws]\nregion = \"us-east-1\"\n");
    let digest = moto.push_image("e2e/api", "v1");
    let registered = project.json(&["register", "api", &image("api", "v1"), "--resolve-digest"]);
    assert_eq!(registered["digest"], digest);
    let pinned = format!("{}@{digest}", image("api", "v1"));
    assert_eq!(registered["image"], pinned);
    assert_eq!(moto.parameter_history("/e2e/images/latest/api"), std::slice::from_ref(&pinned));

    // A tag ECR does not have is refused, and nothing is recorded.
    let missing = project.output(&["register", "api", &image("api", "v9"), "--resolve-digest"]);
    assert_eq!(missing.status.code(), Some(3), "{missing:?}");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("ecr:DescribeImages"), "{missing:?}");
    assert_eq!(project.json(&["log"])["entries"].as_array().unwrap().len(), 1);

    // The pinned image is what an apply puts on ECS.
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");
    assert_eq!(moto.running_image("stage", "api", CONTAINER), pinned);

    // The manifest's switch turns the latest parameter off; without [aws], register calls nothing.
    let manifest_path = project.path().join("ledger.toml");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(&manifest_path, format!("{manifest}write_latest = false\n")).unwrap();
    project.ok(&["register", "api", &image("api", "v2")]);
    assert_eq!(moto.parameter_history("/e2e/images/latest/api"), std::slice::from_ref(&pinned));
    std::fs::write(&manifest_path, manifest.replace("\n[aws]\nregion = \"us-east-1\"\n", "")).unwrap();
    moto.reset_calls();
    project.ok(&["register", "api", &image("api", "v3")]);
    assert_eq!(moto.calls(), Default::default());
}

#[test]
fn services_ecs_does_not_have_fail_by_name_and_the_others_still_deploy() {
    let (moto, project) = account(&["api", "search", "worker"], "");
    // search names an ECS service stage does not have; worker a container its task has not.
    let manifest_path = project.path().join("ledger.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .unwrap()
        .replace("[services.search]\n", "[services.search]\necs_service = { stage = \"search-v2\" }\n")
        .replace(
            &format!(
                "[services.worker]\nimage_repository = \"{}\"\ncontainer = \"{CONTAINER}\"",
                repository("e2e/worker")
            ),
            &format!(
                "[services.worker]\nimage_repository = \"{}\"\ncontainer = \"sidecar\"",
                repository("e2e/worker")
            ),
        );
    std::fs::write(&manifest_path, manifest).unwrap();
    register_all(&project, &["api", "search", "worker"], "v1");

    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 3, "{applied:#}");
    assert_eq!(applied["outcome"]["result"], "failed");
    let search = service_outcome(&applied, "search");
    assert_eq!(search["result"], "failed");
    assert!(search["detail"].as_str().unwrap().contains("\"search-v2\" not found in cluster"), "{search}");
    let worker = service_outcome(&applied, "worker");
    assert_eq!(worker["result"], "failed");
    assert!(
        worker["detail"].as_str().unwrap().contains("no container \"sidecar\" (it has: app)"),
        "{worker}"
    );
    assert_eq!(moto.running_image("stage", "worker", CONTAINER), image("worker", "v0"));
    assert_eq!(service_outcome(&applied, "api")["result"], "succeeded");
    assert_eq!(moto.parameter_history(&parameter("stage", "api")), [image("api", "v1")]);
    for service in ["search", "worker"] {
        assert!(moto.parameter_history(&parameter("stage", service)).is_empty(), "{service}");
    }
}

#[test]
fn services_sharing_one_repository_are_each_deployed_and_checked() {
    // api-worker runs the api image with another command: same repository, its own service.
    let extra = format!(
        "\n[services.api-worker]\nimage_repository = \"{}\"\ncontainer = \"{CONTAINER}\"\n",
        repository("e2e/api")
    );
    let (moto, project) = account(&["api"], &extra);
    moto.create_service("stage", "api-worker", CONTAINER, &image("api", "v0"));
    register_all(&project, &["api"], "v1");
    project.ok(&["register", "api-worker", &image("api", "v1")]);
    moto.set_rollout("stage", "api-worker", Rollout::Fail, 1);

    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 3, "{applied:#}");
    assert_eq!(service_outcome(&applied, "api")["result"], "succeeded");
    assert_eq!(service_outcome(&applied, "api-worker")["result"], "failed", "checked on its own");
    assert_eq!(moto.parameter_history(&parameter("stage", "api")), [image("api", "v1")]);
    assert!(moto.parameter_history(&parameter("stage", "api-worker")).is_empty());

    moto.set_rollout("stage", "api-worker", Rollout::Complete, 1);
    let (code, again) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{again:#}");
    assert_eq!(again["outcome"]["services"].as_object().unwrap().len(), 1, "only api-worker was left to do");
    assert_eq!(moto.running_image("stage", "api-worker", CONTAINER), image("api", "v1"));
    assert_eq!(moto.parameter_history(&parameter("stage", "api-worker")), [image("api", "v1")]);
}

#[test]
fn two_ledgers_applying_to_one_environment_at_once_one_is_refused_before_touching_ecs() {
    let services = &SERVICES[..2];
    let (moto, alice) = account(services, "\n[remote]\nurl = \"s3://team-ledger/e2e\"\n");
    moto.create_bucket("team-ledger");
    alice.ok(&["remote", "init"]);
    register_all(&alice, services, "v1");
    let manifest = std::fs::read_to_string(alice.path().join("ledger.toml")).unwrap();
    let bob = Project::new(&manifest).with_env(moto.env());
    bob.ok(&["clone", "s3://team-ledger/e2e"]);
    // Each rollout takes 50 polls, so the two applies overlap.
    moto.set_rollout("stage", "*", Rollout::Complete, 50);
    moto.reset_calls();
    let applies: Vec<_> = [&alice, &bob]
        .iter()
        .map(|project| {
            project
                .command(&["apply", "latest", "stage", "--yes"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = applies.into_iter().map(|child| child.wait_with_output().unwrap()).collect();
    let codes: Vec<Option<i32>> = outputs.iter().map(|output| output.status.code()).collect();
    let stderr: Vec<String> =
        outputs.iter().map(|o| String::from_utf8_lossy(&o.stderr).to_string()).collect();
    assert!(codes == [Some(0), Some(3)] || codes == [Some(3), Some(0)], "{codes:?}\n{stderr:?}");
    let refused = &stderr[codes.iter().position(|code| *code == Some(3)).unwrap()];
    assert!(
        refused.contains("environment stage is being deployed from another ledger")
            || refused.contains("moved since this ledger pulled"),
        "{refused}"
    );
    // Only the apply that proceeded called ECS: one revision and one update per service.
    let calls = moto.calls();
    assert_eq!(calls.get("ecs:DescribeTaskDefinition"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("ecs:UpdateService"), Some(&2), "{calls:?}");
    for project in [&alice, &bob] {
        project.ok(&["pull"]);
        let log = project.json(&["log", "stage"]);
        assert_eq!(log["deployments"].as_array().unwrap().len(), 1, "{log}");
    }
}

#[test]
fn with_a_remote_a_failed_apply_still_gives_the_lease_back_and_sse_is_asked_for() {
    let services = &SERVICES[..1];
    let remote = "\n[remote]\nurl = \"s3://team-ledger/e2e\"\nsse = \"AES256\"\n";
    let (moto, project) = account(services, remote);
    moto.create_bucket("team-ledger");
    project.ok(&["remote", "init"]);
    register_all(&project, services, "v1");
    moto.set_rollout("stage", "*", Rollout::Fail, 1);
    let (code, json) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 3, "{json}");
    let (status, lease) = moto.s3("GET", "/team-ledger/e2e/locks/env/stage", b"");
    assert_eq!(status, 200);
    let lease: Value = serde_json::from_slice(&lease).unwrap();
    assert_eq!(lease["released"], true, "{lease}");
    // The failed deployment reached the remote, and the next apply proceeds.
    let outcome = json["outcome"]["id"].as_str().unwrap();
    let head = moto.s3_head(&format!("/team-ledger/e2e/objects/{outcome}"));
    assert!(head.to_lowercase().contains("x-amz-server-side-encryption: aes256"), "{head}");
    moto.set_rollout("stage", "*", Rollout::Complete, 1);
    register_all(&project, services, "v2");
    assert_eq!(project.json_exit(&["apply", "latest", "stage", "--yes"]).0, 0);
}

// --- ECS's deployment strategies, followed through its service deployments ----------------

/// A blue/green configuration with a 5-minute bake time, deployment alarm `alarm` (rolling
/// back) and a lifecycle hook after the test traffic shift.
fn blue_green(alarm: &str) -> Value {
    serde_json::json!({
        "strategy": "BLUE_GREEN",
        "bakeTimeInMinutes": 5,
        "alarms": {"alarmNames": [alarm], "enable": true, "rollback": true},
        "lifecycleHooks": [{
            "hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:smoke",
            "roleArn": "arn:aws:iam::123456789012:role/hooks",
            "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
        }],
    })
}

/// Stderr of a `--output json` run, where the progress lines go.
fn progress_of(project: &Project, args: &[&str]) -> (i32, Value, String) {
    let mut with_json = args.to_vec();
    with_json.extend(["--output", "json"]);
    let output = project.output(&with_json);
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("no JSON: {output:?}"));
    (output.status.code().expect("an exit code"), json, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn blue_green_succeeds_after_its_bake_time() {
    let (moto, project) = account(&["api"], "");
    moto.configure_deployments("stage", "api", blue_green("api-5xx"));
    moto.set_rollout_with("stage", "api", Rollout::Complete, serde_json::json!({"bake_steps": 3}));
    project.ok(&["register", "api", &image("api", "v1")]);
    // The plan says how ECS deploys it, before anything is confirmed.
    let strategy = "blue/green, bake time 5m; alarms api-5xx";
    let planned = project.ok(&["apply", "latest", "stage", "--dry-run"]);
    let header = planned.lines().find(|line| line.starts_with("SERVICE")).unwrap();
    assert!(header.ends_with("STRATEGY"), "{planned}");
    let row = planned.lines().find(|line| line.starts_with("api ")).unwrap();
    assert!(row.ends_with(strategy), "{planned}");
    let (code, applied, progress) = progress_of(&project, &["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}\n{progress}");
    assert_eq!(applied["plan"]["changes"][0]["strategy"], strategy);
    let api = service_outcome(&applied, "api");
    assert_eq!(api["result"], "succeeded");
    assert_eq!(
        api["detail"],
        "ECS service deployment SUCCESSFUL (blue/green, bake time 5m; alarms api-5xx), 2/2 tasks running"
    );
    // It waited through every stage, the bake time included, on ECS's record of the rollout.
    let arn = api["ecs_deployment"].as_str().unwrap();
    assert!(progress.contains(&format!("api: following ECS service deployment {arn}")), "{progress}");
    for stage in ["TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"] {
        assert!(progress.contains(&format!("stage {stage}")), "{stage}: {progress}");
    }
    assert_eq!(moto.running_image("stage", "api", CONTAINER), image("api", "v1"));
    assert_eq!(moto.parameter_history(&parameter("stage", "api")), [image("api", "v1")]);
}

#[test]
fn linear_and_canary_succeed_after_shifting_traffic_and_fail_when_an_alarm_fires() {
    for (service, strategy, shown) in [
        ("api", "LINEAR", "linear, bake time 1m; alarms api-5xx"),
        ("search", "CANARY", "canary, bake time 1m; alarms search-5xx"),
    ] {
        let (moto, project) = account(&[service], "");
        let alarm = format!("{service}-5xx");
        let configuration = serde_json::json!({
            "strategy": strategy,
            "bakeTimeInMinutes": 1,
            "alarms": {"alarmNames": [alarm], "enable": true, "rollback": true},
        });
        moto.configure_deployments("stage", service, configuration);
        project.ok(&["register", service, &image(service, "v1")]);
        let (code, applied, progress) = progress_of(&project, &["apply", "latest", "stage", "--yes"]);
        assert_eq!(code, 0, "{applied:#}\n{progress}");
        assert_eq!(applied["plan"]["changes"][0]["strategy"], shown, "{applied:#}");
        let outcome = service_outcome(&applied, service);
        assert!(
            outcome["detail"]
                .as_str()
                .unwrap()
                .starts_with(&format!("ECS service deployment SUCCESSFUL ({shown})")),
            "{outcome}"
        );
        for stage in ["PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME"] {
            assert!(progress.contains(&format!("stage {stage}")), "{strategy} {stage}: {progress}");
        }
        assert_eq!(moto.parameter_history(&parameter("stage", service)), [image(service, "v1")]);

        moto.set_rollout("stage", service, Rollout::Alarm, 0);
        project.ok(&["register", service, &image(service, "v2")]);
        let (code, failed) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
        assert_eq!(code, 3, "{failed:#}");
        let outcome = service_outcome(&failed, service);
        assert_eq!(outcome["result"], "failed", "{outcome}");
        let detail = outcome["detail"].as_str().unwrap();
        assert!(
            detail
                .starts_with(&format!("ECS service deployment ROLLBACK_SUCCESSFUL: alarm \"{alarm}\" fired")),
            "{detail}"
        );
        assert_eq!(moto.running_image("stage", service, CONTAINER), image(service, "v1"));
        assert_eq!(
            moto.parameter_history(&parameter("stage", service)),
            [image(service, "v1")],
            "SSM written for a failure"
        );
    }
}

#[test]
fn an_alarm_during_bake_time_fails_the_deployment_and_names_the_alarm() {
    let (moto, project) = account(&["api", "search"], "");
    moto.configure_deployments("stage", "api", blue_green("api-5xx"));
    register_all(&project, &["api", "search"], "v1");
    let (code, first) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{first:#}");
    moto.set_rollout("stage", "api", Rollout::Alarm, 0);
    register_all(&project, &["api", "search"], "v2");
    let (code, failed) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 3, "{failed:#}");
    assert_eq!(failed["outcome"]["result"], "failed");
    let api = service_outcome(&failed, "api");
    assert_eq!(api["result"], "failed");
    let detail = "ECS service deployment ROLLBACK_SUCCESSFUL: alarm \"api-5xx\" fired during bake time; \
                  ECS says \"ECS deployment alarm api-5xx is in ALARM state.\"; \
                  ECS rolled back to the last deployment that completed; the PRIMARY deployment runs api:3";
    assert_eq!(api["detail"], detail);
    // ECS put v1 back, and the outcome says so.
    assert_eq!(api["running"]["image"], image("api", "v1"), "{api}");
    assert_eq!(moto.running_image("stage", "api", CONTAINER), image("api", "v1"));
    let written = [image("api", "v1")];
    assert_eq!(moto.parameter_history(&parameter("stage", "api")), written, "SSM written for a failure");
    assert_eq!(
        moto.parameter_history(&parameter("stage", "search")),
        [image("search", "v1"), image("search", "v2")]
    );

    // Why, wherever the deployment is read.
    let log = project.ok(&["log", "stage"]);
    assert!(log.contains(&format!("api failed: {detail}")), "{log}");
    let log_json = project.json(&["log", "stage"]);
    assert_eq!(log_json["deployments"][0]["outcome"]["services"]["api"]["detail"], detail, "{log_json:#}");
    let show = project.ok(&["show", failed["outcome"]["id"].as_str().unwrap()]);
    assert!(show.contains("alarm \"api-5xx\" fired during bake time"), "{show}");
}

#[test]
fn a_failing_lifecycle_hook_fails_the_deployment_with_its_stage() {
    let (moto, project) = account(&["api"], "");
    moto.configure_deployments("stage", "api", blue_green("api-5xx"));
    project.ok(&["register", "api", &image("api", "v1")]);
    let (code, first) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{first:#}");
    moto.set_rollout("stage", "api", Rollout::HookFails, 0);
    project.ok(&["register", "api", &image("api", "v2")]);
    let (code, failed) = project.json_exit(&["apply", "latest", "stage", "--yes", "--rollback-on-failure"]);
    assert_eq!(code, 3, "{failed:#}");
    // ECS rolled back already: the ledger has nothing left to put back.
    assert_eq!(failed["outcome"]["result"], "rolled_back", "{failed:#}");
    let api = service_outcome(&failed, "api");
    let detail = api["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "ECS service deployment ROLLBACK_SUCCESSFUL: at lifecycle stage POST_TEST_TRAFFIC_SHIFT; ECS says \
             \"ECS deployment lifecycle hook arn:aws:lambda:us-east-1:123456789012:function:smoke failed \
             at lifecycle stage POST_TEST_TRAFFIC_SHIFT.\""
        ),
        "{detail}"
    );
    assert_eq!(moto.running_image("stage", "api", CONTAINER), image("api", "v1"));
    assert_eq!(moto.parameter_history(&parameter("stage", "api")), [image("api", "v1")]);
    // The configuration, then one update per apply: the ledger did not roll back again.
    assert_eq!(moto.calls()["ecs:UpdateService"], 1 + 2);
}

#[test]
fn a_stopped_deployment_is_a_failure_saying_it_was_stopped() {
    let (moto, project) = account(&["api"], "");
    moto.configure_deployments("stage", "api", serde_json::json!({"strategy": "CANARY"}));
    moto.set_rollout("stage", "api", Rollout::Stop, 0);
    project.ok(&["register", "api", &image("api", "v1")]);
    let (code, failed) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 3, "{failed:#}");
    let api = service_outcome(&failed, "api");
    assert_eq!(
        api["detail"],
        "ECS service deployment STOPPED: at lifecycle stage TEST_TRAFFIC_SHIFT; \
         ECS says \"ECS deployment stopped: a StopServiceDeployment request stopped it.\""
    );
    assert_eq!(api["running"], Value::Null);
    assert!(moto.parameter_history(&parameter("stage", "api")).is_empty());
}

#[test]
fn no_wait_then_wait_follows_a_blue_green_deployment_across_its_bake_time() {
    let (moto, project) = account(&["api"], "");
    moto.configure_deployments("stage", "api", blue_green("api-5xx"));
    moto.set_rollout_with("stage", "api", Rollout::Complete, serde_json::json!({"bake_steps": 4}));
    project.ok(&["register", "api", &image("api", "v1")]);
    let (code, submitted) = project.json_exit(&["apply", "latest", "stage", "--yes", "--no-wait"]);
    assert_eq!(code, 0, "{submitted:#}");
    assert_eq!(submitted["outcome"]["result"], "submitted");
    let arn = service_outcome(&submitted, "api")["ecs_deployment"].as_str().unwrap().to_string();
    assert!(arn.contains(":service-deployment/stage/api/"), "{arn}");
    assert!(moto.parameter_history(&parameter("stage", "api")).is_empty());

    moto.reset_calls();
    let (code, waited, progress) = progress_of(&project, &["wait", "stage"]);
    assert_eq!(code, 0, "{waited:#}\n{progress}");
    assert!(progress.contains("stage BAKE_TIME"), "{progress}");
    let api = service_outcome(&waited, "api");
    assert_eq!(api["result"], "succeeded", "{waited:#}");
    assert_eq!(api["ecs_deployment"], arn.as_str());
    let calls = moto.calls();
    assert!(calls["ecs:DescribeServiceDeployments"] > 4, "{calls:?}");
    assert!(!calls.contains_key("ecs:ListServiceDeployments"), "the recorded ARN is followed: {calls:?}");
    assert_eq!(moto.parameter_history(&parameter("stage", "api")), [image("api", "v1")]);
}

#[test]
fn calls_for_five_blue_green_services_grow_with_the_stages_observed() {
    let (moto, project) = account(&SERVICES, "");
    for service in SERVICES {
        moto.configure_deployments("stage", service, blue_green("5xx"));
    }
    register_all(&project, &SERVICES, "v1");
    moto.reset_calls();
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");
    // As for rolling services (see `calls_grow_with_services_and_polls_not_with_the_account`),
    // but the polls last through every lifecycle stage: the emulator moves one stage per look,
    // 10 stages (PRE_SCALE_UP … CLEAN_UP, with 2 looks of BAKE_TIME), SUCCESSFUL at the 11th.
    let n = SERVICES.len() as u64;
    let polls = 11;
    let expected = [
        ("ecs:DescribeServices", n.div_ceil(10) * 2),
        ("ecs:DescribeTaskDefinition", n),
        ("ecs:RegisterTaskDefinition", n),
        ("ecs:UpdateService", n),
        ("ecs:ListServiceDeployments", n),
        ("ecs:DescribeServiceDeployments", n.div_ceil(20) * polls),
        ("ssm:PutParameter", n),
        ("sts:GetCallerIdentity", 1),
    ];
    assert_calls(&moto, &expected);
}

/// An account as [`account`] makes, plus CODE_DEPLOY services `deployed_by_codedeploy` (in
/// `stage`, at `v0`), each with its deployment group of CodeDeploy application `e2e-app`, named
/// in the manifest when `in_manifest`.
fn account_with_codedeploy(
    services: &[&str],
    deployed_by_codedeploy: &[&str],
    in_manifest: bool,
) -> (Moto, Project) {
    let mut extra = String::new();
    for service in deployed_by_codedeploy {
        extra.push_str(&format!(
            "\n[services.{service}]\nimage_repository = \"{}\"\ncontainer = \"{CONTAINER}\"\n",
            repository(&format!("e2e/{service}"))
        ));
        if in_manifest {
            extra.push_str(&format!(
                "codedeploy = {{ application = \"e2e-app\", deployment_group = \"{service}\" }}\n"
            ));
        }
    }
    let (moto, project) = account(services, &extra);
    for service in deployed_by_codedeploy {
        moto.create_codedeploy_service("stage", service, CONTAINER, &image(service, "v0"), "e2e-app");
    }
    (moto, project)
}

#[test]
fn a_code_deploy_service_is_deployed_through_codedeploy() {
    let (moto, project) = account_with_codedeploy(&["api"], &["legacy"], true);
    register_all(&project, &["api", "legacy"], "v1");
    moto.reset_calls();
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");
    let strategies: Vec<&Value> =
        applied["plan"]["changes"].as_array().unwrap().iter().map(|c| &c["strategy"]).collect();
    assert_eq!(strategies, ["rolling", "CodeDeploy (e2e-app/legacy)"]);
    let legacy = service_outcome(&applied, "legacy");
    assert_eq!(legacy["result"], "succeeded", "{legacy}");
    let id = legacy["ecs_deployment"].as_str().unwrap();
    assert!(id.starts_with("d-"), "{legacy}");
    assert_eq!(legacy["detail"], format!("CodeDeploy deployment {id} Succeeded"));
    // The service runs the revision the AppSpec named, and SSM says so.
    assert_eq!(moto.describe_service("stage", "legacy")["taskDefinition"], legacy["task_definition"]);
    assert_eq!(moto.running_image("stage", "legacy", CONTAINER), image("legacy", "v1"));
    assert_eq!(moto.parameter_history(&parameter("stage", "legacy")), [image("legacy", "v1")]);
    assert_eq!(service_outcome(&applied, "api")["result"], "succeeded");
    let calls = moto.calls();
    assert_eq!(calls["ecs:UpdateService"], 1, "api's only: {calls:?}");
    assert_eq!(calls["codedeploy:CreateDeployment"], 1, "{calls:?}");
}

#[test]
fn a_failed_codedeploy_deployment_fails_with_its_reason_and_leaves_ssm_alone() {
    let (moto, project) = account_with_codedeploy(&[], &["legacy"], true);
    moto.set_codedeploy(
        "e2e-app",
        "legacy",
        "fail",
        serde_json::json!({"error_code": "HEALTH_CONSTRAINTS", "message": "too many tasks failed"}),
    );
    register_all(&project, &["legacy"], "v1");
    let (code, failed) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 3, "{failed:#}");
    assert_eq!(failed["outcome"]["result"], "failed");
    let legacy = service_outcome(&failed, "legacy");
    let id = legacy["ecs_deployment"].as_str().unwrap();
    let detail = format!("CodeDeploy deployment {id} Failed: HEALTH_CONSTRAINTS: too many tasks failed");
    assert_eq!(legacy["detail"], detail.as_str());
    assert_eq!(legacy["running"], Value::Null);
    assert_eq!(moto.running_image("stage", "legacy", CONTAINER), image("legacy", "v0"));
    assert!(moto.parameter_history(&parameter("stage", "legacy")).is_empty());
    let log = project.ok(&["log", "stage"]);
    assert!(log.contains(&format!("legacy failed: {detail}")), "{log}");
    let log_json = project.json(&["log", "stage"]);
    assert_eq!(log_json["deployments"][0]["outcome"]["services"]["legacy"]["detail"], detail.as_str());
}

#[test]
fn a_codedeploy_rollback_is_recorded_as_such_and_not_redone() {
    let (moto, project) = account_with_codedeploy(&[], &["legacy"], true);
    register_all(&project, &["legacy"], "v1");
    let (code, _) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0);
    moto.set_codedeploy(
        "e2e-app",
        "legacy",
        "rollback",
        serde_json::json!({"error_code": "ALARM_ACTIVE", "message": "alarm legacy-5xx fired"}),
    );
    register_all(&project, &["legacy"], "v2");
    moto.reset_calls();
    let (code, rolled_back) =
        project.json_exit(&["apply", "latest", "stage", "--yes", "--rollback-on-failure"]);
    assert_eq!(code, 3, "{rolled_back:#}");
    assert_eq!(rolled_back["outcome"]["result"], "rolled_back");
    let legacy = service_outcome(&rolled_back, "legacy");
    assert_eq!(legacy["result"], "rolled_back");
    assert_eq!(legacy["running"]["image"], image("legacy", "v1"), "{legacy}");
    let id = legacy["ecs_deployment"].as_str().unwrap();
    assert_eq!(
        legacy["detail"],
        format!(
            "CodeDeploy deployment {id} Stopped: ALARM_ACTIVE: alarm legacy-5xx fired; CodeDeploy rolled back: \
             Deployment {id} was rolled back: alarm legacy-5xx fired; the service runs legacy:2"
        )
    );
    assert_eq!(moto.calls()["codedeploy:CreateDeployment"], 1, "CodeDeploy's rollback is not redone");
    assert_eq!(moto.running_image("stage", "legacy", CONTAINER), image("legacy", "v1"));
    assert_eq!(moto.parameter_history(&parameter("stage", "legacy")), [image("legacy", "v1")]);
}

#[test]
fn a_code_deploy_service_without_its_deployment_group_is_refused_before_anything_is_registered() {
    let (moto, project) = account_with_codedeploy(&["api"], &["legacy"], false);
    register_all(&project, &["api", "legacy"], "v1");
    moto.reset_calls();
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 3, "{applied:#}");
    let strategies: Vec<&Value> =
        applied["plan"]["changes"].as_array().unwrap().iter().map(|c| &c["strategy"]).collect();
    assert_eq!(strategies, ["rolling", "CodeDeploy"]);
    let legacy = service_outcome(&applied, "legacy");
    assert_eq!(legacy["result"], "failed");
    assert_eq!(
        legacy["detail"],
        "ECS service legacy is deployed by CodeDeploy (deployment controller CODE_DEPLOY): set \
         `codedeploy = { application = \"…\", deployment_group = \"…\" }` for service legacy in ledger.toml; \
         nothing was registered or changed"
    );
    assert_eq!(service_outcome(&applied, "api")["result"], "succeeded");
    let calls = moto.calls();
    assert_eq!(calls["ecs:RegisterTaskDefinition"], 1, "api's only");
    assert!(!calls.contains_key("codedeploy:CreateDeployment"), "{calls:?}");
    assert_eq!(moto.running_image("stage", "legacy", CONTAINER), image("legacy", "v0"));
}

#[test]
fn calls_for_five_codedeploy_services() {
    let (moto, project) = account_with_codedeploy(&[], &SERVICES, true);
    register_all(&project, &SERVICES, "v1");
    moto.reset_calls();
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");
    // Each poll is one BatchGetDeployments for the five: the emulator's default policy has a
    // deployment InProgress for two looks, Succeeded at the third.
    let n = SERVICES.len() as u64;
    let polls = 3;
    let expected = [
        ("ecs:DescribeServices", n.div_ceil(10) * 2),
        ("ecs:DescribeTaskDefinition", n),
        ("ecs:RegisterTaskDefinition", n),
        ("codedeploy:CreateDeployment", n),
        ("codedeploy:BatchGetDeployments", n.div_ceil(25) * polls),
        ("ssm:PutParameter", n),
        ("sts:GetCallerIdentity", 1),
    ];
    assert_calls(&moto, &expected);
}

#[test]
fn no_wait_then_wait_follows_a_codedeploy_deployment() {
    let (moto, project) = account_with_codedeploy(&[], &["legacy"], true);
    moto.set_codedeploy("e2e-app", "legacy", "succeed", serde_json::json!({"steps": 4}));
    register_all(&project, &["legacy"], "v1");
    let (code, submitted) = project.json_exit(&["apply", "latest", "stage", "--yes", "--no-wait"]);
    assert_eq!(code, 0, "{submitted:#}");
    assert_eq!(submitted["outcome"]["result"], "submitted");
    let id = service_outcome(&submitted, "legacy")["ecs_deployment"].as_str().unwrap().to_string();
    assert!(id.starts_with("d-"), "{id}");
    assert!(moto.parameter_history(&parameter("stage", "legacy")).is_empty());

    moto.reset_calls();
    let (code, waited) = project.json_exit(&["wait", "stage"]);
    assert_eq!(code, 0, "{waited:#}");
    let legacy = service_outcome(&waited, "legacy");
    assert_eq!(legacy["result"], "succeeded", "{waited:#}");
    assert_eq!(legacy["ecs_deployment"], id.as_str());
    assert_eq!(moto.calls()["codedeploy:BatchGetDeployments"], 5, "four looks InProgress, then Succeeded");
    assert_eq!(moto.parameter_history(&parameter("stage", "legacy")), [image("legacy", "v1")]);
}

#[test]
fn a_plan_the_gates_refuse_asks_nothing_of_aws() {
    let (moto, project) = account(&["api"], "");
    project.ok(&["register", "api", &image("api", "v1")]);
    project.ok(&["freeze", "stage", "-m", "incident 4711"]);
    moto.reset_calls();
    let refused = project.output(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(refused.status.code(), Some(4), "{refused:?}");
    assert_eq!(moto.calls(), Default::default(), "no call for a deployment that goes no further");
}

/// Changes service `service` of `cluster` by hand, as a console user would: a new revision with
/// its container at `memory` MiB, an environment variable added and a sidecar; its ARN.
fn change_by_hand(moto: &Moto, cluster: &str, service: &str, tag: &str) -> String {
    let arn = moto.register_task_definition(serde_json::json!({
        "family": service,
        "containerDefinitions": [
            {"name": CONTAINER, "image": image(service, tag), "memory": 64,
             "environment": [{"name": "FEATURE_X", "value": "on"}]},
            {"name": "envoy", "image": "envoyproxy/envoy:v1.30", "memory": 32, "essential": false},
        ],
    }));
    moto.update_service(cluster, service, &arn);
    arn
}

#[test]
fn a_dry_run_shows_the_task_definition_to_register_and_what_changed_behind_the_ledgers_back() {
    let (moto, project) = account(&["api"], "");
    register_all(&project, &["api"], "v1");
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");
    let registered = service_outcome(&applied, "api")["task_definition"].as_str().unwrap().to_string();
    let digest = service_outcome(&applied, "api")["task_definition_digest"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 64, "{applied:#}");
    assert_eq!(
        service_outcome(&applied, "api")["detail"],
        "ECS service deployment SUCCESSFUL (rolling), 2/2 tasks running"
    );

    // Memory halved, an environment variable and a sidecar added, in the console.
    let by_hand = change_by_hand(&moto, "stage", "api", "v1");
    register_all(&project, &["api"], "v2");
    moto.reset_calls();
    let (code, planned) = project.json_exit(&["apply", "latest", "stage", "--dry-run"]);
    assert_eq!(code, 0, "{planned:#}");
    // The plan costs one DescribeServices and one DescribeTaskDefinition per revision compared.
    assert_calls(
        &moto,
        &[("ecs:DescribeServices", 1), ("ecs:DescribeTaskDefinition", 2), ("sts:GetCallerIdentity", 1)],
    );
    let definition = &planned["plan"]["changes"][0]["task_definition"];
    assert_eq!(definition["running"], by_hand.as_str());
    assert_eq!(
        definition["changes"],
        serde_json::json!([{"path": "containerDefinitions[app].image", "old": image("api", "v1"), "new": image("api", "v2")}])
    );
    let drift: Vec<&str> =
        definition["drift"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(
        drift,
        [
            "containerDefinitions[app].environment[FEATURE_X]",
            "containerDefinitions[app].memory",
            "containerDefinitions[envoy]"
        ]
    );
    assert_eq!(definition["drift"][1]["old"], 128);
    assert_eq!(definition["drift"][1]["new"], 64);
    let diff = definition["diff"].as_str().unwrap();
    assert!(diff.contains(&format!("-      \"image\": \"{}\",", image("api", "v1"))), "{diff}");
    assert!(diff.contains(&format!("+      \"image\": \"{}\",", image("api", "v2"))), "{diff}");

    let human = project.run(&["apply", "latest", "stage", "--dry-run"]);
    assert_eq!(human.code, 0, "{}", human.render());
    // ARNs are the emulator's, the same on every run.
    insta::assert_snapshot!("dry_run_task_definition_diff", human.stdout);
    // Nothing was registered by the plans.
    assert_eq!(moto.describe_service("stage", "api")["taskDefinition"], by_hand.as_str());
    assert_ne!(registered, by_hand);
}

#[test]
fn fields_changed_behind_the_ledgers_back_are_drift_in_status_live() {
    let (moto, project) = account(&["api", "search"], "");
    register_all(&project, &["api", "search"], "v1");
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");
    moto.reset_calls();
    let clean = project.output(&["status", "stage", "--live", "--exit-code"]);
    assert_eq!(clean.status.code(), Some(0), "{clean:?}");
    // Per service: DescribeServices, DescribeTaskDefinition of what runs, which is ours.
    assert_eq!(moto.calls()["ecs:DescribeTaskDefinition"], 2);

    // Memory halved, an environment variable and a sidecar added, in the console: the image is
    // the ledger's, the task definition is not.
    change_by_hand(&moto, "stage", "api", "v1");
    let drifted = project.run(&["status", "stage", "--live", "--exit-code"]);
    assert_eq!(drifted.code, 3, "{}", drifted.render());
    let stdout = drifted.stdout.clone();
    insta::with_settings!({filters => vec![
        (r"deployment [0-9a-f]{12}", "deployment [id]"),
        (r"\([0-9a-f]{12}, ended", "([id], ended"),
        (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", "[time]"),
        (r"ecs-svc/\d+", "ecs-svc/[id]"),
    ]}, {
        insta::assert_snapshot!("status_live_field_drift", stdout);
    });
    let live = project.json(&["status", "stage", "--live"]);
    let api = &live["environments"][0]["live"]["api"];
    assert_eq!(api["drift"], true);
    assert_eq!(api["ecs"], api["ledger"]);
    assert_eq!(
        api["task_definition_drift"][1],
        serde_json::json!({"path": "containerDefinitions[app].memory", "old": 128, "new": 64})
    );
    assert_eq!(api["task_definition_drift"].as_array().unwrap().len(), 3, "{api:#}");

    // The same definition registered again by hand is a deployment no ledger user started,
    // but not a changed task definition: it has the digest the outcome recorded.
    let ours = service_outcome(&applied, "search")["task_definition"].as_str().unwrap().to_string();
    let (mut same, _) = moto.describe_task_definition(&ours);
    let set_by_ecs = [
        "taskDefinitionArn",
        "revision",
        "status",
        "registeredAt",
        "registeredBy",
        "requiresAttributes",
        "compatibilities",
    ];
    for field in set_by_ecs {
        same.as_object_mut().unwrap().remove(field);
    }
    let again = moto.register_task_definition(same);
    moto.update_service("stage", "search", &again);
    let live = project.json(&["status", "stage", "--live"]);
    let search = &live["environments"][0]["live"]["search"];
    assert_eq!(search["task_definition"], again.as_str());
    assert_eq!(search["task_definition_drift"], serde_json::json!([]), "{search:#}");
    assert!(search["unrecorded"].is_object(), "{search:#}");
}

#[test]
fn diff_task_definitions_compares_what_two_environments_run_beyond_the_image() {
    let (moto, project) = account(&["api", "search"], "");
    register_all(&project, &["api", "search"], "v1");
    assert_eq!(project.json_exit(&["apply", "latest", "stage", "--yes"]).0, 0);
    register_all(&project, &["api"], "v2");
    assert_eq!(project.json_exit(&["apply", "latest", "stage", "--yes"]).0, 0);
    // stage: api changed by hand (memory, an environment variable, a sidecar).
    change_by_hand(&moto, "stage", "api", "v2");
    // prod: search reads a secret, by reference.
    let search = moto.register_task_definition(serde_json::json!({
        "family": "search",
        "containerDefinitions": [{"name": CONTAINER, "image": image("search", "v0"), "memory": 128,
            "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/prod/db"}]}],
    }));
    moto.update_service("prod", "search", &search);

    let (code, compared) = project.json_exit(&["diff", "stage", "prod", "--task-definitions", "--exit-code"]);
    assert_eq!(code, 1, "{compared:#}");
    let definitions = &compared["task_definitions"];
    let paths = |service: &str| -> Vec<String> {
        definitions[service]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["path"].as_str().unwrap().to_string())
            .collect()
    };
    // The images differ (v2 and v0) but are not listed: that is what `diff` itself shows.
    assert_eq!(
        paths("api"),
        [
            "containerDefinitions[app].environment[FEATURE_X]",
            "containerDefinitions[app].memory",
            "containerDefinitions[envoy]"
        ]
    );
    assert_eq!(paths("search"), ["containerDefinitions[app].secrets[DB_PASSWORD]"]);
    assert_eq!(
        definitions["search"]["changes"][0]["new"],
        serde_json::json!({"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/prod/db"})
    );
    assert_eq!(definitions["search"]["b"], search.as_str());
    assert_eq!(definitions["api"]["unknown"], Value::Null);

    let human = project.run(&["diff", "stage", "prod", "--task-definitions"]);
    assert_eq!(human.code, 0, "{}", human.render());
    insta::assert_snapshot!("diff_task_definitions", human.stdout);

    // A promotion copies what prod runs, with stage's image: stage's configuration is not
    // carried over, which is what the comparison above shows beforehand.
    let (code, planned) = project.json_exit(&["promote", "stage", "prod", "--dry-run"]);
    assert_eq!(code, 0, "{planned:#}");
    let api = planned["plan"]["changes"].as_array().unwrap().iter().find(|c| c["service"] == "api").unwrap();
    assert_eq!(
        api["task_definition"]["changes"],
        serde_json::json!([{"path": "containerDefinitions[app].image", "old": image("api", "v0"), "new": image("api", "v2")}])
    );

    // Record-only environments and release sets run no task definitions.
    let refused = project.run(&["diff", "stage", "api", "--task-definitions"]);
    assert_eq!(refused.code, 2, "{}", refused.render());
}
