//! One-off tasks against the scripted fake: a deployment's `before` task stops it before any
//! service changes when it fails, its `verify` task decides the outcome, and every way a task can
//! end (exit 0 or not, no exit code, a start refused, throttling, a timeout) is told truthfully.

use std::cell::RefCell;
use std::time::Duration;

use ledger::{Change, DeployResult, EntryId, Outcome};

use crate::error::ErrorKind;
use crate::fake::{FakeAws, TaskScript};
use crate::retry::Backoff;
use crate::rollout::{Clients, EnvTarget, Options, ServiceTarget, apply};
use crate::task::{Definition, DeploymentTasks, OneOff, Purpose, TaskEnding, run_one_off};

const CLUSTER: &str = "catalogue-stage";
const PREFIX: &str = "/catalogue/images/stage";
const DEPLOYMENT: EntryId = EntryId([9; 32]);

fn image(service: &str, version: &str) -> String {
    format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/{service}:{version}")
}

fn env() -> EnvTarget {
    EnvTarget {
        ssm_prefix: PREFIX.into(),
        timeout: Duration::from_secs(60),
        poll_interval: Duration::from_secs(5),
    }
}

fn options(rollback_on_failure: bool) -> Options {
    Options {
        wait: true,
        rollback_on_failure,
        backoff: Backoff::default(),
        parallel: 4,
        described: Default::default(),
    }
}

/// `names` running v1, and targets taking each to v2.
fn setup(fake: &FakeAws, names: &[&str]) -> Vec<ServiceTarget> {
    names
        .iter()
        .map(|name| {
            fake.add_service(CLUSTER, name, &image(name, "v1"));
            ServiceTarget {
                service: name.to_string(),
                cluster: CLUSTER.into(),
                ecs_service: name.to_string(),
                container: name.to_string(),
                change: Change { from: Some(EntryId([1; 32])), to: EntryId([2; 32]) },
                image: image(name, "v2"),
                previous_image: Some(image(name, "v1")),
                codedeploy: None,
            }
        })
        .collect()
}

fn one_off(definition: Definition, container: Option<&str>, command: &[&str]) -> OneOff {
    OneOff {
        cluster: CLUSTER.into(),
        ecs_service: "api".into(),
        definition,
        container: container.map(str::to_string),
        command: command.iter().map(|c| c.to_string()).collect(),
        timeout: Duration::from_secs(600),
        poll_interval: Duration::from_secs(5),
        client_token: "token-1".into(),
        started_by: "alice".into(),
    }
}

/// The migration of `api`: a new revision of its own task definition with v2.
fn migration(target: &ServiceTarget) -> OneOff {
    let definition =
        Definition::Revised { family: None, image: target.image.clone(), deployment: DEPLOYMENT.to_hex() };
    one_off(definition, Some(&target.container), &["bin/migrate", "--up"])
}

fn tasks<'a>(
    fake: &'a FakeAws,
    before: Vec<(String, OneOff)>,
    verify: Option<(String, OneOff)>,
) -> DeploymentTasks<'a, FakeAws> {
    DeploymentTasks {
        ecs: fake,
        backoff: Backoff::default(),
        before,
        verify,
        ran: RefCell::new(Vec::new()),
        running: RefCell::new(None),
        progress: &|_, _| {},
    }
}

async fn deploy(
    fake: &FakeAws,
    targets: &[ServiceTarget],
    hooks: &DeploymentTasks<'_, FakeAws>,
    rollback_on_failure: bool,
) -> Outcome {
    let clients = Clients { ecs: fake, parameters: fake, codedeploy: fake };
    apply(clients, &env(), DEPLOYMENT, targets, &options(rollback_on_failure), hooks, &|_, _| {}).await
}

async fn run_alone(fake: &FakeAws, task: &OneOff) -> TaskEnding {
    run_one_off(fake, &Backoff::default(), task, &|_| {}, &|_| {}).await
}

#[tokio::test(start_paused = true)]
async fn a_migration_that_exits_0_runs_the_new_image_before_the_rollout() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api", "search"]);
    let hooks = tasks(&fake, vec![("api".into(), migration(&targets[0]))], None);
    let outcome = deploy(&fake, &targets, &hooks, false).await;
    assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");

    let started = fake.tasks();
    assert_eq!(started.len(), 1);
    let task = &started[0];
    assert_eq!(task.command, ["bin/migrate", "--up"]);
    assert_eq!(task.container, "api");
    assert_eq!(fake.image_in(&task.task_definition, "api"), image("api", "v2"), "the release's image");
    assert_ne!(task.task_definition, outcome.services["api"].task_definition.clone().unwrap());

    let ran = hooks.ran.borrow();
    assert_eq!(ran.len(), 1);
    assert_eq!((ran[0].purpose, ran[0].service.as_str()), (Purpose::Before, "api"));
    let ending = &ran[0].ending;
    assert!(ending.succeeded);
    assert_eq!(ending.exit_code, Some(0));
    assert_eq!(ending.task.as_deref(), Some(task.arn.as_str()));
    let logs = ending.logs.as_ref().expect("the container logs with awslogs");
    assert_eq!(logs.group, "/ecs/api");
    let task_id = task.arn.rsplit('/').next().unwrap();
    assert_eq!(logs.stream.as_deref(), Some(format!("ecs/api/{task_id}").as_str()));
}

#[tokio::test(start_paused = true)]
async fn a_migration_that_exits_1_stops_the_deployment_before_any_service_changes() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api", "search"]);
    fake.script_task("api", TaskScript::exits(1));
    let hooks = tasks(&fake, vec![("api".into(), migration(&targets[0]))], None);
    let outcome = deploy(&fake, &targets, &hooks, true).await;

    assert_eq!(outcome.result, DeployResult::Failed, "{outcome:#?}");
    assert_eq!(fake.calls("ecs:UpdateService"), 0, "no service was updated");
    assert_eq!(fake.calls("ssm:PutParameter"), 0, "SSM untouched");
    let arn = &fake.tasks()[0].arn;
    for service in ["api", "search"] {
        let detail = &outcome.services[service].said();
        assert!(detail.contains("exited 1") && detail.contains(arn.as_str()), "{detail}");
        assert!(detail.starts_with("not deployed: the `before` task of api failed"), "{detail}");
        assert_eq!(outcome.services[service].running, None);
        assert_eq!(fake.image_running(CLUSTER, service), image(service, "v1"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_migration_that_does_not_start_or_stops_without_an_exit_code_fails() {
    // ECS refuses to start it (RunTask answers with failures only).
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.fail("ecs:RunTask", ErrorKind::Rejected, 1);
    let hooks = tasks(&fake, vec![("api".into(), migration(&targets[0]))], None);
    let outcome = deploy(&fake, &targets, &hooks, false).await;
    assert_eq!(outcome.result, DeployResult::Failed);
    assert!(outcome.services["api"].said().contains("did not start"), "{outcome:?}");
    assert_eq!(fake.calls("ecs:UpdateService"), 0);

    // It stopped before its container ran: no exit code, ECS's reason quoted.
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.script_task(
        "api",
        TaskScript {
            polls: 1,
            exit_code: None,
            stop_code: "TaskFailedToStart",
            stopped_reason: "CannotPullContainerError: image not found".into(),
        },
    );
    let hooks = tasks(&fake, vec![("api".into(), migration(&targets[0]))], None);
    let outcome = deploy(&fake, &targets, &hooks, false).await;
    let detail = &outcome.services["api"].said();
    assert_eq!(outcome.result, DeployResult::Failed);
    assert!(
        detail.contains("stopped without an exit code (TaskFailedToStart; CannotPullContainerError"),
        "{detail}"
    );
    assert_eq!(fake.calls("ecs:UpdateService"), 0);
}

#[tokio::test(start_paused = true)]
async fn exit_0_with_a_stop_code_other_than_exited_is_a_failure() {
    let fake = FakeAws::new(&[CLUSTER]);
    setup(&fake, &["api"]);
    fake.script_task(
        "api",
        TaskScript {
            polls: 1,
            exit_code: Some(0),
            stop_code: "UserInitiated",
            stopped_reason: "Task stopped by user".into(),
        },
    );
    let ending = run_alone(&fake, &one_off(Definition::Service, Some("api"), &["true"])).await;
    assert!(!ending.succeeded);
    assert_eq!(ending.exit_code, Some(0));
    assert!(ending.detail.contains("UserInitiated"), "{}", ending.detail);
}

#[tokio::test(start_paused = true)]
async fn a_task_still_running_at_its_timeout_is_a_failure_that_says_how_to_stop_it() {
    let fake = FakeAws::new(&[CLUSTER]);
    setup(&fake, &["api"]);
    fake.script_task("api", TaskScript { polls: u32::MAX, ..TaskScript::exits(0) });
    let mut task = one_off(Definition::Service, Some("api"), &["sleep", "infinity"]);
    task.timeout = Duration::from_secs(30);
    let started = tokio::time::Instant::now();
    let ending = run_alone(&fake, &task).await;
    assert!(!ending.succeeded);
    assert_eq!(ending.exit_code, None);
    assert!(ending.detail.starts_with("still RUNNING after 30s"), "{}", ending.detail);
    assert!(
        ending.detail.contains("aws ecs stop-task --cluster catalogue-stage --task arn:"),
        "{}",
        ending.detail
    );
    assert_eq!(started.elapsed(), Duration::from_secs(30), "it waits its timeout, no more");
}

#[tokio::test(start_paused = true)]
async fn throttled_calls_are_retried_and_the_task_starts_once() {
    let fake = FakeAws::new(&[CLUSTER]);
    setup(&fake, &["api"]);
    fake.fail("ecs:RunTask", ErrorKind::Throttled, 2);
    fake.fail("ecs:DescribeTasks", ErrorKind::Throttled, 2);
    let ending = run_alone(&fake, &one_off(Definition::Service, Some("api"), &["true"])).await;
    assert!(ending.succeeded, "{ending:?}");
    assert_eq!(fake.calls("ecs:RunTask"), 3);
    assert_eq!(fake.tasks().len(), 1, "one task, whatever the retries");

    // Throttling that does not end fails the task, naming the call.
    let fake = FakeAws::new(&[CLUSTER]);
    setup(&fake, &["api"]);
    fake.fail("ecs:RunTask", ErrorKind::Throttled, 100);
    let ending = run_alone(&fake, &one_off(Definition::Service, Some("api"), &["true"])).await;
    assert!(!ending.succeeded);
    assert!(ending.detail.contains("ecs:RunTask") && ending.detail.contains("gave up"), "{}", ending.detail);
    assert!(fake.tasks().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_manual_run_takes_what_the_service_runs_now() {
    let fake = FakeAws::new(&[CLUSTER]);
    setup(&fake, &["api"]);
    let ending = run_alone(&fake, &one_off(Definition::Service, Some("api"), &["rake", "db:status"])).await;
    assert!(ending.succeeded);
    let task = &fake.tasks()[0];
    assert_eq!(fake.image_in(&task.task_definition, "api"), image("api", "v1"));
    assert_eq!(fake.calls("ecs:RegisterTaskDefinition"), 0, "nothing registered for a manual run");

    let ending = run_alone(&fake, &one_off(Definition::Service, Some("sidecar"), &["true"])).await;
    assert!(ending.detail.contains("no container \"sidecar\" (it has: api)"), "{}", ending.detail);
    let ending = run_alone(
        &fake,
        &OneOff { ecs_service: "ghost".into(), ..one_off(Definition::Service, None, &["true"]) },
    )
    .await;
    assert!(ending.detail.starts_with("did not run") && ending.detail.contains("ghost"), "{}", ending.detail);
}

fn verification(fake: &FakeAws) -> (String, OneOff) {
    fake.add_task_definition("smoke", "smoke", "registry.local/smoke:1");
    let mut task = one_off(Definition::Registered("smoke".into()), None, &["./smoke", "--env", "stage"]);
    task.client_token = "token-verify".into();
    ("api".into(), task)
}

#[tokio::test(start_paused = true)]
async fn a_verification_that_exits_0_lets_the_deployment_succeed() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api", "search"]);
    let hooks = tasks(&fake, Vec::new(), Some(verification(&fake)));
    let outcome = deploy(&fake, &targets, &hooks, false).await;
    assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");
    assert_eq!(fake.calls("ssm:PutParameter"), 2);
    let task = &fake.tasks()[0];
    assert!(task.task_definition.ends_with("task-definition/smoke:1"), "as registered: {task:?}");
    assert_eq!(task.container, "smoke");
    assert_eq!(hooks.ran.borrow()[0].purpose, Purpose::Verify);
}

#[tokio::test(start_paused = true)]
async fn a_failed_verification_fails_the_deployment_and_ssm_is_not_written() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api", "search"]);
    fake.script_task("smoke", TaskScript::exits(1));
    let hooks = tasks(&fake, Vec::new(), Some(verification(&fake)));
    let outcome = deploy(&fake, &targets, &hooks, false).await;
    assert_eq!(outcome.result, DeployResult::Failed, "{outcome:#?}");
    assert_eq!(fake.calls("ssm:PutParameter"), 0);
    for target in &targets {
        let service = &outcome.services[&target.service];
        assert_eq!(service.result, DeployResult::Failed);
        assert_eq!(service.running, Some(target.change.to), "the new release does run");
        assert!(service.said().contains("rolled out, but the environment's `verify` task failed: exited 1"));
        assert_eq!(fake.image_running(CLUSTER, &target.service), target.image);
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_verification_with_rollback_on_failure_puts_every_service_back() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api", "search"]);
    fake.script_task("smoke", TaskScript::exits(2));
    let hooks = tasks(&fake, Vec::new(), Some(verification(&fake)));
    let outcome = deploy(&fake, &targets, &hooks, true).await;
    assert_eq!(outcome.result, DeployResult::RolledBack, "{outcome:#?}");
    assert_eq!(fake.calls("ssm:PutParameter"), 0);
    for target in &targets {
        let service = &outcome.services[&target.service];
        assert_eq!(service.result, DeployResult::RolledBack);
        assert_eq!(service.running, target.change.from);
        assert_eq!(fake.image_running(CLUSTER, &target.service), image(&target.service, "v1"));
    }
}

#[tokio::test(start_paused = true)]
async fn no_verification_runs_when_a_service_failed() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.set_rollout(CLUSTER, "api", crate::fake::Rollout::Fail);
    let hooks = tasks(&fake, Vec::new(), Some(verification(&fake)));
    let outcome = deploy(&fake, &targets, &hooks, false).await;
    assert_eq!(outcome.result, DeployResult::Failed);
    assert!(fake.tasks().is_empty(), "the verification did not run");
}

#[tokio::test(start_paused = true)]
async fn a_task_given_up_while_it_runs_is_kept_to_be_recorded() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.script_task("api", TaskScript { polls: u32::MAX, ..TaskScript::exits(0) });
    let hooks = tasks(&fake, vec![("api".into(), migration(&targets[0]))], None);
    // The rollout is dropped while the migration runs, as an interrupt drops it.
    let given_up =
        tokio::time::timeout(Duration::from_secs(20), deploy(&fake, &targets, &hooks, false)).await;
    assert!(given_up.is_err(), "the migration never ends");
    assert_eq!(fake.calls("ecs:UpdateService"), 0);
    let runs = hooks.take_runs();
    assert_eq!(runs.len(), 1);
    let ending = &runs[0].ending;
    assert_eq!(ending.task.as_deref(), Some(fake.tasks()[0].arn.as_str()));
    assert!(!ending.succeeded && ending.exit_code.is_none());
    assert!(
        ending.detail.contains("interrupted") && ending.detail.contains("stop-task"),
        "{}",
        ending.detail
    );
    assert!(hooks.take_runs().is_empty(), "taken once");
}
