//! `status`: what runs in each environment, its last outcome, anything in flight, whether it is
//! frozen and what waits to reach it; with `live`, beside what ECS runs and what SSM holds, any
//! difference being drift.

use std::collections::{BTreeMap, BTreeSet};

use ledger::manifest::EcsEnvironment;
use ledger_sync::live::{changed_since, read_live};
use ledger_sync::ssm::{Parameters, parameter_name};
use ledger_sync::task_json::FieldChange;
use ledger_sync::{Backoff, ErrorKind as AwsErrorKind};
use serde_json::{Map, Value, json};

use crate::cloud;
use crate::error::Result;
use crate::gates::{self, Waiting};
use crate::notify::{self, Outbox};
use crate::observe::{self, Unrecorded};
use crate::runtime::block_on;
use crate::views::{EnvStatus, Releases};
use crate::workspace::{Workspace, clock};
use ledger::{Source, Timestamp};

/// Each environment asked for, as the ledger records it and (with `live`) as it runs.
pub struct Status {
    pub environments: Vec<EnvReport>,
    /// Each environment's JSON, in the same order.
    documents: Vec<Value>,
    /// The events the outbox still owes its sinks (`status` reads it; the dashboard does not).
    pub outbox: Option<Outbox>,
}

pub struct EnvReport {
    pub status: EnvStatus,
    /// Its freeze now, and the promotions that wait to reach it (see [`gates::waiting`]).
    pub waiting: Waiting,
    /// With `live`, for an environment on ECS.
    pub live: Option<Live>,
}

/// One environment beside what ECS runs and SSM holds.
pub struct Live {
    pub ssm_prefix: String,
    pub services: Vec<LiveRow>,
}

/// One service beside what ECS runs and SSM holds.
pub struct LiveRow {
    pub service: String,
    /// The images: the ledger's, ECS's and SSM's (`None` where there is none).
    pub ledger: Option<String>,
    pub ecs: Option<String>,
    pub ssm: Option<String>,
    /// What ECS runs, as shown when it runs nothing of the service.
    pub ecs_shown: String,
    pub task_definition: Option<String>,
    pub ssm_parameter: String,
    /// The ECS deployment running it, when no ledger user started it.
    pub unrecorded: Option<Unrecorded>,
    /// The fields in which the revision ECS runs differs from the one the ledger registered
    /// (beside the image of the service's container, which `ecs` shows).
    pub fields: Vec<FieldChange>,
}

impl LiveRow {
    pub fn ecs_drift(&self) -> bool {
        self.ledger != self.ecs
    }

    pub fn ssm_drift(&self) -> bool {
        self.ledger != self.ssm
    }

    pub fn drift(&self) -> bool {
        self.ecs_drift() || self.ssm_drift() || self.unrecorded.is_some() || !self.fields.is_empty()
    }
}

impl Live {
    pub fn ecs_drift(&self) -> bool {
        self.services.iter().any(LiveRow::ecs_drift)
    }

    pub fn ssm_drift(&self) -> bool {
        self.services.iter().any(LiveRow::ssm_drift)
    }

    /// Whether ECS runs a deployment of any service that no ledger user started.
    pub fn unrecorded(&self) -> bool {
        self.services.iter().any(|row| row.unrecorded.is_some())
    }

    pub fn drift(&self) -> bool {
        self.services.iter().any(LiveRow::drift)
    }

    fn json(&self) -> Value {
        let services: Map<String, Value> = self
            .services
            .iter()
            .map(|row| {
                let value = json!({
                    "ledger": row.ledger,
                    "ecs": row.ecs,
                    "task_definition": row.task_definition,
                    "ssm": row.ssm,
                    "ssm_parameter": row.ssm_parameter,
                    "drift": row.drift(),
                    "unrecorded": row.unrecorded.as_ref().map(Unrecorded::json),
                    "task_definition_drift": row.fields.iter().map(FieldChange::json).collect::<Vec<_>>(),
                });
                (row.service.clone(), value)
            })
            .collect();
        Value::Object(services)
    }
}

impl Status {
    /// `{"environments": [...], "notify": {...}}` (`notify`: the outbox, see
    /// [`Outbox::json`]).
    pub fn json(&self) -> Value {
        let mut document = json!({"environments": self.documents});
        if let Some(outbox) = &self.outbox {
            document["notify"] = outbox.json();
        }
        document
    }

    /// Whether any environment compared live has drifted.
    pub fn drift(&self) -> bool {
        self.environments.iter().filter_map(|env| env.live.as_ref()).any(Live::drift)
    }
}

/// The status of `env` (every environment of the manifest when `None`); with `live`, each on ECS
/// compared with what runs there.
pub fn status(workspace: &Workspace, env: Option<&str>, live: bool) -> Result<Status> {
    let envs: Vec<String> = match env {
        Some(env) => {
            workspace.environment(env)?;
            vec![env.to_string()]
        }
        None => workspace.manifest.environments.keys().cloned().collect(),
    };
    let now = clock()?;
    let outbox = notify::outbox(workspace)?;
    workspace.read(|releases| {
        let mut status = governed(workspace, releases, &envs, now)?;
        status.outbox = Some(outbox);
        if live {
            for (report, document) in status.environments.iter_mut().zip(status.documents.iter_mut()) {
                let Some(ecs) = &workspace.manifest.environments[&report.status.env].ecs else { continue };
                let images = report
                    .status
                    .state
                    .iter()
                    .map(|(service, view)| (service.clone(), view.image.clone()))
                    .collect();
                let live = compare_live(workspace, releases.source(), &report.status.env, ecs, &images)?;
                document["live"] = live.json();
                document["drift"] = json!(live.drift());
                report.live = Some(live);
            }
        }
        Ok(status)
    })
}

/// What the ledger records of `envs`, from one read, with each one's freeze and what waits to
/// reach it at `now` (`status` without `live`; the dashboard's overview and `/api/status`).
pub fn governed<S: Source>(
    workspace: &Workspace,
    releases: &Releases<'_, S>,
    envs: &[String],
    now: Timestamp,
) -> Result<Status> {
    let mut environments = Vec::new();
    let mut documents = Vec::new();
    for env in envs {
        let status = EnvStatus::load(releases, env)?;
        let waiting = gates::waiting(workspace, releases, env, now)?;
        let mut document = status.json();
        let json = waiting.json();
        document["frozen"] = json["frozen"].clone();
        document["waiting"] = json["waiting"].clone();
        documents.push(document);
        environments.push(EnvReport { status, waiting, live: None });
    }
    Ok(Status { environments, documents, outbox: None })
}

/// Compares the ledger's image of each service with ECS's and SSM's.
fn compare_live(
    workspace: &Workspace,
    source: &impl Source,
    env: &str,
    ecs: &EcsEnvironment,
    ledger_images: &BTreeMap<String, String>,
) -> Result<Live> {
    let cloud = cloud::connect(workspace, Some(ecs))?;
    let (ecs_client, parameters) = (cloud.ecs(), cloud.parameters());
    let backoff = Backoff::default();
    let services: BTreeSet<&String> =
        workspace.manifest.services.keys().chain(ledger_images.keys()).collect();
    let mut rows = Vec::new();
    for service in services {
        // What ECS runs, and how to show it when it runs nothing of the service.
        let (running, task_definition, ecs_shown, unrecorded, fields) = match workspace
            .manifest
            .services
            .get(service)
        {
            Some(config) => {
                let name = config.ecs_service_in(service, env);
                match block_on(read_live(&ecs_client, &backoff, &ecs.cluster, name, &config.container))? {
                    Ok(live) => {
                        let shown = live
                            .image
                            .clone()
                            .unwrap_or_else(|| format!("no container {:?}", config.container));
                        let unrecorded = observe::unrecorded(source, env, service, &live)?;
                        let fields = match observe::registered(source, env, service)? {
                            Some(registered) => {
                                let image = format!("containerDefinitions[{}].image", config.container);
                                let changed = changed_since(
                                    &ecs_client,
                                    &backoff,
                                    &live.task_definition,
                                    &live.definition,
                                    &registered,
                                );
                                match block_on(changed)? {
                                    Ok(mut changed) => {
                                        changed.retain(|change| change.path != image);
                                        changed
                                    }
                                    // Ours is gone: it differs (not the same digest), in fields unknown.
                                    Err(error) if error.kind == AwsErrorKind::NotFound => vec![FieldChange {
                                        path: "task definition".into(),
                                        old: Some(registered.arn.into()),
                                        new: Some(live.task_definition.clone().into()),
                                    }],
                                    Err(error) => return Err(error.into()),
                                }
                            }
                            None => Vec::new(),
                        };
                        (live.image, Some(live.task_definition), shown, unrecorded, fields)
                    }
                    // The service is not there (a missing cluster is an error: a wrong manifest).
                    Err(error) if error.kind == AwsErrorKind::NotFound && !error.is_cluster_not_found() => {
                        (None, None, format!("no ECS service {name:?}"), None, Vec::new())
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            None => (None, None, "not in ledger.toml".to_string(), None, Vec::new()),
        };
        let parameter = parameter_name(&ecs.ssm_prefix, service);
        let stored = block_on(backoff.retry(async || parameters.get(&parameter).await))??;
        rows.push(LiveRow {
            service: service.clone(),
            ledger: ledger_images.get(service).cloned(),
            ecs: running,
            ssm: stored,
            ecs_shown,
            task_definition,
            ssm_parameter: parameter,
            unrecorded,
            fields,
        });
    }
    Ok(Live { ssm_prefix: ecs.ssm_prefix.clone(), services: rows })
}
