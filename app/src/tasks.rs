//! One-off ECS tasks: the `before` and `verify` tasks of a deployment (run by the rollout at its
//! hook points, see `ledger_sync::task`), `ledger run` by hand, and the `task_run` entries that
//! record every one of them on `tasks/<env>`.

use std::cell::RefCell;

use ledger::entry::{TaskLogs, TaskPurpose, TaskRun};
use ledger::manifest::{EcsEnvironment, TaskSpec};
use ledger::{Body, EntryId, Stamp, StoredEntry};
use ledger_sync::Backoff;
use ledger_sync::ecs::AwsEcs;
use ledger_sync::rollout::ServiceTarget;
use ledger_sync::task::{Definition, DeploymentTasks, OneOff, Purpose, Ran, TaskEnding, run_one_off};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::hooks::Progress;
use crate::interrupt;
use crate::json;
use crate::remotes::error_lines;
use crate::session::Session;
use crate::workspace::{Workspace, clock};

/// The tasks deployment `deployment` runs on ECS: each changed service's `before` (in the order
/// of `targets`), and the environment's `verify`, placed as the first service.
pub(crate) fn deployment_tasks<'a>(
    workspace: &Workspace,
    ecs: &EcsEnvironment,
    client: &'a AwsEcs,
    deployment: EntryId,
    targets: &[ServiceTarget],
    progress: &'a dyn Fn(&str, &str),
) -> DeploymentTasks<'a, AwsEcs> {
    let hex = deployment.to_hex();
    let before = targets
        .iter()
        .enumerate()
        .filter_map(|(index, target)| {
            let spec = workspace.manifest.services.get(&target.service)?.before.as_ref()?;
            let definition = Definition::Revised {
                family: spec.task.clone(),
                image: target.image.clone(),
                deployment: hex.clone(),
            };
            let one_off = one_off(ecs, target, spec, definition, Some(target.container.clone()), &hex, index);
            Some((target.service.clone(), one_off))
        })
        .collect();
    let verify = ecs.verify.as_ref().zip(targets.first()).map(|(spec, target)| {
        let family = spec.task.clone().unwrap_or_default();
        let one_off = one_off(
            ecs,
            target,
            spec,
            Definition::Registered(family),
            spec.container.clone(),
            &hex,
            targets.len(),
        );
        (target.service.clone(), one_off)
    });
    DeploymentTasks {
        ecs: client,
        backoff: Backoff::default(),
        before,
        verify,
        ran: RefCell::new(Vec::new()),
        running: RefCell::new(None),
        progress,
    }
}

/// The tasks `wait` and `reconcile` run for deployment `deployment`: the environment's `verify`
/// alone, since its services were updated already (`before` ran, or the apply stopped there).
pub(crate) fn verification_tasks<'a>(
    workspace: &Workspace,
    ecs: &EcsEnvironment,
    client: &'a AwsEcs,
    deployment: EntryId,
    targets: &[ServiceTarget],
    progress: &'a dyn Fn(&str, &str),
) -> DeploymentTasks<'a, AwsEcs> {
    let mut tasks = deployment_tasks(workspace, ecs, client, deployment, targets, progress);
    tasks.before.clear();
    tasks
}

/// One task of deployment `hex`, the `index`th it may run (which keeps RunTask's token unique).
fn one_off(
    ecs: &EcsEnvironment,
    target: &ServiceTarget,
    spec: &TaskSpec,
    definition: Definition,
    container: Option<String>,
    hex: &str,
    index: usize,
) -> OneOff {
    OneOff {
        cluster: target.cluster.clone(),
        ecs_service: target.ecs_service.clone(),
        definition,
        container,
        command: spec.command.clone(),
        timeout: spec.timeout,
        poll_interval: ecs.poll_interval,
        client_token: format!("{}-{index}", &hex[..48]),
        started_by: format!("ledger/{}", &hex[..12]),
    }
}

/// Records each task deployment `deployment` ran on `tasks/<env>`, as `stamp`'s actor. A run
/// that cannot be recorded (the remote is unreachable) is a warning, not a failure: the
/// deployment's outcome, recorded before, names the task in its detail.
pub(crate) fn record_deployment_tasks(
    session: &Session<'_>,
    env: &str,
    stamp: &Stamp,
    deployment: EntryId,
    ran: Vec<Ran>,
) {
    for ran in ran {
        let purpose = match ran.purpose {
            Purpose::Before => TaskPurpose::Before { deployment },
            Purpose::Verify => TaskPurpose::Verify { deployment },
        };
        let task = ran.ending.task.clone().unwrap_or_else(|| "(not started)".into());
        let run = task_run(env, &ran.service, purpose, ran.command, ran.ending);
        if let Err(error) = record(session, stamp, run) {
            session.progress.warning(&format!(
                "warning: the {} task {task} of {} was not recorded: {}",
                purpose.as_str(),
                ran.service,
                error_lines(&error).trim()
            ));
        }
    }
}

fn record(session: &Session<'_>, stamp: &Stamp, run: TaskRun) -> Result<StoredEntry> {
    let at = clock().unwrap_or(stamp.at);
    let stamp = Stamp { at, actor: stamp.actor.clone(), message: String::new() };
    session.append(stamp, Body::TaskRun(run))
}

/// The entry body of a task run that ended as `ending`.
fn task_run(
    env: &str,
    service: &str,
    purpose: TaskPurpose,
    command: Vec<String>,
    ending: TaskEnding,
) -> TaskRun {
    TaskRun {
        env: env.to_string(),
        service: service.to_string(),
        purpose,
        command,
        task_definition: ending.task_definition,
        task: ending.task,
        exit_code: ending.exit_code,
        succeeded: ending.succeeded,
        detail: ending.detail,
        logs: ending.logs.map(|logs| TaskLogs {
            group: logs.group,
            stream: logs.stream,
            region: logs.region,
        }),
    }
}

/// Where a task's logs are, in words: `group /ecs/api, stream ecs/api/<id>`, or that its
/// container has no log configuration.
pub fn logs_line(run: &TaskRun) -> String {
    match &run.logs {
        Some(TaskLogs { group, stream: Some(stream), .. }) => {
            format!("awslogs group {group}, stream {stream}")
        }
        Some(TaskLogs { group, stream: None, .. }) => format!("awslogs group {group}"),
        None => "no log configuration".into(),
    }
}

/// What `ledger run` ran, as recorded.
pub struct ManualRun {
    pub entry: StoredEntry,
    /// The operation's `--output json` document.
    pub json: Value,
}

impl ManualRun {
    pub fn run(&self) -> &TaskRun {
        self.entry.entry.as_task_run().expect("a manual run records a task run")
    }
}

/// `run <env> <service> -- <command…>`: runs the task definition the service runs now in
/// `env`, placed as the service, with its container's command replaced; waits until it stops
/// (at most `timeout`) and records it.
pub fn run(
    workspace: &Workspace,
    env: &str,
    service: &str,
    command: &[String],
    timeout: std::time::Duration,
    progress: &dyn Progress,
) -> Result<ManualRun> {
    let config = workspace.environment(env)?;
    workspace.check_service(service)?;
    let Some(ecs) = config.ecs.clone() else {
        return Err(Error::usage(format!(
            "{env} is a record-only environment (no `cluster` in ledger.toml): there is no ECS to run a task on"
        )));
    };
    if command.is_empty() {
        return Err(Error::usage(
            "give the command to run after `--`, e.g. `ledger run stage api -- bin/migrate status`",
        ));
    }
    let stamp = workspace.stamp(None)?;
    let session = Session::open_synced(workspace, progress)?;
    let (cloud, stamp) = session.connect(&ecs, stamp)?;
    let service_config = &workspace.manifest.services[service];
    let ecs_service = service_config.ecs_service_in(service, env).to_string();
    let token = format!("run-{}-{}", stamp.at.0, std::process::id());
    let one_off = OneOff {
        cluster: ecs.cluster.clone(),
        ecs_service,
        definition: Definition::Service,
        container: Some(service_config.container.clone()),
        command: command.to_vec(),
        timeout,
        poll_interval: ecs.poll_interval,
        client_token: token,
        started_by: "ledger/run".into(),
    };
    let client = cloud.ecs();
    let report = |line: &str| progress.service(service, line);
    // An interrupt stops the wait, not the process: a task that started is recorded either way.
    let _handled = interrupt::handle()?;
    let running = RefCell::new(None);
    let started = |ending: &TaskEnding| *running.borrow_mut() = Some(ending.clone());
    let waited = interrupt::block_on_interruptible(run_one_off(
        &client,
        &Backoff::default(),
        &one_off,
        &report,
        &started,
    ))?;
    let (ending, interrupted) = match (waited, running.take()) {
        (Some(ending), _) => (ending, false),
        (None, Some(running)) => (running, true),
        (None, None) => {
            return Err(interrupt::stopped_waiting("no task was started, nothing was recorded".into()));
        }
    };
    let run = task_run(env, service, TaskPurpose::Manual, command.to_vec(), ending);
    let entry = record(&session, &stamp, run)?;
    if interrupted {
        let run = entry.entry.as_task_run().expect("a task run was recorded");
        return Err(interrupt::stopped_waiting(format!(
            "task {} goes on in ECS; its run is recorded as {}, without an exit code",
            run.task.as_deref().unwrap_or("?"),
            entry.id.short()
        )));
    }
    let reader = session.store.read()?;
    let releases = crate::views::Releases::new(&reader, &workspace.trust);
    let json = json!({"task_run": json::entry(&releases, &entry)?});
    Ok(ManualRun { entry, json })
}
