//! The ECS calls an apply makes, behind a narrow trait so that tests can script faults, and
//! the real client behind it. Every call names its cluster and service: the account is never
//! scanned. Services are described in batches ([`describe_all`]): one DescribeServices call
//! per cluster per ten services. A rollout is followed by ECS's own record of it, its service
//! deployment (ListServiceDeployments, DescribeServiceDeployments), where ECS offers one.

use std::collections::BTreeMap;
use std::future::Future;

use std::time::SystemTime;

use serde_json::{Map, Value};

use aws_sdk_ecs::types::{
    CreatedAt, Deployment, DeploymentRolloutState, Service, ServiceDeployment,
    ServiceDeploymentRollbackMonitorsStatus, TaskDefinition, TaskDefinitionField,
};

use crate::error::{AwsError, from_sdk};
use crate::retry::Backoff;
use crate::task_fields::{RawAnswer, described_definition, uncopied_fields};
use crate::task_json;

pub use aws_sdk_ecs::types::{ContainerDefinition, Tag};

/// What an apply needs to know of an ECS service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceView {
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    /// The task definition the service is set to run.
    pub task_definition: String,
    pub deployments: Vec<RolloutView>,
    /// The latest service events, newest first.
    pub events: Vec<String>,
    pub strategy: Strategy,
    /// The ARN of ECS's record of the service's latest deployment, where ECS gives it.
    pub current_service_deployment: Option<String>,
    /// The containers its load balancers send traffic to, and on which port.
    pub load_balancers: Vec<(String, i32)>,
}

/// How ECS deploys a service: its deployment controller and its deployment configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Strategy {
    /// `ECS`, `CODE_DEPLOY` or `EXTERNAL`, as ECS spells it (`ECS` when it does not say).
    pub controller: String,
    /// `ROLLING`, `BLUE_GREEN`, `LINEAR` or `CANARY` (`ROLLING` when ECS does not say).
    pub strategy: String,
    /// How long ECS keeps both revisions after the traffic has shifted, before it ends a
    /// blue/green, linear or canary deployment.
    pub bake_time_minutes: Option<i32>,
    /// The CloudWatch alarms that stop the service's deployments (empty when not enabled).
    pub alarms: Vec<String>,
}

impl Default for Strategy {
    fn default() -> Strategy {
        Strategy {
            controller: "ECS".into(),
            strategy: "ROLLING".into(),
            bake_time_minutes: None,
            alarms: Vec::new(),
        }
    }
}

impl Strategy {
    /// Blue/green, linear or canary: success comes after the bake time.
    pub fn bakes(&self) -> bool {
        self.controller == "ECS" && self.strategy != "ROLLING"
    }
}

impl std::fmt::Display for Strategy {
    /// `rolling`, `blue/green, bake time 5m`, `canary; alarms api-5xx, api-latency`, `CodeDeploy`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.controller.as_str() {
            "ECS" => {}
            "CODE_DEPLOY" => return f.write_str("CodeDeploy"),
            "EXTERNAL" => return f.write_str("external"),
            other => return f.write_str(other),
        }
        match self.strategy.as_str() {
            "ROLLING" => f.write_str("rolling")?,
            "BLUE_GREEN" => f.write_str("blue/green")?,
            other => f.write_str(&other.to_lowercase())?,
        }
        if self.bakes() {
            write!(f, ", bake time {}m", self.bake_time_minutes.unwrap_or(0))?;
        }
        if !self.alarms.is_empty() {
            write!(f, "; alarms {}", self.alarms.join(", "))?;
        }
        Ok(())
    }
}

/// ECS's record of one deployment of a service (DescribeServiceDeployments).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServiceDeploymentView {
    pub arn: String,
    /// As ECS spells it: `PENDING`, `IN_PROGRESS`, `SUCCESSFUL`, `STOPPED`, `STOP_REQUESTED`,
    /// `ROLLBACK_REQUESTED`, `ROLLBACK_IN_PROGRESS`, `ROLLBACK_SUCCESSFUL`, `ROLLBACK_FAILED`.
    pub status: String,
    pub status_reason: String,
    /// Where a blue/green, linear or canary deployment is (`BAKE_TIME`…); none for rolling.
    pub lifecycle_stage: Option<String>,
    /// The deployment alarms that went into ALARM.
    pub triggered_alarms: Vec<String>,
    /// The circuit breaker stopped it: `(failed tasks, threshold)`.
    pub circuit_breaker: Option<(i32, i32)>,
    /// Why ECS rolled it back, when it did.
    pub rollback_reason: Option<String>,
    /// Tasks of the revision being deployed: running, requested.
    pub running: i32,
    pub requested: i32,
}

impl ServiceDeploymentView {
    /// ECS has finished with it: `SUCCESSFUL`, `STOPPED`, `ROLLBACK_SUCCESSFUL`, `ROLLBACK_FAILED`.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "SUCCESSFUL" | "STOPPED" | "ROLLBACK_SUCCESSFUL" | "ROLLBACK_FAILED")
    }
}

/// One service deployment ListServiceDeployments lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDeploymentBrief {
    pub arn: String,
    pub created_at: Option<SystemTime>,
}

/// Whether `id` (a recorded `ecs_deployment`) is a service deployment's ARN rather than the id
/// of one of the service's `deployments`.
pub fn is_service_deployment_arn(id: &str) -> bool {
    id.starts_with("arn:") && id.contains(":service-deployment/")
}

/// One ECS deployment of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutView {
    pub id: String,
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: String,
    pub task_definition: String,
    pub rollout_state: RolloutState,
    pub reason: String,
    pub running: i32,
    pub desired: i32,
    /// When ECS started the deployment, if it said.
    pub created_at: Option<ledger::Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RolloutState {
    InProgress,
    Completed,
    Failed,
    /// ECS did not say (a service without the rolling-update state).
    Unknown,
}

impl std::fmt::Display for RolloutState {
    /// As ECS spells it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RolloutState::InProgress => "IN_PROGRESS",
            RolloutState::Completed => "COMPLETED",
            RolloutState::Failed => "FAILED",
            RolloutState::Unknown => "not reported",
        })
    }
}

impl ServiceView {
    pub fn primary(&self) -> Option<&RolloutView> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }

    /// The port its load balancer sends traffic to on container `container`, if one does.
    pub fn load_balancer_port(&self, container: &str) -> Option<i32> {
        self.load_balancers.iter().find(|(name, _)| name == container).map(|(_, port)| *port)
    }

    /// The latest events, on one line, for a failure's detail.
    pub fn latest_events(&self, count: usize) -> String {
        self.events.iter().take(count).cloned().collect::<Vec<_>>().join(" | ")
    }
}

/// A task definition as ECS describes it, with its tags (which RegisterTaskDefinition takes
/// beside the definition).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskDefinitionWithTags {
    pub definition: TaskDefinition,
    pub tags: Vec<Tag>,
    /// Fields ECS gave that a new revision would not carry (see [`crate::task_fields`]).
    pub uncopied: Vec<String>,
    /// The definition as ECS's answer gave it, as JSON (empty when made otherwise): what plans
    /// and drift compare ([`crate::task_json`]). [`revise`] changes it as it changes `definition`.
    pub json: Map<String, Value>,
}

impl TaskDefinitionWithTags {
    pub fn arn(&self) -> &str {
        self.definition.task_definition_arn.as_deref().unwrap_or("")
    }

    /// The image of container `name`, if the definition has that container.
    pub fn image_of(&self, container: &str) -> Option<&str> {
        self.containers()
            .iter()
            .find(|c| c.name.as_deref() == Some(container))
            .and_then(|c| c.image.as_deref())
    }

    pub fn containers(&self) -> &[ContainerDefinition] {
        self.definition.container_definitions.as_deref().unwrap_or_default()
    }

    /// The definition, normalised for comparing (see [`task_json::normalise`]).
    pub fn normalised(&self) -> Value {
        task_json::normalise(&self.json)
    }
}

/// DescribeServices answers for at most this many services a call.
pub const DESCRIBE_SERVICES_MAX: usize = 10;

/// DescribeServiceDeployments answers for at most this many service deployments a call.
pub const DESCRIBE_SERVICE_DEPLOYMENTS_MAX: usize = 20;

/// What DescribeServiceDeployments said of one service deployment asked for.
pub type DescribedDeployment = Result<ServiceDeploymentView, AwsError>;

/// What DescribeServices said of one service asked for: its view, or why there is none
/// (`NotFound` when the answer lists it as a failure, leaves it out, or has it INACTIVE).
pub type Described = Result<ServiceView, AwsError>;

pub trait Ecs {
    /// Services `names` (at most [`DESCRIBE_SERVICES_MAX`]) of `cluster`, in one call: one
    /// [`Described`] per name, in the order asked. The call's own error (the cluster is
    /// missing, throttling…) is the `Err`.
    fn describe_services(
        &self,
        cluster: &str,
        names: &[&str],
    ) -> impl Future<Output = Result<Vec<Described>, AwsError>>;

    fn describe_task_definition(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<TaskDefinitionWithTags, AwsError>>;

    /// Registers a new revision carrying every registerable field of `definition`; returns its ARN.
    fn register_task_definition(
        &self,
        definition: &TaskDefinitionWithTags,
    ) -> impl Future<Output = Result<String, AwsError>>;

    /// Points the service at `task_definition`; returns the service as ECS left it.
    fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> impl Future<Output = Result<ServiceView, AwsError>>;

    /// The service deployments of `service` created at or after `created_after`, every page of
    /// them, in the order ECS lists them.
    fn list_service_deployments(
        &self,
        cluster: &str,
        service: &str,
        created_after: SystemTime,
    ) -> impl Future<Output = Result<Vec<ServiceDeploymentBrief>, AwsError>>;

    /// Service deployments `arns` (at most [`DESCRIBE_SERVICE_DEPLOYMENTS_MAX`]) in one call: one
    /// [`DescribedDeployment`] per ARN, in the order asked.
    fn describe_service_deployments(
        &self,
        arns: &[&str],
    ) -> impl Future<Output = Result<Vec<DescribedDeployment>, AwsError>>;
}

/// ECS through the AWS SDK.
pub struct AwsEcs(pub aws_sdk_ecs::Client);

impl Ecs for AwsEcs {
    async fn describe_services(&self, cluster: &str, names: &[&str]) -> Result<Vec<Described>, AwsError> {
        let output = self
            .0
            .describe_services()
            .cluster(cluster)
            .set_services(Some(names.iter().map(|name| name.to_string()).collect()))
            .send()
            .await
            .map_err(|e| from_sdk(DESCRIBE_SERVICES, e))?;
        let found: BTreeMap<&str, &Service> =
            output.services().iter().filter_map(|s| Some((s.service_name()?, s))).collect();
        // A failure names the service by ARN (`…:service/<cluster>/<name>`) or as it was asked.
        let failures: BTreeMap<&str, String> = output
            .failures()
            .iter()
            .filter_map(|f| {
                let arn = f.arn()?;
                let name = arn.rsplit_once('/').map_or(arn, |(_, name)| name);
                let why = [f.reason(), f.detail()].into_iter().flatten().collect::<Vec<_>>().join(": ");
                Some((name, why))
            })
            .collect();
        Ok(names
            .iter()
            .map(|name| match found.get(name) {
                Some(service) if service.status() != Some("INACTIVE") => Ok(service_view(service)),
                _ => Err(service_not_found(cluster, name, failures.get(name).map(String::as_str))),
            })
            .collect())
    }

    async fn describe_task_definition(&self, arn: &str) -> Result<TaskDefinitionWithTags, AwsError> {
        const ACTION: &str = "ecs:DescribeTaskDefinition";
        let raw = RawAnswer::default();
        let output = self
            .0
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| from_sdk(ACTION, e))?;
        let definition = output
            .task_definition
            .ok_or_else(|| AwsError::not_found(ACTION, format!("task definition {arn} not found")))?;
        let json = raw.take().as_deref().and_then(described_definition).ok_or_else(|| {
            AwsError::new(ACTION, crate::ErrorKind::Rejected, "", "the answer could not be read as JSON")
        })?;
        let uncopied = uncopied_fields(&json);
        Ok(TaskDefinitionWithTags { definition, tags: output.tags.unwrap_or_default(), uncopied, json })
    }

    async fn register_task_definition(&self, source: &TaskDefinitionWithTags) -> Result<String, AwsError> {
        const ACTION: &str = "ecs:RegisterTaskDefinition";
        // Every field of `task_fields::COPIED`; ECS sets the read-only ones itself.
        // `inferenceAccelerators` is not copied: ECS no longer accepts it (Elastic Inference has
        // ended), and a definition that has one is refused by `revise`.
        let definition = source.definition.clone();
        let output = self
            .0
            .register_task_definition()
            .set_family(definition.family)
            .set_task_role_arn(definition.task_role_arn)
            .set_execution_role_arn(definition.execution_role_arn)
            .set_network_mode(definition.network_mode)
            .set_container_definitions(definition.container_definitions)
            .set_volumes(definition.volumes)
            .set_placement_constraints(definition.placement_constraints)
            .set_requires_compatibilities(definition.requires_compatibilities)
            .set_cpu(definition.cpu)
            .set_memory(definition.memory)
            .set_tags((!source.tags.is_empty()).then(|| source.tags.clone()))
            .set_pid_mode(definition.pid_mode)
            .set_ipc_mode(definition.ipc_mode)
            .set_proxy_configuration(definition.proxy_configuration)
            .set_ephemeral_storage(definition.ephemeral_storage)
            .set_runtime_platform(definition.runtime_platform)
            .set_enable_fault_injection(definition.enable_fault_injection)
            .send()
            .await
            .map_err(|e| from_sdk(ACTION, e))?;
        output.task_definition.and_then(|d| d.task_definition_arn).ok_or_else(|| {
            AwsError::new(ACTION, crate::ErrorKind::Rejected, "", "ECS returned no task definition ARN")
        })
    }

    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> Result<ServiceView, AwsError> {
        const ACTION: &str = "ecs:UpdateService";
        let output = self
            .0
            .update_service()
            .cluster(cluster)
            .service(service)
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| from_sdk(ACTION, e))?;
        output
            .service
            .as_ref()
            .map(service_view)
            .ok_or_else(|| AwsError::new(ACTION, crate::ErrorKind::Rejected, "", "ECS returned no service"))
    }

    async fn list_service_deployments(
        &self,
        cluster: &str,
        service: &str,
        created_after: SystemTime,
    ) -> Result<Vec<ServiceDeploymentBrief>, AwsError> {
        let mut listed = Vec::new();
        let mut next_token = None;
        loop {
            let output = self
                .0
                .list_service_deployments()
                .cluster(cluster)
                .service(service)
                .created_at(CreatedAt::builder().after(created_after.into()).build())
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|e| from_sdk(LIST_SERVICE_DEPLOYMENTS, e))?;
            listed.extend(output.service_deployments().iter().filter_map(|brief| {
                Some(ServiceDeploymentBrief {
                    arn: brief.service_deployment_arn()?.to_string(),
                    created_at: brief.created_at().and_then(|at| SystemTime::try_from(*at).ok()),
                })
            }));
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(listed),
            }
        }
    }

    async fn describe_service_deployments(
        &self,
        arns: &[&str],
    ) -> Result<Vec<DescribedDeployment>, AwsError> {
        let output = self
            .0
            .describe_service_deployments()
            .set_service_deployment_arns(Some(arns.iter().map(|arn| arn.to_string()).collect()))
            .send()
            .await
            .map_err(|e| from_sdk(DESCRIBE_SERVICE_DEPLOYMENTS, e))?;
        let found: BTreeMap<&str, &ServiceDeployment> = output
            .service_deployments()
            .iter()
            .filter_map(|d| Some((d.service_deployment_arn()?, d)))
            .collect();
        let failures: BTreeMap<&str, &str> = output
            .failures()
            .iter()
            .filter_map(|f| Some((f.arn()?, f.reason().unwrap_or_default())))
            .collect();
        Ok(arns
            .iter()
            .map(|arn| match found.get(arn) {
                Some(deployment) => Ok(service_deployment_view(deployment)),
                None => Err(service_deployment_not_found(arn, failures.get(arn).copied())),
            })
            .collect())
    }
}

const DESCRIBE_SERVICES: &str = "ecs:DescribeServices";
pub const LIST_SERVICE_DEPLOYMENTS: &str = "ecs:ListServiceDeployments";
pub const DESCRIBE_SERVICE_DEPLOYMENTS: &str = "ecs:DescribeServiceDeployments";

/// A service deployment DescribeServiceDeployments did not answer for.
pub fn service_deployment_not_found(arn: &str, reason: Option<&str>) -> AwsError {
    let reason = reason.filter(|r| !r.is_empty()).map(|r| format!(" ({r})")).unwrap_or_default();
    AwsError::not_found(DESCRIBE_SERVICE_DEPLOYMENTS, format!("service deployment {arn} not found{reason}"))
}

/// A service DescribeServices did not answer for (or answered INACTIVE), with the reason its
/// answer gave, if any (`MISSING`).
pub fn service_not_found(cluster: &str, name: &str, reason: Option<&str>) -> AwsError {
    let reason = reason.filter(|r| !r.is_empty()).map(|r| format!(" ({r})")).unwrap_or_default();
    AwsError::not_found(
        DESCRIBE_SERVICES,
        format!("service {name:?} not found in cluster {cluster:?}{reason}"),
    )
}

/// Describes every `(cluster, service)` of `wanted` in as few calls as DescribeServices allows:
/// one per cluster per [`DESCRIBE_SERVICES_MAX`] services, each retried by `backoff`. One
/// [`Described`] per entry of `wanted`, in its order; a call that fails for good fails each
/// service it asked for.
pub async fn describe_all<E: Ecs>(ecs: &E, backoff: &Backoff, wanted: &[(&str, &str)]) -> Vec<Described> {
    let mut by_cluster: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, (cluster, _)) in wanted.iter().enumerate() {
        by_cluster.entry(cluster).or_default().push(index);
    }
    let batches: Vec<(&str, &[usize])> = by_cluster
        .iter()
        .flat_map(|(cluster, indexes)| {
            indexes.chunks(DESCRIBE_SERVICES_MAX).map(move |chunk| (*cluster, chunk))
        })
        .collect();
    let answers = futures_util::future::join_all(batches.iter().map(|(cluster, indexes)| async move {
        let names: Vec<&str> = indexes.iter().map(|&i| wanted[i].1).collect();
        let answer = backoff.retry(async || ecs.describe_services(cluster, &names).await).await;
        match answer {
            Ok(described) => described,
            Err(error) => names.iter().map(|_| Err(error.clone())).collect(),
        }
    }))
    .await;
    let mut described: Vec<Option<Described>> = wanted.iter().map(|_| None).collect();
    for ((_, indexes), answer) in batches.iter().zip(answers) {
        for (&index, one) in indexes.iter().zip(answer) {
            described[index] = Some(one);
        }
    }
    let unanswered = |(cluster, name): &(&str, &str)| Err(service_not_found(cluster, name, None));
    described.into_iter().zip(wanted).map(|(one, asked)| one.unwrap_or_else(|| unanswered(asked))).collect()
}

/// Service `name` of `cluster`, in a call of its own, retried by `backoff`.
pub async fn describe_service<E: Ecs>(
    ecs: &E,
    backoff: &Backoff,
    cluster: &str,
    name: &str,
) -> Result<ServiceView, AwsError> {
    describe_all(ecs, backoff, &[(cluster, name)]).await.pop().expect("one answer per service")
}

fn service_view(service: &Service) -> ServiceView {
    ServiceView {
        status: service.status().unwrap_or_default().to_string(),
        task_definition: service.task_definition().unwrap_or_default().to_string(),
        deployments: service.deployments().iter().map(rollout_view).collect(),
        events: service.events().iter().filter_map(|e| e.message().map(str::to_string)).collect(),
        strategy: strategy(service),
        current_service_deployment: service.current_service_deployment().map(str::to_string),
        load_balancers: service
            .load_balancers()
            .iter()
            .filter_map(|lb| Some((lb.container_name()?.to_string(), lb.container_port()?)))
            .collect(),
    }
}

fn strategy(service: &Service) -> Strategy {
    let configuration = service.deployment_configuration();
    let alarms = configuration.and_then(|c| c.alarms()).filter(|a| a.enable);
    let default = Strategy::default();
    Strategy {
        controller: service
            .deployment_controller()
            .map_or(default.controller, |c| c.r#type().as_str().to_string()),
        strategy: configuration
            .and_then(|c| c.strategy())
            .map_or(default.strategy, |s| s.as_str().to_string()),
        bake_time_minutes: configuration.and_then(|c| c.bake_time_in_minutes()),
        alarms: alarms.map(|a| a.alarm_names().to_vec()).unwrap_or_default(),
    }
}

fn service_deployment_view(deployment: &ServiceDeployment) -> ServiceDeploymentView {
    let triggered = |status: Option<&ServiceDeploymentRollbackMonitorsStatus>| {
        status == Some(&ServiceDeploymentRollbackMonitorsStatus::Triggered)
    };
    let target = deployment.target_service_revision();
    ServiceDeploymentView {
        arn: deployment.service_deployment_arn().unwrap_or_default().to_string(),
        status: deployment.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
        status_reason: deployment.status_reason().unwrap_or_default().to_string(),
        lifecycle_stage: deployment.lifecycle_stage().map(|s| s.as_str().to_string()),
        triggered_alarms: deployment.alarms().map(|a| a.triggered_alarm_names().to_vec()).unwrap_or_default(),
        circuit_breaker: deployment
            .deployment_circuit_breaker()
            .filter(|breaker| triggered(breaker.status()))
            .map(|breaker| (breaker.failure_count, breaker.threshold)),
        rollback_reason: deployment.rollback().map(|r| r.reason().unwrap_or_default().to_string()),
        running: target.map_or(0, |t| t.running_task_count),
        requested: target.map_or(0, |t| t.requested_task_count),
    }
}

fn rollout_view(deployment: &Deployment) -> RolloutView {
    RolloutView {
        id: deployment.id().unwrap_or_default().to_string(),
        status: deployment.status().unwrap_or_default().to_string(),
        task_definition: deployment.task_definition().unwrap_or_default().to_string(),
        rollout_state: match deployment.rollout_state() {
            Some(DeploymentRolloutState::InProgress) => RolloutState::InProgress,
            Some(DeploymentRolloutState::Completed) => RolloutState::Completed,
            Some(DeploymentRolloutState::Failed) => RolloutState::Failed,
            _ => RolloutState::Unknown,
        },
        reason: deployment.rollout_state_reason().unwrap_or_default().to_string(),
        running: deployment.running_count,
        desired: deployment.desired_count,
        created_at: deployment.created_at().map(timestamp),
    }
}

/// An AWS time as a ledger timestamp (microseconds).
fn timestamp(at: &aws_sdk_ecs::primitives::DateTime) -> ledger::Timestamp {
    ledger::Timestamp(at.secs() * 1_000_000 + i64::from(at.subsec_nanos() / 1_000))
}

/// The tag that marks a task definition registered by a deployment: `reconcile` finds what an
/// interrupted apply had started by it.
pub const DEPLOYMENT_TAG: &str = "ledger:deployment";

/// `source` with container `container`'s image replaced by `image` and tagged with the
/// deployment; everything else is kept as it is.
pub fn revise(
    source: &TaskDefinitionWithTags,
    container: &str,
    image: &str,
    deployment: &str,
) -> Result<TaskDefinitionWithTags, String> {
    if !source.uncopied.is_empty() {
        return Err(format!(
            "task definition {} has fields this version of ledger cannot copy ({}): a new revision made from it would lose them; use a ledger that knows them",
            source.arn(),
            source.uncopied.join(", ")
        ));
    }
    let mut revised = source.clone();
    let containers = revised.definition.container_definitions.get_or_insert_with(Vec::new);
    let Some(target) = containers.iter_mut().find(|c| c.name.as_deref() == Some(container)) else {
        let names: Vec<&str> = source.containers().iter().filter_map(|c| c.name.as_deref()).collect();
        return Err(format!(
            "task definition {} has no container {container:?} (it has: {}); set `container` for this service in ledger.toml",
            source.arn(),
            names.join(", ")
        ));
    };
    target.image = Some(image.to_string());
    let named = |c: &&mut Value| c.get("name").and_then(Value::as_str) == Some(container);
    let json_containers = revised.json.get_mut("containerDefinitions").and_then(Value::as_array_mut);
    if let Some(json_target) = json_containers.and_then(|containers| containers.iter_mut().find(named)) {
        json_target["image"] = image.into();
    }
    revised.tags.retain(|tag| tag.key() != Some(DEPLOYMENT_TAG));
    revised.tags.push(Tag::builder().key(DEPLOYMENT_TAG).value(deployment).build());
    Ok(revised)
}

/// The deployment id a task definition was registered for, if ledger registered it.
pub fn deployment_of(definition: &TaskDefinitionWithTags) -> Option<&str> {
    definition.tags.iter().find(|tag| tag.key() == Some(DEPLOYMENT_TAG)).and_then(|tag| tag.value())
}
