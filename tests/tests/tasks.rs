//! One-off ECS tasks for real: a deployment's `before` task (a migration with the new image) and
//! `verify` task, and `ledger run`, against the local AWS emulator (tests/moto), whose tasks stop
//! with the exit code a test sets; and the `task_run` entries `log` shows for them.

use std::time::{Duration, Instant};

use ledger_testutil::moto::{Moto, Rollout, repository};
use ledger_testutil::process::Project;
use serde_json::Value;

const CONTAINER: &str = "app";
const SERVICES: [&str; 2] = ["api", "web"];

/// Cluster `stage` running api and web at `v0`, and a project deploying to it (and to a
/// record-only `prod` that requires stage), with `api_keys` added to `[services.api]` and
/// `stage_keys` to `[environments.stage]`.
fn account(api_keys: &str, stage_keys: &str) -> (Moto, Project) {
    let moto = Moto::start();
    moto.create_cluster("stage");
    for service in SERVICES {
        moto.create_service("stage", service, CONTAINER, &image(service, "v0"));
    }
    let project = Project::new(&manifest(api_keys, stage_keys)).with_env(moto.env());
    project.ok(&["init"]);
    (moto, project)
}

fn manifest(api_keys: &str, stage_keys: &str) -> String {
    let mut manifest = format!(
        "[project]\nid = \"e2e\"\n\n\
         [environments.stage]\ncluster = \"stage\"\npoll_interval = \"20ms\"\ntimeout = \"60s\"\n{stage_keys}\n\n\
         [environments.prod]\nrequires = [\"stage\"]\n"
    );
    for service in SERVICES {
        let keys = if service == "api" { api_keys } else { "" };
        manifest.push_str(&format!(
            "\n[services.{service}]\nimage_repository = \"{}\"\ncontainer = \"{CONTAINER}\"\n{keys}\n",
            repository(&format!("e2e/{service}"))
        ));
    }
    manifest
}

fn image(service: &str, tag: &str) -> String {
    format!("{}:{tag}", repository(&format!("e2e/{service}")))
}

fn register_all(project: &Project, tag: &str) {
    for service in SERVICES {
        project.ok(&["register", service, &image(service, tag)]);
    }
}

fn calls(moto: &Moto, action: &str) -> u64 {
    moto.calls().get(&format!("ecs:{action}")).copied().unwrap_or(0)
}

/// The task runs `log stage` shows, newest first.
fn task_runs(project: &Project) -> Vec<Value> {
    project.json(&["log", "stage"])["tasks"].as_array().expect("the log's task runs").clone()
}

const MIGRATION: &str = "before = { command = [\"bin/migrate\", \"--up\"], timeout = \"30s\" }";

#[test]
fn a_migration_that_exits_0_runs_with_the_new_image_then_the_rollout() {
    let (moto, project) = account(MIGRATION, "");
    register_all(&project, "v1");
    moto.reset_calls();
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");
    assert_eq!(applied["outcome"]["result"], "succeeded");
    assert_eq!(calls(&moto, "RunTask"), 1, "one migration: api's");
    assert_eq!(calls(&moto, "UpdateService"), 2);

    let runs = task_runs(&project);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let run = &runs[0];
    assert_eq!((run["kind"].as_str(), run["purpose"].as_str()), (Some("task_run"), Some("before")));
    assert_eq!(run["deployment"], applied["deployment"]["id"]);
    assert_eq!((run["service"].as_str(), run["exit_code"].as_i64()), (Some("api"), Some(0)));
    assert_eq!(run["succeeded"], true);
    assert_eq!(run["command"], serde_json::json!(["bin/migrate", "--up"]));
    assert_eq!(run["logs"], Value::Null, "the emulated task definitions log nowhere");
    // It ran the release's image, with the command given, in the service's container.
    let (definition, _) = moto.describe_task_definition(run["task_definition"].as_str().unwrap());
    assert_eq!(definition["containerDefinitions"][0]["image"], image("api", "v1"));
    let task = moto.describe_task("stage", run["task"].as_str().unwrap());
    let overridden = &task["overrides"]["containerOverrides"][0];
    assert_eq!((overridden["name"].as_str(), &overridden["command"]), (Some(CONTAINER), &run["command"]));
    assert_eq!(moto.running_image("stage", "api", CONTAINER), image("api", "v1"));
    // The human log shows it under its deployment.
    let log = project.ok(&["log", "stage"]);
    assert!(log.contains("before api `bin/migrate --up`: succeeded, exited 0"), "{log}");
    assert!(log.contains("logs: no log configuration"), "{log}");
}

#[test]
fn a_migration_that_exits_1_stops_the_deployment_before_any_service_changes() {
    let (moto, project) = account(MIGRATION, "");
    register_all(&project, "v1");
    moto.set_task("stage", "api", Some(1), 1);
    moto.reset_calls();
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes", "--rollback-on-failure"]);
    assert_eq!(code, 3, "{applied:#}");
    assert_eq!(applied["outcome"]["result"], "failed");
    assert_eq!(calls(&moto, "UpdateService"), 0, "no service was updated");
    let task = task_runs(&project)[0]["task"].as_str().unwrap().to_string();
    for service in SERVICES {
        let ended = &applied["outcome"]["services"][service];
        assert_eq!(ended["result"], "failed");
        let detail = ended["detail"].as_str().unwrap();
        assert!(detail.contains("the `before` task of api failed: exited 1"), "{detail}");
        assert!(detail.contains(&task), "the task's ARN: {detail}");
        assert_eq!(moto.running_image("stage", service, CONTAINER), image(service, "v0"));
        assert!(moto.parameter_history(&format!("/e2e/images/stage/{service}")).is_empty(), "SSM untouched");
    }
    let runs = task_runs(&project);
    assert_eq!((runs[0]["exit_code"].as_i64(), runs[0]["succeeded"].as_bool()), (Some(1), Some(false)));

    // A migration that never started (no exit code) stops it the same way.
    moto.set_task("stage", "api", None, 0);
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 3, "{applied:#}");
    let detail = applied["outcome"]["services"]["api"]["detail"].as_str().unwrap();
    assert!(detail.contains("stopped without an exit code (TaskFailedToStart"), "{detail}");
    assert_eq!(calls(&moto, "UpdateService"), 0);
}

#[test]
fn a_failed_verification_fails_the_deployment_counts_as_no_success_and_can_be_rolled_back() {
    let verify = "verify = { task = \"smoke\", command = [\"./smoke\", \"stage\"], timeout = \"30s\" }";
    let (moto, project) = account("", verify);
    moto.register_task_definition(serde_json::json!({
        "family": "smoke",
        "containerDefinitions": [{"name": "runner", "image": "registry.local/smoke:1", "memory": 128}],
    }));
    let parameter = |service: &str| moto.parameter_history(&format!("/e2e/images/stage/{service}"));

    // It passes: the deployment succeeds and SSM is written.
    register_all(&project, "v1");
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");
    assert_eq!(parameter("api"), [image("api", "v1")]);
    let run = &task_runs(&project)[0];
    assert_eq!((run["purpose"].as_str(), run["succeeded"].as_bool()), (Some("verify"), Some(true)));
    assert!(run["task_definition"].as_str().unwrap().ends_with("task-definition/smoke:1"), "{run}");

    // It fails: the outcome is failed, the new release runs, SSM keeps the old one.
    moto.set_task("stage", "smoke", Some(1), 1);
    register_all(&project, "v2");
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 3, "{applied:#}");
    assert_eq!(applied["outcome"]["result"], "failed");
    for service in SERVICES {
        let detail = applied["outcome"]["services"][service]["detail"].as_str().unwrap();
        assert!(
            detail.contains("rolled out, but the environment's `verify` task failed: exited 1"),
            "{detail}"
        );
        assert_eq!(moto.running_image("stage", service, CONTAINER), image(service, "v2"));
        assert_eq!(parameter(service), [image(service, "v1")]);
    }
    // prod requires what succeeded in stage: a failed verification is no success.
    let promoted = project.run(&["promote", "stage", "prod", "--yes"]);
    assert_eq!(promoted.code, 4, "{}", promoted.stderr);
    assert!(promoted.stderr.contains("requires"), "{}", promoted.stderr);

    // With --rollback-on-failure every service is put back.
    register_all(&project, "v3");
    let (code, applied) = project.json_exit(&["apply", "latest", "stage", "--yes", "--rollback-on-failure"]);
    assert_eq!(code, 3, "{applied:#}");
    assert_eq!(applied["outcome"]["result"], "rolled_back");
    for service in SERVICES {
        assert_eq!(applied["outcome"]["services"][service]["result"], "rolled_back");
        assert_eq!(moto.running_image("stage", service, CONTAINER), image(service, "v2"));
        assert_eq!(parameter(service), [image(service, "v1")]);
    }
    let runs = task_runs(&project);
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|run| run["purpose"] == "verify"));

    // --no-wait cannot wait for the verification: refused before anything is recorded.
    let refused = project.run(&["apply", "latest", "stage", "--yes", "--no-wait"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("runs a `verify` task"), "{}", refused.stderr);
}

#[test]
fn an_interrupted_deployment_is_verified_by_reconcile_before_it_counts_as_succeeded() {
    let verify = "verify = { task = \"smoke\", command = [\"./smoke\", \"stage\"], timeout = \"30s\" }";
    let (moto, project) = account("", verify);
    moto.register_task_definition(serde_json::json!({
        "family": "smoke",
        "containerDefinitions": [{"name": "runner", "image": "registry.local/smoke:1", "memory": 128}],
    }));
    register_all(&project, "v1");
    moto.set_rollout("stage", "*", Rollout::Never, 0);
    let mut apply = project.command(&["apply", "latest", "stage", "--yes"]).spawn().expect("starting apply");
    let deadline = Instant::now() + Duration::from_secs(60);
    let updated =
        |service: &str| moto.describe_service("stage", service)["deployments"].as_array().unwrap().len() >= 2;
    while !SERVICES.iter().all(|service| updated(service)) {
        assert!(Instant::now() < deadline, "the apply never updated the services");
        std::thread::sleep(Duration::from_millis(50));
    }
    apply.kill().expect("killing apply");
    apply.wait().expect("reaping apply");
    assert!(task_runs(&project).is_empty(), "the apply was stopped before its verification");

    // The rollouts end; reconcile runs the verification, which fails: no success, SSM unwritten.
    moto.set_rollout("stage", "*", Rollout::Complete, 0);
    moto.set_task("stage", "smoke", Some(1), 1);
    let (code, reconciled) = project.json_exit(&["reconcile", "stage"]);
    assert_eq!(code, 3, "{reconciled:#}");
    assert_eq!(reconciled["outcome"]["result"], "failed", "{reconciled:#}");
    for service in SERVICES {
        let detail = reconciled["outcome"]["services"][service]["detail"].as_str().unwrap();
        assert!(
            detail.contains("rolled out, but the environment's `verify` task failed: exited 1"),
            "{detail}"
        );
        assert!(moto.parameter_history(&format!("/e2e/images/stage/{service}")).is_empty());
    }
    let runs = task_runs(&project);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!((runs[0]["purpose"].as_str(), runs[0]["succeeded"].as_bool()), (Some("verify"), Some(false)));
}

#[test]
fn ledger_run_runs_what_the_environment_runs_now_and_exits_as_the_task() {
    let (moto, project) = account("", "");
    let (code, ran) = project.json_exit(&["run", "stage", "api", "--", "rake", "db:status"]);
    assert_eq!(code, 0, "{ran:#}");
    let run = &ran["task_run"];
    assert_eq!((run["purpose"].as_str(), run["exit_code"].as_i64()), (Some("manual"), Some(0)));
    assert_eq!(run["task_definition"], moto.describe_service("stage", "api")["taskDefinition"]);
    let task = moto.describe_task("stage", run["task"].as_str().unwrap());
    assert_eq!(
        task["overrides"]["containerOverrides"][0]["command"],
        serde_json::json!(["rake", "db:status"])
    );

    moto.set_task("stage", "api", Some(1), 1);
    let failed = project.run(&["run", "stage", "api", "--", "rake", "db:migrate"]);
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    assert!(failed.stderr.contains("exit code: 1 (exited 1"), "{}", failed.stderr);
    assert!(failed.stderr.contains("logs: no log configuration"), "{}", failed.stderr);

    let runs = task_runs(&project);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["exit_code"], 1, "newest first");
    assert_eq!(project.json(&["show", "tasks/stage"])["id"], runs[0]["id"], "the ref names the newest");
    assert_eq!(runs[1]["exit_code"], 0);
    let log = project.ok(&["log", "stage"]);
    assert!(log.contains("manual api `rake db:migrate`: failed, exited 1"), "{log}");

    let unknown = project.run(&["run", "stage", "nope", "--", "true"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
}

#[test]
fn task_runs_travel_through_push_pull_and_clone() {
    let (moto, alice) = account(MIGRATION, "");
    let shared = tempfile::tempdir().unwrap();
    let url = format!("file://{}", shared.path().display());
    alice.ok(&["remote", "add", "origin", &url]);
    alice.ok(&["remote", "init", "origin"]);
    register_all(&alice, "v1");
    // Recorded on the remote first, as the deployment is.
    let (code, applied) = alice.json_exit(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(code, 0, "{applied:#}");
    alice.ok(&["run", "stage", "web", "--", "true"]);
    let recorded: Vec<Value> = task_runs(&alice).iter().map(|run| run["id"].clone()).collect();
    assert_eq!(recorded.len(), 2);

    let bob = Project::new(&manifest(MIGRATION, "")).with_env(moto.env());
    bob.ok(&["clone", &url]);
    let cloned: Vec<Value> = task_runs(&bob).iter().map(|run| run["id"].clone()).collect();
    assert_eq!(cloned, recorded);
    bob.ok(&["verify"]);
    assert_eq!(bob.json(&["verify", "--remote", "origin"])["sound"], true);

    // Bob's run reaches alice with a pull.
    bob.ok(&["run", "stage", "api", "--", "true"]);
    alice.ok(&["pull"]);
    assert_eq!(task_runs(&alice).len(), 3);
    assert_eq!(task_runs(&alice)[0]["id"], task_runs(&bob)[0]["id"]);
}

/// Sends `signal` to `child` once the emulator has started a task.
fn interrupt_once_a_task_started(moto: &Moto, child: &std::process::Child) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while calls(moto, "DescribeTasks") == 0 {
        assert!(std::time::Instant::now() < deadline, "no task was started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a pid of our own child and a valid signal number.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0, "signalling pid {pid}");
}

#[test]
fn a_task_interrupted_while_it_runs_is_recorded_without_an_exit_code() {
    use std::process::Stdio;
    let (moto, project) = account(MIGRATION, "");
    register_all(&project, "v1");
    moto.set_task("stage", "*", Some(0), 1_000_000);

    moto.reset_calls();
    let apply = project
        .command(&["apply", "latest", "stage", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting apply");
    interrupt_once_a_task_started(&moto, &apply);
    let interrupted = apply.wait_with_output().expect("reaping apply");
    let stderr = String::from_utf8_lossy(&interrupted.stderr);
    assert_eq!(interrupted.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("interrupted while waiting for ECS"), "{stderr}");
    assert_eq!(calls(&moto, "UpdateService"), 0);
    let run = &task_runs(&project)[0];
    assert_eq!((run["purpose"].as_str(), run["exit_code"].as_i64()), (Some("before"), None));
    assert!(
        run["task"].as_str().is_some() && run["detail"].as_str().unwrap().contains("interrupted"),
        "{run}"
    );

    moto.reset_calls();
    let manual = project
        .command(&["run", "stage", "web", "--", "sleep", "infinity"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting run");
    interrupt_once_a_task_started(&moto, &manual);
    let interrupted = manual.wait_with_output().expect("reaping run");
    let stderr = String::from_utf8_lossy(&interrupted.stderr);
    assert_eq!(interrupted.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("goes on in ECS; its run is recorded"), "{stderr}");
    let run = &task_runs(&project)[0];
    assert_eq!((run["purpose"].as_str(), run["service"].as_str()), (Some("manual"), Some("web")));
    assert_eq!(run["exit_code"], Value::Null);
}
