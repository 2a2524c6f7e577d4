//! A scripted, in-process ECS, CodeDeploy and SSM behind the same traits as the real clients:
//! faults that are awkward to cause over the wire (throttling, 5xx, AccessDenied, rollouts that
//! fail, are rolled back by the circuit breaker, an alarm or a lifecycle hook, are stopped or
//! never end; CodeDeploy deployments that fail or are rolled back), ECS's service deployments
//! of each rollout, and a count of every call.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerDefinition, LaunchType, LogConfiguration, LogDriver,
    NetworkConfiguration, TaskDefinition,
};

use tokio::time::Instant;

use crate::codedeploy::{
    BATCH_GET_DEPLOYMENTS, BATCH_GET_DEPLOYMENTS_MAX, CREATE_DEPLOYMENT, CodeDeploy, CodeDeployView,
    DeploymentGroup, DescribedCodeDeployment, codedeploy_not_found,
};
use crate::ecs::{
    DESCRIBE_SERVICE_DEPLOYMENTS_MAX, DESCRIBE_SERVICES_MAX, Described, DescribedDeployment, Ecs,
    RolloutState, RolloutView, ServiceDeploymentBrief, ServiceDeploymentView, ServiceView, Strategy,
    TaskDefinitionWithTags, service_deployment_not_found, service_not_found,
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
    /// The circuit breaker stops it (service deployment STOPPED).
    Fail,
    /// Fails, and ECS puts the previous revision back (ROLLBACK_SUCCESSFUL).
    CircuitBreaker,
    /// Deployment alarm `name` fires during the bake time: ROLLBACK_IN_PROGRESS one look
    /// before ROLLBACK_SUCCESSFUL, the previous revision back.
    Alarm(&'static str),
    /// The lifecycle hook of this stage fails: rolled back as for an alarm.
    HookFails(&'static str),
    /// A StopServiceDeployment request: STOP_REQUESTED one look before STOPPED.
    Stop,
    /// The circuit breaker trips and ECS's rollback fails too (ROLLBACK_FAILED).
    RollbackFails,
    Never,
}

impl Rollout {
    /// Ends through an intermediate service-deployment status, one look later.
    fn ends_in_two_steps(self) -> bool {
        matches!(self, Rollout::Alarm(_) | Rollout::HookFails(_) | Rollout::Stop)
    }
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
    strategy: Strategy,
    /// The service deployment of the rollout in progress, until it ends.
    current: Option<String>,
    /// The service's latest service deployment (DescribeServices' `currentServiceDeployment`).
    latest: Option<String>,
    /// ECS does not list the next update's service deployment (yet).
    unlisted: bool,
    /// The containers its load balancers send traffic to, and on which port.
    load_balancers: Vec<(String, i32)>,
    /// How its next CodeDeploy deployment ends.
    codedeploy: CodeDeployEnd,
}

/// How a service's next CodeDeploy deployment ends once it has been looked at twice. A scripted
/// failure applies once: the deployment after it succeeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeDeployEnd {
    Succeed,
    /// Failed, with an error code and message; the service keeps its revision.
    Fail,
    /// Failed on an alarm, and CodeDeploy rolled back: the service keeps its revision.
    RolledBack,
    /// Waits in `Ready` for the traffic to be rerouted by hand, for ever.
    Ready,
}

/// A CodeDeploy deployment, and the service and revision it deploys.
struct FakeCodeDeploy {
    service: (String, String),
    task_definition: String,
    end: CodeDeployEnd,
    polls: u32,
    view: CodeDeployView,
}

/// A service deployment, and whose.
struct FakeRecord {
    service: (String, String),
    created_at: SystemTime,
    view: ServiceDeploymentView,
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
    records: BTreeMap<String, FakeRecord>,
    /// How the tasks of a family end; any other: [`TaskScript::exits`]`(0)`.
    task_scripts: BTreeMap<String, TaskScript>,
    tasks: Vec<FakeTask>,
    /// CodeDeploy deployment groups, and the ECS service each deploys.
    groups: BTreeMap<(String, String), (String, String)>,
    codedeploys: BTreeMap<String, FakeCodeDeploy>,
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
            json: Default::default(),
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
            strategy: Strategy::default(),
            current: None,
            latest: None,
            unlisted: false,
            load_balancers: Vec::new(),
            codedeploy: CodeDeployEnd::Succeed,
        };
        world.services.insert((cluster.to_string(), name.to_string()), service);
        // As ECS does, the service's creation is a service deployment of its own.
        world.start_record(cluster, name);
        let created = world.service_mut(cluster, name).current.take().expect("just started");
        let view = &mut world.records.get_mut(&created).expect("just started").view;
        (view.status, view.running) = ("SUCCESSFUL".into(), 2);
    }

    /// The service is deleted: DescribeServices answers MISSING for it.
    pub fn remove_service(&self, cluster: &str, name: &str) {
        self.world.borrow_mut().services.remove(&(cluster.to_string(), name.to_string()));
    }

    pub fn set_rollout(&self, cluster: &str, name: &str, rollout: Rollout) {
        self.world.borrow_mut().service_mut(cluster, name).rollout = rollout;
    }

    /// The service's next update starts no service deployment ECS lists.
    pub fn unlist_next_service_deployment(&self, cluster: &str, name: &str) {
        self.world.borrow_mut().service_mut(cluster, name).unlisted = true;
    }

    /// The service is deployed by CodeDeploy (deployment controller CODE_DEPLOY), through
    /// deployment group `group`, its load balancer sending traffic to its container on port 8080.
    pub fn deploy_by_codedeploy(&self, cluster: &str, name: &str, group: &DeploymentGroup) {
        let mut world = self.world.borrow_mut();
        let key = (group.application.clone(), group.deployment_group.clone());
        world.groups.insert(key, (cluster.to_string(), name.to_string()));
        let service = world.service_mut(cluster, name);
        service.strategy = Strategy { controller: "CODE_DEPLOY".into(), ..Strategy::default() };
        service.load_balancers = vec![(name.to_string(), 8080)];
    }

    pub fn set_codedeploy_end(&self, cluster: &str, name: &str, end: CodeDeployEnd) {
        self.world.borrow_mut().service_mut(cluster, name).codedeploy = end;
    }

    /// Every CodeDeploy deployment started, oldest first: its id and the revision it deploys.
    pub fn codedeploy_deployments(&self) -> Vec<(String, String)> {
        let world = self.world.borrow();
        let mut started: Vec<(&String, &FakeCodeDeploy)> = world.codedeploys.iter().collect();
        started.sort_by_key(|(id, _)| id[2..].parse::<u64>().unwrap_or(0));
        started.into_iter().map(|(id, d)| (id.clone(), d.task_definition.clone())).collect()
    }

    pub fn set_strategy(&self, cluster: &str, name: &str, strategy: Strategy) {
        self.world.borrow_mut().service_mut(cluster, name).strategy = strategy;
    }

    /// ECS's record of the service's latest deployment.
    pub fn latest_service_deployment(&self, cluster: &str, name: &str) -> Option<ServiceDeploymentView> {
        let world = self.world.borrow();
        let key = (cluster.to_string(), name.to_string());
        let latest = world.records.values().filter(|r| r.service == key).max_by_key(|r| r.created_at)?;
        Some(latest.view.clone())
    }

    /// Registers a task definition of its own (a migration or verification family), with one
    /// container `container`; its ARN.
    pub fn add_task_definition(&self, family: &str, container: &str, image: &str) -> String {
        let container = ContainerDefinition::builder().name(container).image(image).build();
        let definition = TaskDefinition::builder().family(family).container_definitions(container).build();
        self.store_definition(TaskDefinitionWithTags {
            definition,
            tags: Vec::new(),
            uncopied: Vec::new(),
            json: Default::default(),
        })
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
        let polls_to_end = if rollout.ends_in_two_steps() { POLLS_TO_END + 1 } else { POLLS_TO_END };
        let ended = match rollout {
            Rollout::Never => false,
            Rollout::CompleteAfter(duration) => service.updated_at.elapsed() >= duration,
            _ => service.polls >= polls_to_end,
        };
        // A rollout ECS keeps no record of (`unlist_next_service_deployment`) moves on alike.
        let mut unrecorded = ServiceDeploymentView::default();
        let view = match service.current.clone().and_then(|arn| self.records.get_mut(&arn)) {
            Some(record) => &mut record.view,
            None => &mut unrecorded,
        };
        if service.strategy.bakes() {
            view.lifecycle_stage = Some(if service.polls >= 1 { "BAKE_TIME" } else { "SCALE_UP" }.into());
        }
        if !ended {
            if rollout.ends_in_two_steps() && service.polls + 1 == polls_to_end {
                let (status, reason) = failure_of(rollout);
                let rolls_back = status == "ROLLBACK_SUCCESSFUL";
                view.status = if rolls_back { "ROLLBACK_IN_PROGRESS" } else { "STOP_REQUESTED" }.into();
                view.status_reason = reason;
            }
            return;
        }
        service.current = None;
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
                view.status = "SUCCESSFUL".into();
                view.running = view.requested;
            }
            Rollout::Fail | Rollout::Stop | Rollout::RollbackFails => {
                let failed = &mut service.deployments[primary];
                failed.rollout_state = RolloutState::Failed;
                failed.reason = "ECS deployment circuit breaker: tasks failed to start.".into();
                service
                    .events
                    .insert(0, format!("(service {name}) ({id}) deployment failed: tasks failed to start."));
                (view.status, view.status_reason) = failure_of(rollout);
                if rollout != Rollout::Stop {
                    view.circuit_breaker = Some((3, 3));
                }
            }
            Rollout::CircuitBreaker | Rollout::Alarm(_) | Rollout::HookFails(_) => {
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
                (view.status, view.status_reason) = failure_of(rollout);
                view.rollback_reason = Some(view.status_reason.clone());
                match rollout {
                    Rollout::CircuitBreaker => view.circuit_breaker = Some((3, 3)),
                    Rollout::Alarm(alarm) => view.triggered_alarms = vec![alarm.to_string()],
                    Rollout::HookFails(stage) => view.lifecycle_stage = Some(stage.to_string()),
                    _ => {}
                }
            }
            Rollout::Never => {}
        }
    }

    /// Starts the service deployment of a rollout of `cluster`/`name`.
    fn start_record(&mut self, cluster: &str, name: &str) {
        self.next_id += 1;
        let arn = format!(
            "arn:aws:ecs:eu-west-1:123456789012:service-deployment/{cluster}/{name}/{:019}",
            self.next_id
        );
        let key = (cluster.to_string(), name.to_string());
        let service = self.service_mut(cluster, name);
        service.current = Some(arn.clone());
        service.latest = Some(arn.clone());
        let view = ServiceDeploymentView {
            arn: arn.clone(),
            status: "IN_PROGRESS".into(),
            lifecycle_stage: service.strategy.bakes().then(|| "PRE_SCALE_UP".into()),
            requested: 2,
            ..ServiceDeploymentView::default()
        };
        self.records.insert(arn, FakeRecord { service: key, created_at: SystemTime::now(), view });
    }
}

/// The terminal status and reason a failing rollout leaves on its service deployment.
fn failure_of(rollout: Rollout) -> (String, String) {
    let (status, reason) = match rollout {
        Rollout::Fail => ("STOPPED", "ECS deployment circuit breaker: tasks failed to start.".into()),
        Rollout::CircuitBreaker => {
            ("ROLLBACK_SUCCESSFUL", "ECS deployment circuit breaker: tasks failed to start.".into())
        }
        Rollout::Alarm(alarm) => {
            ("ROLLBACK_SUCCESSFUL", format!("ECS deployment alarm {alarm} is in ALARM state."))
        }
        Rollout::HookFails(stage) => (
            "ROLLBACK_SUCCESSFUL",
            format!(
                "ECS deployment lifecycle hook arn:aws:lambda:eu-west-1:123456789012:function:smoke failed at lifecycle stage {stage}."
            ),
        ),
        Rollout::Stop => {
            ("STOPPED", "ECS deployment stopped: a StopServiceDeployment request stopped it.".into())
        }
        Rollout::RollbackFails => {
            ("ROLLBACK_FAILED", "ECS deployment circuit breaker: tasks failed to start.".into())
        }
        Rollout::Complete | Rollout::CompleteAfter(_) | Rollout::Never => ("SUCCESSFUL", String::new()),
    };
    (status.to_string(), reason)
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
        created_at: None,
    }
}

fn view(service: &FakeService) -> ServiceView {
    ServiceView {
        status: "ACTIVE".into(),
        task_definition: service.task_definition.clone(),
        deployments: service.deployments.clone(),
        events: service.events.clone(),
        strategy: service.strategy.clone(),
        current_service_deployment: service.latest.clone(),
        load_balancers: service.load_balancers.clone(),
    }
}

impl World {
    /// Moves CodeDeploy deployment `id` on, as one look at it after time passing would: it is
    /// `InProgress` for [`POLLS_TO_END`] looks, then ends as scripted; on success the service
    /// runs the AppSpec's revision.
    fn advance_codedeploy(&mut self, id: &str) {
        let deployment = self.codedeploys.get_mut(id).expect("a deployment the fake started");
        if deployment.view.is_terminal() || deployment.view.status == "Ready" {
            return;
        }
        deployment.polls += 1;
        if deployment.polls <= POLLS_TO_END {
            deployment.view.status = "InProgress".into();
            return;
        }
        let view = &mut deployment.view;
        match deployment.end {
            CodeDeployEnd::Succeed => view.status = "Succeeded".into(),
            CodeDeployEnd::Ready => view.status = "Ready".into(),
            CodeDeployEnd::Fail => {
                view.status = "Failed".into();
                view.error_code = Some("HEALTH_CONSTRAINTS".into());
                view.error_message = Some(
                    "The overall deployment failed because too many individual instances failed deployment"
                        .into(),
                );
            }
            CodeDeployEnd::RolledBack => {
                view.status = "Stopped".into();
                view.error_code = Some("ALARM_ACTIVE".into());
                view.error_message = Some("One or more alarms have been activated: api-5xx".into());
                view.rollback = Some(format!("Deployment {id} was rolled back: alarm api-5xx fired"));
            }
        }
        if deployment.end == CodeDeployEnd::Succeed {
            let (service, arn) = (deployment.service.clone(), deployment.task_definition.clone());
            let id = self.new_deployment_id();
            let service = self.service_mut(&service.0, &service.1);
            service.task_definition = arn.clone();
            service.deployments = vec![rollout_view(id, arn, RolloutState::Completed)];
        }
    }
}

impl CodeDeploy for FakeAws {
    async fn create_deployment(
        &self,
        group: &DeploymentGroup,
        appspec: &str,
        _description: &str,
    ) -> Result<String, AwsError> {
        self.call(CREATE_DEPLOYMENT)?;
        let mut world = self.world.borrow_mut();
        let key = (group.application.clone(), group.deployment_group.clone());
        let Some(service) = world.groups.get(&key).cloned() else {
            return Err(AwsError::from_response(
                CREATE_DEPLOYMENT,
                400,
                "DeploymentGroupDoesNotExistException",
                "No Deployment Group found",
            ));
        };
        let spec: serde_json::Value = serde_json::from_str(appspec).expect("the AppSpec is JSON");
        let properties = &spec["Resources"][0]["TargetService"]["Properties"];
        let task_definition = properties["TaskDefinition"].as_str().unwrap_or_default().to_string();
        let container = properties["LoadBalancerInfo"]["ContainerName"].as_str().unwrap_or_default();
        let port = properties["LoadBalancerInfo"]["ContainerPort"].as_i64().unwrap_or_default();
        let lb_known = world.services[&service]
            .load_balancers
            .iter()
            .any(|(c, p)| c == container && i64::from(*p) == port);
        if !world.definitions.contains_key(&task_definition) || !lb_known {
            return Err(AwsError::from_response(
                CREATE_DEPLOYMENT,
                400,
                "InvalidRevisionException",
                "bad AppSpec",
            ));
        }
        if world.codedeploys.values().any(|d| d.service == service && !d.view.is_terminal()) {
            return Err(AwsError::from_response(
                CREATE_DEPLOYMENT,
                400,
                "DeploymentLimitExceededException",
                "The deployment group already has an active deployment",
            ));
        }
        let end = std::mem::replace(
            &mut world.service_mut(&service.0, &service.1).codedeploy,
            CodeDeployEnd::Succeed,
        );
        let id = format!("d-{}", world.codedeploys.len() + 1);
        let view = CodeDeployView { id: id.clone(), status: "Created".into(), ..CodeDeployView::default() };
        world
            .codedeploys
            .insert(id.clone(), FakeCodeDeploy { service, task_definition, end, polls: 0, view });
        Ok(id)
    }

    async fn batch_get_deployments(&self, ids: &[&str]) -> Result<Vec<DescribedCodeDeployment>, AwsError> {
        self.call(BATCH_GET_DEPLOYMENTS)?;
        if ids.len() > BATCH_GET_DEPLOYMENTS_MAX {
            return Err(AwsError::from_response(
                BATCH_GET_DEPLOYMENTS,
                400,
                "BatchLimitExceededException",
                "The maximum number of names or IDs allowed for this request (25) was exceeded",
            ));
        }
        let mut world = self.world.borrow_mut();
        Ok(ids
            .iter()
            .map(|id| {
                if !world.codedeploys.contains_key(*id) {
                    return Err(codedeploy_not_found(id));
                }
                world.advance_codedeploy(id);
                Ok(world.codedeploys[*id].view.clone())
            })
            .collect())
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
        if std::mem::take(&mut service.unlisted) {
            return Ok(view(service));
        }
        world.start_record(cluster, name);
        Ok(view(world.service_mut(cluster, name)))
    }

    async fn list_service_deployments(
        &self,
        cluster: &str,
        service: &str,
        created_after: SystemTime,
    ) -> Result<Vec<ServiceDeploymentBrief>, AwsError> {
        const ACTION: &str = "ecs:ListServiceDeployments";
        self.call(ACTION)?;
        self.find_service(ACTION, cluster, service)?;
        let key = (cluster.to_string(), service.to_string());
        let world = self.world.borrow();
        let mut listed: Vec<&FakeRecord> =
            world.records.values().filter(|r| r.service == key && r.created_at >= created_after).collect();
        // Oldest first: the caller must not rely on ECS's order.
        listed.sort_by_key(|r| r.created_at);
        Ok(listed
            .into_iter()
            .map(|r| ServiceDeploymentBrief { arn: r.view.arn.clone(), created_at: Some(r.created_at) })
            .collect())
    }

    async fn describe_service_deployments(
        &self,
        arns: &[&str],
    ) -> Result<Vec<DescribedDeployment>, AwsError> {
        const ACTION: &str = "ecs:DescribeServiceDeployments";
        self.call(ACTION)?;
        if arns.is_empty() || arns.len() > DESCRIBE_SERVICE_DEPLOYMENTS_MAX {
            return Err(AwsError::from_response(
                ACTION,
                400,
                "InvalidParameterException",
                "serviceDeploymentArns must contain between 1 and 20 items.",
            ));
        }
        let mut world = self.world.borrow_mut();
        let mut described = Vec::new();
        for arn in arns {
            let Some(record) = world.records.get(*arn) else {
                described.push(Err(service_deployment_not_found(arn, Some("MISSING"))));
                continue;
            };
            let (cluster, name) = record.service.clone();
            if world.services.contains_key(&(cluster.clone(), name.clone())) {
                world.advance(&cluster, &name);
            }
            described.push(Ok(world.records[*arn].view.clone()));
        }
        Ok(described)
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
