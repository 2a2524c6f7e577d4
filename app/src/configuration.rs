//! `diff <env> <env> --task-definitions`: how two environments' running task definitions differ
//! beyond the image, service by service (environment variables, secrets' names and sources,
//! cpu and memory, ports, log configuration…), so that a promotion's surprises are seen before it.

use ledger::manifest::EcsEnvironment;
use ledger_sync::live::{LiveService, read_live};
use ledger_sync::rollout::short_arn;
use ledger_sync::task_json::{self, FieldChange};
use ledger_sync::{Backoff, ErrorKind as AwsErrorKind};
use serde_json::{Map, Value, json};

use crate::cloud;
use crate::error::{Error, Result};
use crate::runtime::block_on;
use crate::workspace::Workspace;

/// Each service of the manifest, as the two environments run it.
pub struct Configurations {
    pub services: Vec<ServiceConfiguration>,
}

/// One service in two environments.
pub struct ServiceConfiguration {
    pub service: String,
    /// The revision each environment runs, or why there is none to compare.
    pub a: std::result::Result<String, String>,
    pub b: std::result::Result<String, String>,
    /// The fields that differ from `a` to `b`, beside the image of the service's container.
    pub changes: Vec<FieldChange>,
}

impl ServiceConfiguration {
    /// `api:3`, or why the side has nothing to compare.
    pub fn shown(side: &std::result::Result<String, String>) -> String {
        match side {
            Ok(arn) => short_arn(arn).to_string(),
            Err(why) => why.clone(),
        }
    }
}

impl Configurations {
    pub fn differs(&self) -> bool {
        self.services.iter().any(|service| !service.changes.is_empty())
    }

    /// `{"<service>": {"a", "b", "changes": [{"path", "old", "new"}], "unknown"}}`: `a` and `b`
    /// the ARNs (null when a side runs none), `unknown` why they cannot be compared.
    pub fn json(&self) -> Value {
        let services: Map<String, Value> = self
            .services
            .iter()
            .map(|service| {
                let why = [&service.a, &service.b].into_iter().find_map(|side| side.as_ref().err());
                let value = json!({
                    "a": service.a.as_ref().ok(),
                    "b": service.b.as_ref().ok(),
                    "changes": service.changes.iter().map(FieldChange::json).collect::<Vec<_>>(),
                    "unknown": why,
                });
                (service.service.clone(), value)
            })
            .collect();
        Value::Object(services)
    }
}

/// Compares the task definitions environments `a` and `b` run for each service of the
/// manifest: per service and environment, DescribeServices and DescribeTaskDefinition.
pub fn compare(workspace: &Workspace, a: &str, b: &str) -> Result<Configurations> {
    let on_ecs = |env: &str| -> Result<EcsEnvironment> {
        let environment = workspace.manifest.environments.get(env).ok_or_else(|| {
            Error::usage(format!("--task-definitions compares two environments; {env:?} is not one"))
        })?;
        environment.ecs.clone().ok_or_else(|| {
            Error::usage(format!("{env} is a record-only environment: it runs no task definitions"))
        })
    };
    let (a_ecs, b_ecs) = (on_ecs(a)?, on_ecs(b)?);
    let a_live = running(workspace, a, &a_ecs)?;
    let b_live = running(workspace, b, &b_ecs)?;
    let mut services = Vec::new();
    for ((service, a_side), (_, b_side)) in a_live.into_iter().zip(b_live) {
        let container = &workspace.manifest.services[&service].container;
        let image = format!("containerDefinitions[{container}].image");
        let changes = match (&a_side, &b_side) {
            (Ok(a), Ok(b)) => task_json::changes(&a.definition, &b.definition)
                .into_iter()
                .filter(|change| change.path != image)
                .collect(),
            _ => Vec::new(),
        };
        let arn = |side: Side| side.map(|live| live.task_definition);
        services.push(ServiceConfiguration { service, a: arn(a_side), b: arn(b_side), changes });
    }
    Ok(Configurations { services })
}

/// What an environment runs of a service, or why it runs nothing.
type Side = std::result::Result<LiveService, String>;

/// What `env` runs of each service of the manifest, in the manifest's order; `Err`: why nothing.
fn running(workspace: &Workspace, env: &str, ecs: &EcsEnvironment) -> Result<Vec<(String, Side)>> {
    let cloud = cloud::connect(workspace, Some(ecs))?;
    let client = cloud.ecs();
    let backoff = Backoff::default();
    let mut found = Vec::new();
    for (service, config) in &workspace.manifest.services {
        let name = config.ecs_service_in(service, env);
        let live = match block_on(read_live(&client, &backoff, &ecs.cluster, name, &config.container))? {
            Ok(live) => Ok(live),
            Err(error) if error.kind == AwsErrorKind::NotFound && !error.is_cluster_not_found() => {
                Err(format!("no ECS service {name:?} in {env}"))
            }
            Err(error) => return Err(error.into()),
        };
        found.push((service.clone(), live));
    }
    Ok(found)
}
