//! A scripted, in-process ECS and SSM behind the same traits as the real clients: faults that
//! are awkward to cause over the wire (throttling, 5xx, AccessDenied, rollouts that fail, are
//! rolled back by the circuit breaker or never end), and a count of every call.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerDefinition, LaunchType, LogConfiguration, LogDriver,
    NetworkConfiguration, TaskDefinition,
};

use tokio::time::Instant;

use crate::ecs::{
    DESCRIBE_SERVICES_MAX, Described, Ecs, RolloutState, RolloutView, ServiceView, TaskDefinitionWithTags,
    service_not_found,
};
use crate::error::{AwsError, ErrorKind};
use crate::ssm::Parameters;
use crate::task::{Placement, TaskRequest, TaskState, Tasks};

/// How a service's next rollout ends once it has been looked at twice. A scripted failure
/// applies once: the rollout after it completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rollout {
    Complete,
    /// Completes once this long has passed since the update (on tokio's clock), however often
    /// it is looked at.
    CompleteAfter(Duration),
    Fail,
    /// Fails, and ECS puts the previous revision back.
    CircuitBreaker,
    Never,
}

/// The next `times` calls of `action` fail with `kind`.
struct Fault {
    action: &'static str,
    kind: ErrorKind,
    times: u32,
}

struct FakeService {
    task_definition: String,
    /// The revision of the last rollout that completed, where the circuit breaker returns.
    steady: String,
    deployments: Vec<RolloutView>,
    events: Vec<String>,
    rollout: Rollout,
    polls: u32,
    /// When the service was last updated.
    updated_at: Instant,
}

/// How a one-off task of a family ends (see [`FakeAws::script_task`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskScript {
    /// DescribeTasks sees it running this many times, then STOPPED; `u32::MAX`: never stops.
    pub polls: u32,
    pub exit_code: Option<i32>,
    pub stop_code: &'static str,
    pub stopped_reason: String,
}

impl TaskScript {
    /// Its container exits with `code` after two looks.
    pub fn exits(code: i32) -> TaskScript {
        TaskScript {
            polls: POLLS_TO_END,
            exit_code: Some(code),
            stop_code: "EssentialContainerExited",
            stopped_reason: "Essential container in task exited".into(),
        }
    }
}

/// A task the fake started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeTask {
    pub cluster: String,
    pub arn: String,
    pub task_definition: String,
    pub container: String,
    pub command: Vec<String>,
    pub client_token: String,
    pub started_by: String,
    script: TaskScript,
    polls: u32,
}

#[derive(Default)]
struct World {
    clusters: Vec<String>,
    services: BTreeMap<(String, String), FakeService>,
    definitions: BTreeMap<String, TaskDefinitionWithTags>,
    /// Deregistered revisions: still described, but no service can be pointed at them.
    inactive: Vec<String>,
    parameters: BTreeMap<String, Vec<String>>,
    faults: Vec<Fault>,
    calls: BTreeMap<&'static str, usize>,
    next_id: u64,
    /// How the tasks of a family end; any other: [`TaskScript::exits`]`(0)`.
    task_scripts: BTreeMap<String, TaskScript>,
    tasks: Vec<FakeTask>,
}

#[derive(Default)]
pub struct FakeAws {
    world: RefCell<World>,
}

/// Describes a rollout as in progress this many times before it ends.
const POLLS_TO_END: u32 = 2;

impl FakeAws {
    pub fn new(clusters: &[&str]) -> FakeAws {
        let fake = FakeAws::default();
        fake.world.borrow_mut().clusters = clusters.iter().map(|c| c.to_string()).collect();
        fake
    }

    /// An ECS service running one container `name` with `image`, its rollout done.
    pub fn add_service(&self, cluster: &str, name: &str, image: &str) {
        let logs = LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", format!("/ecs/{name}"))
            .options("awslogs-stream-prefix", "ecs")
            .build()
            .expect("a log driver is given");
        let container =
            ContainerDefinition::builder().name(name).image(image).log_configuration(logs).build();
        let definition = TaskDefinition::builder().family(name).container_definitions(container).build();
        let arn = self.store_definition(TaskDefinitionWithTags {
            definition,
            tags: Vec::new(),
            uncopied: Vec::new(),
        });
        let mut world = self.world.borrow_mut();
        let id = world.new_deployment_id();
        let service = FakeService {
            task_definition: arn.clone(),
            steady: arn.clone(),
            deployments: vec![rollout_view(id, arn, RolloutState::Completed)],
            events: vec![format!("(service {name}) has reached a steady state.")],
            rollout: Rollout::Complete,
            polls: 0,
            updated_at: Instant::now(),
        };
        world.services.insert((cluster.to_string(), name.to_string()), service);
    }

    /// The service is deleted: DescribeServices answers MISSING for it.
    pub fn remove_service(&self, cluster: &str, name: &str) {
        self.world.borrow_mut().services.remove(&(cluster.to_string(), name.to_string()));
    }

    pub fn set_rollout(&self, cluster: &str, name: &str, rollout: Rollout) {
        self.world.borrow_mut().service_mut(cluster, name).rollout = rollout;
    }

    /// Registers a task definition of its own (a migration or verification family), with one
    /// container `container`; its ARN.
    pub fn add_task_definition(&self, family: &str, container: &str, image: &str) -> String {
        let container = ContainerDefinition::builder().name(container).image(image).build();
        let definition = TaskDefinition::builder().family(family).container_definitions(container).build();
        self.store_definition(TaskDefinitionWithTags { definition, tags: Vec::new(), uncopied: Vec::new() })
    }

    /// The tasks of `family` end as `script` says.
    pub fn script_task(&self, family: &str, script: TaskScript) {
        self.world.borrow_mut().task_scripts.insert(family.to_string(), script);
    }

    /// Every task started, in order.
    pub fn tasks(&self) -> Vec<FakeTask> {
        self.world.borrow().tasks.clone()
    }

    /// The image of `container` in task definition `arn`.
    pub fn image_in(&self, arn: &str, container: &str) -> String {
        self.world.borrow().definitions[arn].image_of(container).unwrap_or_default().to_string()
    }

    pub fn deregister(&self, arn: &str) {
        self.world.borrow_mut().inactive.push(arn.to_string());
    }

    pub fn fail(&self, action: &'static str, kind: ErrorKind, times: u32) {
        self.world.borrow_mut().faults.push(Fault { action, kind, times });
    }

    /// The image of the service's container, in the revision its PRIMARY deployment runs.
    pub fn image_running(&self, cluster: &str, name: &str) -> String {
        let world = self.world.borrow();
        let service = &world.services[&(cluster.to_string(), name.to_string())];
        let primary =
            service.deployments.iter().find(|d| d.status == "PRIMARY").expect("a PRIMARY deployment");
        world.definitions[&primary.task_definition].image_of(name).unwrap_or_default().to_string()
    }

    /// Every value written to parameter `name`, oldest first.
    pub fn parameter_history(&self, name: &str) -> Vec<String> {
        self.world.borrow().parameters.get(name).cloned().unwrap_or_default()
    }

    pub fn calls(&self, action: &str) -> usize {
        self.world.borrow().calls.get(action).copied().unwrap_or(0)
    }

    pub fn total_calls(&self) -> usize {
        self.world.borrow().calls.values().sum()
    }

    fn store_definition(&self, mut source: TaskDefinitionWithTags) -> String {
        let mut world = self.world.borrow_mut();
        let family = source.definition.family.clone().unwrap_or_default();
        let revision =
            world.definitions.values().filter(|d| d.definition.family.as_ref() == Some(&family)).count()
                as i32
                + 1;
        let arn = format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{family}:{revision}");
        source.definition.task_definition_arn = Some(arn.clone());
        source.definition.revision = revision;
        world.definitions.insert(arn.clone(), source);
        arn
    }

    /// Counts the call, and fails it if a fault is scripted for it.
    fn call(&self, action: &'static str) -> Result<(), AwsError> {
        let mut world = self.world.borrow_mut();
        *world.calls.entry(action).or_default() += 1;
        let Some(fault) = world.faults.iter_mut().find(|f| f.action == action && f.times > 0) else {
            return Ok(());
        };
        fault.times -= 1;
        let (status, code) = match fault.kind {
            ErrorKind::Throttled => (400, "ThrottlingException"),
            ErrorKind::ServerError => (500, "ServerException"),
            ErrorKind::AccessDenied => (400, "AccessDeniedException"),
            ErrorKind::NotFound => (400, "ClusterNotFoundException"),
            ErrorKind::Rejected => (400, "ClientException"),
            ErrorKind::Transport => {
                return Err(AwsError::new(action, ErrorKind::Transport, "", "connection refused"));
            }
        };
        Err(AwsError::from_response(action, status, code, "scripted fault"))
    }

    fn find_service(&self, action: &'static str, cluster: &str, name: &str) -> Result<(), AwsError> {
        let world = self.world.borrow();
        if !world.clusters.iter().any(|c| c == cluster) {
            return Err(AwsError::from_response(
                action,
                400,
                "ClusterNotFoundException",
                "Cluster not found.",
            ));
        }
        if !world.services.contains_key(&(cluster.to_string(), name.to_string())) {
            return Err(AwsError::not_found(
                action,
                format!("service {name:?} not found in cluster {cluster:?}"),
            ));
        }
        Ok(())
    }
}

impl World {
    fn service_mut(&mut self, cluster: &str, name: &str) -> &mut FakeService {
        self.services.get_mut(&(cluster.to_string(), name.to_string())).expect("a service the test added")
    }

    fn new_deployment_id(&mut self) -> String {
        self.next_id += 1;
        format!("ecs-svc/{:019}", self.next_id)
    }

    /// Moves a rollout on, as time passing would.
    fn advance(&mut self, cluster: &str, name: &str) {
        let key = (cluster.to_string(), name.to_string());
        let service = &self.services[&key];
        let Some(primary) = service.deployments.iter().position(|d| d.status == "PRIMARY") else { return };
        if service.deployments[primary].rollout_state != RolloutState::InProgress {
            return;
        }
        let rollout = service.rollout;
        let rollback_id = self.new_deployment_id();
        let service = self.services.get_mut(&key).expect("looked up above");
        service.polls += 1;
        let ended = match rollout {
            Rollout::Never => false,
            Rollout::CompleteAfter(duration) => service.updated_at.elapsed() >= duration,
            Rollout::Complete | Rollout::Fail | Rollout::CircuitBreaker => service.polls >= POLLS_TO_END,
        };
        if !ended {
            return;
        }
        let id = service.deployments[primary].id.clone();
        service.rollout = Rollout::Complete;
        match rollout {
            Rollout::Complete | Rollout::CompleteAfter(_) => {
                let mut done = service.deployments.remove(primary);
                done.rollout_state = RolloutState::Completed;
                done.running = done.desired;
                service.steady = done.task_definition.clone();
                service.deployments = vec![done];
                service.events.insert(0, format!("(service {name}) has reached a steady state."));
            }
            Rollout::Fail => {
                let failed = &mut service.deployments[primary];
                failed.rollout_state = RolloutState::Failed;
                failed.reason = "ECS deployment circuit breaker: tasks failed to start.".into();
                service
                    .events
                    .insert(0, format!("(service {name}) ({id}) deployment failed: tasks failed to start."));
            }
            Rollout::CircuitBreaker => {
                let failed = &mut service.deployments[primary];
                failed.rollout_state = RolloutState::Failed;
                failed.status = "ACTIVE".into();
                let steady = service.steady.clone();
                service.task_definition = steady.clone();
                service
                    .deployments
                    .insert(0, rollout_view(rollback_id.clone(), steady, RolloutState::Completed));
                service
                    .events
                    .insert(0, format!("(service {name}) ({id}) deployment failed: tasks failed to start."));
                service
                    .events
                    .insert(0, format!("(service {name}) rolling back to deployment {rollback_id}."));
            }
            Rollout::Never => {}
        }
    }
}

fn rollout_view(id: String, task_definition: String, rollout_state: RolloutState) -> RolloutView {
    let running = if rollout_state == RolloutState::Completed { 2 } else { 0 };
    RolloutView {
        id,
        status: "PRIMARY".into(),
        task_definition,
        rollout_state,
        reason: String::new(),
        running,
        desired: 2,
    }
}

fn view(service: &FakeService) -> ServiceView {
    ServiceView {
        status: "ACTIVE".into(),
        task_definition: service.task_definition.clone(),
        deployments: service.deployments.clone(),
        events: service.events.clone(),
    }
}

impl Ecs for FakeAws {
    async fn describe_services(&self, cluster: &str, names: &[&str]) -> Result<Vec<Described>, AwsError> {
        const ACTION: &str = "ecs:DescribeServices";
        self.call(ACTION)?;
        if names.is_empty() || names.len() > DESCRIBE_SERVICES_MAX {
            return Err(AwsError::from_response(
                ACTION,
                400,
                "InvalidParameterException",
                "services can have from 1 to 10 items.",
            ));
        }
        let mut described = Vec::new();
        for name in names {
            match self.find_service(ACTION, cluster, name) {
                Ok(()) => {
                    let mut world = self.world.borrow_mut();
                    world.advance(cluster, name);
                    described.push(Ok(view(world.service_mut(cluster, name))));
                }
                Err(error) if error.is_cluster_not_found() => return Err(error),
                Err(_) => described.push(Err(service_not_found(cluster, name, Some("MISSING")))),
            }
        }
        Ok(described)
    }

    async fn describe_task_definition(&self, arn: &str) -> Result<TaskDefinitionWithTags, AwsError> {
        const ACTION: &str = "ecs:DescribeTaskDefinition";
        self.call(ACTION)?;
        let world = self.world.borrow();
        // As ECS: an ARN, `family:revision`, or a family (its latest revision).
        let found = world.definitions.get(arn).cloned().or_else(|| {
            let named = |d: &&TaskDefinitionWithTags| {
                let family = d.definition.family.as_deref().unwrap_or_default();
                family == arn || format!("{family}:{}", d.definition.revision) == arn
            };
            world.definitions.values().filter(named).max_by_key(|d| d.definition.revision).cloned()
        });
        found.ok_or_else(|| {
            AwsError::from_response(ACTION, 400, "ClientException", "Unable to describe task definition.")
        })
    }

    async fn register_task_definition(
        &self,
        definition: &TaskDefinitionWithTags,
    ) -> Result<String, AwsError> {
        self.call("ecs:RegisterTaskDefinition")?;
        Ok(self.store_definition(definition.clone()))
    }

    async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: &str,
    ) -> Result<ServiceView, AwsError> {
        const ACTION: &str = "ecs:UpdateService";
        self.call(ACTION)?;
        self.find_service(ACTION, cluster, name)?;
        let mut world = self.world.borrow_mut();
        if !world.definitions.contains_key(task_definition) {
            return Err(AwsError::from_response(ACTION, 400, "ClientException", "TaskDefinition not found."));
        }
        if world.inactive.iter().any(|arn| arn == task_definition) {
            return Err(AwsError::from_response(
                ACTION,
                400,
                "ClientException",
                "TaskDefinition is inactive",
            ));
        }
        let id = world.new_deployment_id();
        let service = world.service_mut(cluster, name);
        for deployment in &mut service.deployments {
            deployment.status = "ACTIVE".into();
        }
        service
            .deployments
            .insert(0, rollout_view(id, task_definition.to_string(), RolloutState::InProgress));
        service.task_definition = task_definition.to_string();
        service.polls = 0;
        service.updated_at = Instant::now();
        Ok(view(service))
    }
}

impl Parameters for FakeAws {
    async fn put(&self, name: &str, value: &str) -> Result<i64, AwsError> {
        self.call("ssm:PutParameter")?;
        let mut world = self.world.borrow_mut();
        let history = world.parameters.entry(name.to_string()).or_default();
        history.push(value.to_string());
        Ok(history.len() as i64)
    }

    async fn get(&self, name: &str) -> Result<Option<String>, AwsError> {
        self.call("ssm:GetParameter")?;
        Ok(self.world.borrow().parameters.get(name).and_then(|h| h.last().cloned()))
    }
}

impl Tasks for FakeAws {
    async fn placement(&self, cluster: &str, service: &str) -> Result<Placement, AwsError> {
        const ACTION: &str = "ecs:DescribeServices";
        self.call(ACTION)?;
        self.find_service(ACTION, cluster, service)?;
        let world = self.world.borrow();
        let network = AwsVpcConfiguration::builder()
            .subnets("subnet-0123456789abcdef0")
            .assign_public_ip(AssignPublicIp::Disabled)
            .build()
            .expect("subnets are given");
        Ok(Placement {
            task_definition: world.services[&(cluster.to_string(), service.to_string())]
                .task_definition
                .clone(),
            launch_type: Some(LaunchType::Fargate),
            capacity_provider_strategy: Vec::new(),
            network_configuration: Some(
                NetworkConfiguration::builder().awsvpc_configuration(network).build(),
            ),
            platform_version: None,
        })
    }

    async fn run_task(&self, request: &TaskRequest<'_>) -> Result<String, AwsError> {
        const ACTION: &str = "ecs:RunTask";
        self.call(ACTION)?;
        let mut world = self.world.borrow_mut();
        if !world.clusters.iter().any(|c| c == request.cluster) {
            return Err(AwsError::from_response(
                ACTION,
                400,
                "ClusterNotFoundException",
                "Cluster not found.",
            ));
        }
        if let Some(started) = world.tasks.iter().find(|t| t.client_token == request.client_token) {
            return Ok(started.arn.clone());
        }
        let Some(definition) = world.definitions.get(request.task_definition) else {
            return Err(AwsError::from_response(ACTION, 400, "ClientException", "TaskDefinition not found."));
        };
        if definition.image_of(request.container).is_none() {
            return Err(AwsError::from_response(
                ACTION,
                400,
                "InvalidParameterException",
                "Override for container named x is not a container in the TaskDefinition.",
            ));
        }
        let family = definition.definition.family.clone().unwrap_or_default();
        let script = world.task_scripts.get(&family).cloned().unwrap_or_else(|| TaskScript::exits(0));
        world.next_id += 1;
        let arn =
            format!("arn:aws:ecs:eu-west-1:123456789012:task/{}/{:032x}", request.cluster, world.next_id);
        world.tasks.push(FakeTask {
            cluster: request.cluster.to_string(),
            arn: arn.clone(),
            task_definition: request.task_definition.to_string(),
            container: request.container.to_string(),
            command: request.command.to_vec(),
            client_token: request.client_token.to_string(),
            started_by: request.started_by.to_string(),
            script,
            polls: 0,
        });
        Ok(arn)
    }

    async fn describe_task(&self, cluster: &str, task: &str, container: &str) -> Result<TaskState, AwsError> {
        const ACTION: &str = "ecs:DescribeTasks";
        self.call(ACTION)?;
        let mut world = self.world.borrow_mut();
        let Some(found) = world.tasks.iter_mut().find(|t| t.arn == task && t.cluster == cluster) else {
            return Err(AwsError::not_found(ACTION, format!("task {task} not found")));
        };
        found.polls = found.polls.saturating_add(1);
        if found.polls <= found.script.polls {
            return Ok(TaskState { last_status: "RUNNING".into(), ..TaskState::default() });
        }
        let ran = found.container == container;
        Ok(TaskState {
            last_status: "STOPPED".into(),
            stop_code: Some(found.script.stop_code.to_string()),
            stopped_reason: Some(found.script.stopped_reason.clone()),
            exit_code: found.script.exit_code.filter(|_| ran),
            container_reason: None,
        })
    }
}
