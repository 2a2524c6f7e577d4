//! One-off ECS tasks: a deployment's migration before its services are updated (`before`), its
//! verification once every service succeeded (`verify`), and `ledger run`. The calls sit behind
//! a narrow trait of their own, [`Tasks`] (DescribeServices for where a service's tasks run,
//! RunTask, DescribeTasks); [`run_one_off`] runs one task to its end and tells how it ended, and
//! [`DeploymentTasks`] is what `rollout::apply` calls at its two hook points.
//!
//! A task succeeds only when ECS reports it STOPPED with its container's exit code 0 and no stop
//! code other than `EssentialContainerExited`; a task that could not start, stopped without an
//! exit code, or was still running when the timeout passed is a failure, with ECS's reason.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, ContainerOverride, LaunchType, LogDriver, NetworkConfiguration,
    TaskOverride,
};
use tokio::time::Instant;

use crate::ecs::{AwsEcs, Ecs, TaskDefinitionWithTags, revise, service_not_found};
use crate::error::{AwsError, ErrorKind, from_sdk};
use crate::retry::Backoff;
use crate::rollout::{PollSchedule, humanize, short_arn};

/// Where and how a service's tasks run, as DescribeServices tells: a one-off task is placed the
/// same way.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    /// The task definition the service runs now.
    pub task_definition: String,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    pub network_configuration: Option<NetworkConfiguration>,
    pub platform_version: Option<String>,
}

/// One RunTask: `task_definition` on `cluster`, placed as `placement`, with `container`'s
/// command replaced by `command`.
#[derive(Clone, Debug)]
pub struct TaskRequest<'a> {
    pub cluster: &'a str,
    pub task_definition: &'a str,
    pub container: &'a str,
    pub command: &'a [String],
    pub placement: &'a Placement,
    /// The same for every retry of one RunTask, so that ECS starts the task once.
    pub client_token: &'a str,
    /// Recorded by ECS as the task's `startedBy`.
    pub started_by: &'a str,
}

/// What DescribeTasks says of a task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskState {
    /// `PROVISIONING`, `PENDING`, `RUNNING`, … `STOPPED`.
    pub last_status: String,
    /// ECS's stop code (`EssentialContainerExited`, `TaskFailedToStart`, `UserInitiated`, …).
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// The exit code of the container the command ran in, once it exited.
    pub exit_code: Option<i32>,
    /// The container's own reason (an OOM kill, an image that could not be pulled).
    pub container_reason: Option<String>,
}

/// The calls a one-off task makes, behind a trait so tests can script faults.
pub trait Tasks {
    /// How service `service` of `cluster` runs its tasks.
    fn placement(&self, cluster: &str, service: &str) -> impl Future<Output = Result<Placement, AwsError>>;

    /// Starts one task; its ARN.
    fn run_task(&self, request: &TaskRequest<'_>) -> impl Future<Output = Result<String, AwsError>>;

    /// Task `task` of `cluster`, with container `container`'s exit code.
    fn describe_task(
        &self,
        cluster: &str,
        task: &str,
        container: &str,
    ) -> impl Future<Output = Result<TaskState, AwsError>>;
}

impl Tasks for AwsEcs {
    async fn placement(&self, cluster: &str, service: &str) -> Result<Placement, AwsError> {
        const ACTION: &str = "ecs:DescribeServices";
        let output = self
            .0
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| from_sdk(ACTION, e))?;
        let found = output
            .services()
            .iter()
            .find(|s| s.service_name() == Some(service) && s.status() != Some("INACTIVE"))
            .ok_or_else(|| service_not_found(cluster, service, None))?;
        Ok(Placement {
            task_definition: found.task_definition().unwrap_or_default().to_string(),
            launch_type: found.launch_type().cloned(),
            capacity_provider_strategy: found.capacity_provider_strategy().to_vec(),
            network_configuration: found.network_configuration().cloned(),
            platform_version: found.platform_version().map(str::to_string),
        })
    }

    async fn run_task(&self, request: &TaskRequest<'_>) -> Result<String, AwsError> {
        const ACTION: &str = "ecs:RunTask";
        let placement = request.placement;
        let overrides = TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(request.container)
                    .set_command(Some(request.command.to_vec()))
                    .build(),
            )
            .build();
        // A capacity provider strategy and a launch type exclude each other; the service has one.
        let strategy = &placement.capacity_provider_strategy;
        let output = self
            .0
            .run_task()
            .cluster(request.cluster)
            .task_definition(request.task_definition)
            .count(1)
            .set_launch_type(placement.launch_type.clone().filter(|_| strategy.is_empty()))
            .set_capacity_provider_strategy((!strategy.is_empty()).then(|| strategy.clone()))
            .set_network_configuration(placement.network_configuration.clone())
            .set_platform_version(placement.platform_version.clone())
            .overrides(overrides)
            .started_by(request.started_by)
            .client_token(request.client_token)
            .send()
            .await
            .map_err(|e| from_sdk(ACTION, e))?;
        if let Some(arn) = output.tasks().first().and_then(|t| t.task_arn()) {
            return Ok(arn.to_string());
        }
        let why: Vec<String> = output
            .failures()
            .iter()
            .map(|f| [f.reason(), f.detail()].into_iter().flatten().collect::<Vec<_>>().join(": "))
            .collect();
        Err(AwsError::new(
            ACTION,
            ErrorKind::Rejected,
            "",
            format!("ECS started no task: {}", why.join("; ")),
        ))
    }

    async fn describe_task(&self, cluster: &str, task: &str, container: &str) -> Result<TaskState, AwsError> {
        const ACTION: &str = "ecs:DescribeTasks";
        let output = self
            .0
            .describe_tasks()
            .cluster(cluster)
            .tasks(task)
            .send()
            .await
            .map_err(|e| from_sdk(ACTION, e))?;
        let found = output.tasks().iter().find(|t| t.task_arn() == Some(task)).ok_or_else(|| {
            AwsError::not_found(ACTION, format!("task {task} not found in cluster {cluster:?}"))
        })?;
        let ran = found.containers().iter().find(|c| c.name() == Some(container));
        Ok(TaskState {
            last_status: found.last_status().unwrap_or_default().to_string(),
            stop_code: found.stop_code().map(|code| code.as_str().to_string()),
            stopped_reason: found.stopped_reason().map(str::to_string),
            exit_code: ran.and_then(|c| c.exit_code()),
            container_reason: ran.and_then(|c| c.reason()).map(str::to_string),
        })
    }
}

/// Which task definition a one-off task runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Definition {
    /// The one the service runs now (`ledger run`).
    Service,
    /// A family (its latest ACTIVE revision), `family:revision` or an ARN, as registered
    /// (`verify`).
    Registered(String),
    /// A new revision of `family` (the service's own task definition when `None`) with the
    /// container running `image`, tagged with deployment `deployment` (`before`).
    Revised { family: Option<String>, image: String, deployment: String },
}

/// One task to run, to its end.
#[derive(Clone, Debug)]
pub struct OneOff {
    pub cluster: String,
    /// The ECS service whose placement (launch type or capacity providers, network) it takes.
    pub ecs_service: String,
    pub definition: Definition,
    /// The container whose command is replaced; `None`: the definition's first container.
    pub container: Option<String>,
    pub command: Vec<String>,
    /// How long to wait for it to stop.
    pub timeout: Duration,
    /// The longest wait between two DescribeTasks (see [`PollSchedule`]).
    pub poll_interval: Duration,
    /// RunTask's idempotency token: unique per task run.
    pub client_token: String,
    /// ECS's `startedBy` (letters, digits, `-`, `/`, `_`; at most 128 are sent), e.g.
    /// `ledger/<deployment>`.
    pub started_by: String,
}

/// Where a task's logs are: the awslogs group and stream of its container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPlace {
    pub group: String,
    /// `<prefix>/<container>/<task-id>`; `None` without `awslogs-stream-prefix` (ECS names the
    /// stream after the container's id then) or before the task started.
    pub stream: Option<String>,
    pub region: Option<String>,
}

/// How a one-off task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskEnding {
    pub succeeded: bool,
    /// The task definition it ran, once found or registered.
    pub task_definition: Option<String>,
    /// The container the command ran in.
    pub container: Option<String>,
    /// The ECS task, once started.
    pub task: Option<String>,
    pub exit_code: Option<i32>,
    /// What happened, in a line: the exit code and ECS's reasons, or why it did not run.
    pub detail: String,
    /// `None`: the container has no awslogs configuration (or the definition was not found).
    pub logs: Option<LogPlace>,
}

impl TaskEnding {
    fn failed(detail: impl Into<String>) -> TaskEnding {
        TaskEnding {
            succeeded: false,
            task_definition: None,
            container: None,
            task: None,
            exit_code: None,
            detail: detail.into(),
            logs: None,
        }
    }

    /// One line for an outcome's detail or a progress line: what ended how, the task and its logs.
    pub fn summary(&self) -> String {
        let mut line = self.detail.clone();
        if let Some(task) = &self.task {
            line.push_str(&format!("; task {task}"));
        }
        if let Some(logs) = &self.logs {
            line.push_str(&format!("; logs: {}", logs.describe()));
        }
        line
    }
}

impl LogPlace {
    /// `group /ecs/api, stream ecs/api/<id>`.
    pub fn describe(&self) -> String {
        match &self.stream {
            Some(stream) => format!("group {}, stream {stream}", self.group),
            None => format!("group {}", self.group),
        }
    }
}

/// The stop code of a task whose essential container exited by itself.
const EXITED: &str = "EssentialContainerExited";

/// Runs `one_off` and waits until it stops or its timeout passes. `progress` hears each step;
/// `started` is told, once ECS started the task, how its run ends if the wait is given up here
/// (an interrupt drops this future): what to record then.
pub async fn run_one_off<E: Ecs + Tasks>(
    ecs: &E,
    backoff: &Backoff,
    one_off: &OneOff,
    progress: &dyn Fn(&str),
    started: &dyn Fn(&TaskEnding),
) -> TaskEnding {
    let cluster = one_off.cluster.as_str();
    let placement = match backoff.retry(async || ecs.placement(cluster, &one_off.ecs_service).await).await {
        Ok(placement) => placement,
        Err(error) => return TaskEnding::failed(format!("did not run: {error}")),
    };
    let definition = match task_definition(ecs, backoff, one_off, &placement).await {
        Ok(definition) => definition,
        Err(why) => return TaskEnding::failed(format!("did not run: {why}")),
    };
    let arn = definition.arn().to_string();
    let container = match &one_off.container {
        Some(name) if definition.containers().iter().any(|c| c.name() == Some(name)) => name.clone(),
        Some(name) => {
            let names: Vec<&str> = definition.containers().iter().filter_map(|c| c.name()).collect();
            let mut ending = TaskEnding::failed(format!(
                "did not run: task definition {} has no container {name:?} (it has: {})",
                short_arn(&arn),
                names.join(", ")
            ));
            ending.task_definition = Some(arn);
            return ending;
        }
        None => match definition.containers().first().and_then(|c| c.name()) {
            Some(name) => name.to_string(),
            None => {
                let mut ending = TaskEnding::failed(format!(
                    "did not run: task definition {} has no container",
                    short_arn(&arn)
                ));
                ending.task_definition = Some(arn);
                return ending;
            }
        },
    };
    let mut ending = TaskEnding {
        succeeded: false,
        task_definition: Some(arn.clone()),
        container: Some(container.clone()),
        task: None,
        exit_code: None,
        detail: String::new(),
        logs: log_place(&definition, &container),
    };
    let started_by: String = one_off.started_by.chars().take(128).collect();
    let request = TaskRequest {
        cluster,
        task_definition: &arn,
        container: &container,
        command: &one_off.command,
        placement: &placement,
        client_token: &one_off.client_token,
        started_by: &started_by,
    };
    let task = match backoff.retry(async || ecs.run_task(&request).await).await {
        Ok(task) => task,
        Err(error) => {
            ending.detail = format!("did not start: {error}");
            return ending;
        }
    };
    progress(&format!("started task {} ({})", task_id(&task), short_arn(&arn)));
    if let Some(logs) = &mut ending.logs {
        logs.stream = logs.stream.take().map(|prefix| format!("{prefix}/{container}/{}", task_id(&task)));
    }
    ending.task = Some(task.clone());
    let stop_it = format!("`aws ecs stop-task --cluster {cluster} --task {task}` stops it");
    started(&TaskEnding {
        detail: format!("ledger stopped waiting (interrupted) while the task ran; it goes on ({stop_it})"),
        ..ending.clone()
    });
    let deadline = Instant::now() + one_off.timeout;
    let mut schedule = PollSchedule::new(one_off.poll_interval);
    let mut seen = String::new();
    loop {
        let now = Instant::now();
        if now >= deadline {
            ending.detail = format!(
                "still {} after {}: ledger stopped waiting, the task goes on ({stop_it})",
                if seen.is_empty() { "starting" } else { &seen },
                humanize(one_off.timeout)
            );
            return ending;
        }
        let wait = schedule.next().unwrap_or(one_off.poll_interval);
        tokio::time::sleep(wait.min(deadline - now)).await;
        let state = match backoff.retry(async || ecs.describe_task(cluster, &task, &container).await).await {
            Ok(state) => state,
            Err(error) => {
                ending.detail = format!("lost sight of the task: {error}");
                return ending;
            }
        };
        if state.last_status == "STOPPED" {
            ending.exit_code = state.exit_code;
            ending.succeeded =
                state.exit_code == Some(0) && state.stop_code.as_deref().is_none_or(|c| c == EXITED);
            ending.detail = judged(&state);
            return ending;
        }
        if state.last_status != seen {
            progress(&format!("task {} is {}", task_id(&task), state.last_status));
            seen = state.last_status;
        }
    }
}

/// A stopped task's ending in words: `exited 0`, `exited 1 (…)`, `stopped without an exit code: …`.
fn judged(state: &TaskState) -> String {
    // A container that exited by itself needs no more words than its exit code.
    let exited = state.stop_code.as_deref() == Some(EXITED);
    let reasons: Vec<&str> = [
        state.stop_code.as_deref().filter(|_| !exited),
        state.stopped_reason.as_deref().filter(|_| !exited || state.exit_code.is_none()),
        state.container_reason.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|reason| !reason.is_empty())
    .collect();
    let reasons = if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join("; ")) };
    match state.exit_code {
        Some(code) => format!("exited {code}{reasons}"),
        None => format!("stopped without an exit code{reasons}"),
    }
}

/// The task's id: the last part of its ARN.
pub fn task_id(task: &str) -> &str {
    task.rsplit_once('/').map_or(task, |(_, id)| id)
}

/// The task definition `one_off` runs, registered first when it is a new revision.
async fn task_definition<E: Ecs>(
    ecs: &E,
    backoff: &Backoff,
    one_off: &OneOff,
    placement: &Placement,
) -> Result<TaskDefinitionWithTags, String> {
    let describe = async |name: &str| {
        backoff.retry(async || ecs.describe_task_definition(name).await).await.map_err(|e| e.to_string())
    };
    match &one_off.definition {
        Definition::Service => describe(&placement.task_definition).await,
        Definition::Registered(name) => describe(name).await,
        Definition::Revised { family, image, deployment } => {
            let source = describe(family.as_deref().unwrap_or(&placement.task_definition)).await?;
            let container = one_off.container.as_deref().unwrap_or_default();
            let mut revised = revise(&source, container, image, deployment)?;
            let arn = backoff
                .retry(async || ecs.register_task_definition(&revised).await)
                .await
                .map_err(|e| e.to_string())?;
            revised.definition.task_definition_arn = Some(arn);
            Ok(revised)
        }
    }
}

/// Where container `container` of `definition` logs: its awslogs group, and the stream prefix
/// (completed into the stream's name once the task's id is known).
fn log_place(definition: &TaskDefinitionWithTags, container: &str) -> Option<LogPlace> {
    let container = definition.containers().iter().find(|c| c.name() == Some(container))?;
    let config = container.log_configuration()?;
    if *config.log_driver() != LogDriver::Awslogs {
        return None;
    }
    let options = config.options()?;
    Some(LogPlace {
        group: options.get("awslogs-group")?.clone(),
        stream: options.get("awslogs-stream-prefix").cloned(),
        region: options.get("awslogs-region").cloned(),
    })
}

/// What a deployment runs besides its rollouts, at `rollout::apply`'s two hook points.
pub trait Hooks {
    /// Before any service is updated: `Err(why)` stops the deployment, nothing changed.
    fn before(&self) -> impl Future<Output = Result<(), String>>;

    /// Once every service succeeded, before SSM is written: `Err(why)` fails the deployment
    /// (and with `--rollback-on-failure` every service is put back).
    fn verify(&self) -> impl Future<Output = Result<(), String>>;
}

/// A deployment with no task to run.
pub struct NoHooks;

impl Hooks for NoHooks {
    async fn before(&self) -> Result<(), String> {
        Ok(())
    }

    async fn verify(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Why a deployment ran a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A service's `before` task (a migration), with the release's image.
    Before,
    /// The environment's `verify` task.
    Verify,
}

/// A task a deployment ran, and how it ended.
#[derive(Clone, Debug)]
pub struct Ran {
    pub purpose: Purpose,
    /// The service it ran for (`before`), or whose placement it took (`verify`).
    pub service: String,
    pub command: Vec<String>,
    pub ending: TaskEnding,
}

/// The tasks of one deployment: each service's `before`, run in order until one fails, and the
/// environment's `verify`. Every task run is kept in [`DeploymentTasks::ran`], to be recorded.
pub struct DeploymentTasks<'a, E> {
    pub ecs: &'a E,
    pub backoff: Backoff,
    /// `(service, task)`: the migrations, in order.
    pub before: Vec<(String, OneOff)>,
    /// `(service whose placement it takes, task)`.
    pub verify: Option<(String, OneOff)>,
    pub ran: RefCell<Vec<Ran>>,
    /// The task started and not yet ended: recorded as given up on if the rollout is dropped.
    pub running: RefCell<Option<Ran>>,
    /// Where each step is told, by service.
    pub progress: &'a dyn Fn(&str, &str),
}

impl<E> DeploymentTasks<'_, E> {
    /// Every task run so far, in order: those that ended, then the one still running if the
    /// rollout was given up while it ran.
    pub fn take_runs(&self) -> Vec<Ran> {
        let mut runs = self.ran.take();
        runs.extend(self.running.take());
        runs
    }
}

impl<E: Ecs + Tasks> DeploymentTasks<'_, E> {
    async fn run(&self, purpose: Purpose, service: &str, one_off: &OneOff) -> Result<(), String> {
        let progress = |line: &str| (self.progress)(service, line);
        let what = match purpose {
            Purpose::Before => "before",
            Purpose::Verify => "verify",
        };
        progress(&format!("{what}: running {}", one_off.command.join(" ")));
        let started = |ending: &TaskEnding| {
            let command = one_off.command.clone();
            let ran = Ran { purpose, service: service.to_string(), command, ending: ending.clone() };
            *self.running.borrow_mut() = Some(ran);
        };
        let ending = run_one_off(self.ecs, &self.backoff, one_off, &progress, &started).await;
        self.running.take();
        progress(&format!("{what}: {}", ending.summary()));
        let result = if ending.succeeded {
            Ok(())
        } else {
            let name = match purpose {
                Purpose::Before => format!("the `before` task of {service}"),
                Purpose::Verify => "the environment's `verify` task".to_string(),
            };
            Err(format!("{name} failed: {}", ending.summary()))
        };
        self.ran.borrow_mut().push(Ran {
            purpose,
            service: service.to_string(),
            command: one_off.command.clone(),
            ending,
        });
        result
    }
}

impl<E: Ecs + Tasks> Hooks for DeploymentTasks<'_, E> {
    async fn before(&self) -> Result<(), String> {
        for (service, one_off) in &self.before {
            self.run(Purpose::Before, service, one_off).await?;
        }
        Ok(())
    }

    async fn verify(&self) -> Result<(), String> {
        match &self.verify {
            Some((service, one_off)) => self.run(Purpose::Verify, service, one_off).await,
            None => Ok(()),
        }
    }
}
