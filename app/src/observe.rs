//! Changes made behind the ledger's back: finding the ECS deployments no ledger user started
//! (`status --live`), and recording them as *observed* deployments (`observe`), so that the
//! history stays complete.

use std::collections::BTreeMap;

use ledger::history::{HistoryError, env_service_deployments, unfinished};
use ledger::refs::RefName;
use ledger::{Change, DeployResult, EntryId, ServiceOutcome, Source, Timestamp, Trigger};
use ledger_sync::ecs::RolloutState;
use ledger_sync::live::{LiveService, Registered, read_live};
use ledger_sync::rollout::short_arn;
use ledger_sync::{Backoff, ErrorKind as AwsErrorKind};
use serde_json::{Value, json};

use crate::deploy::Deployed;
use crate::error::{Error, Result};
use crate::hooks::Progress;
use crate::import::{record_what_runs, release_of, running_image};
use crate::runtime::block_on;
use crate::session::Session;
use crate::workspace::{Workspace, check_message};

/// An ECS deployment of a service that no ledger user started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unrecorded {
    /// ECS's id of the deployment (`ecs-svc/…`), if the service has a PRIMARY deployment.
    pub ecs_deployment: Option<String>,
    /// When ECS started it, if ECS said.
    pub started: Option<Timestamp>,
    pub task_definition: String,
    /// Why it is not the ledger's, in a sentence.
    pub why: String,
}

impl Unrecorded {
    pub fn json(&self) -> Value {
        json!({
            "ecs_deployment": self.ecs_deployment,
            "started": self.started.map(Timestamp::to_rfc3339),
            "task_definition": self.task_definition,
            "why": self.why,
        })
    }

    /// One line: which deployment, when, and why it is not the ledger's.
    pub fn describe(&self) -> String {
        let started = self.started.map_or("at a time ECS did not give".into(), |at| at.to_human());
        format!(
            "ECS deployment {} (task definition {}) started {started} by no ledger user: {}",
            self.ecs_deployment.as_deref().unwrap_or("?"),
            short_arn(&self.task_definition),
            self.why
        )
    }
}

/// Whether what ECS runs for `service` in `env` (`live`) comes from a deployment no ledger user
/// started; `None` when the ledger's last deployment of the service started it (or saw it
/// start: ECS's circuit breaker rolling it back), or that deployment is still in flight.
///
/// The ledger's deployment of a service ends with an outcome recorded after its ECS deployment
/// started, naming the task definition and the ECS deployment: a PRIMARY deployment that is
/// neither, and that ECS started after that outcome was recorded, was started by someone else.
pub fn unrecorded(
    source: &impl Source,
    env: &str,
    service: &str,
    live: &LiveService,
) -> Result<Option<Unrecorded>> {
    let found = |why: String| {
        Some(Unrecorded {
            ecs_deployment: live.ecs_deployment.clone(),
            started: live.started_at,
            task_definition: live.task_definition.clone(),
            why,
        })
    };
    let Some(last) = env_service_deployments(source, env, service, 1)?.pop() else {
        return Ok(found(format!("the ledger has no deployment of {service} to {env}")));
    };
    let Some(outcome_entry) = &last.outcome else { return Ok(None) };
    let outcome = outcome_entry
        .entry
        .as_outcome()
        .ok_or_else(|| HistoryError::Missing { env: env.to_string(), entry: outcome_entry.id.to_hex() })?;
    let recorded = outcome.services.get(service);
    let same = |ours: Option<&String>, theirs: Option<&String>| ours.is_some() && ours == theirs;
    if recorded.is_some_and(|r| {
        same(r.task_definition.as_ref(), Some(&live.task_definition))
            || same(r.ecs_deployment.as_ref(), live.ecs_deployment.as_ref())
    }) {
        return Ok(None);
    }
    let ended = outcome_entry.entry.at;
    if live.started_at.is_some_and(|started| started <= ended) {
        return Ok(None);
    }
    Ok(found(format!(
        "it is not what the ledger's last deployment of {service} ({}, ended {}) left running",
        last.deployment.id.short(),
        ended.to_human()
    )))
}

/// The task definition the ledger's last deployment of `service` to `env` registered and left
/// running (its outcome succeeded), with the digest the outcome recorded; what drift is judged
/// against.
pub fn registered(source: &impl Source, env: &str, service: &str) -> Result<Option<Registered>> {
    let Some(last) = env_service_deployments(source, env, service, 1)?.pop() else { return Ok(None) };
    let outcome = last.outcome.as_ref().and_then(|stored| stored.entry.as_outcome());
    let ended = outcome.and_then(|outcome| outcome.services.get(service));
    Ok(ended.filter(|ended| ended.result == DeployResult::Succeeded).and_then(|ended| {
        Some(Registered {
            arn: ended.task_definition.clone()?,
            digest: ended.task_definition_digest().map(str::to_string),
        })
    }))
}

/// What `observe` found and did.
pub struct Observation {
    /// The observed deployment, when there was something to record.
    pub deployed: Option<Deployed>,
    /// Services found deployed behind the ledger's back but not recorded, and why.
    pub skipped: Vec<String>,
    /// The command's `--output json` document.
    pub json: Value,
}

/// `observe <env>`: records the ECS deployments of `env` that no ledger user started, as one
/// observed deployment (what ECS runs, when ECS started it), changing nothing on ECS or SSM.
pub fn observe(
    workspace: &Workspace,
    env: &str,
    message: Option<&str>,
    progress: &dyn Progress,
) -> Result<Observation> {
    let Some(ecs) = workspace.environment(env)?.ecs.clone() else {
        return Err(Error::usage(format!(
            "{env} is a record-only environment (no `cluster` in ledger.toml): nothing runs on ECS to observe"
        )));
    };
    let message = check_message(message.unwrap_or("observed on ECS"))?;
    let session = Session::open_synced(workspace, progress)?;
    let stamp = workspace.stamp(Some(&message))?;
    let actor = stamp.actor.clone();
    session.guarded(env, &actor, ecs.timeout, || {
        let reader = session.store.read()?;
        if let Some(open) = unfinished(&reader, env)? {
            return Err(Error::usage(format!(
                "deployment {} to {env} has no final outcome yet: what ECS runs may still be its doing",
                open.deployment.short()
            ))
            .hint(format!(
                "`ledger wait {env}` or `ledger reconcile {env}` records how it ended; then observe"
            )));
        }
        let head = reader.ref_target(&RefName::env(env))?;
        let state = reader.env_state(env)?;
        drop(reader);

        let (cloud, stamp) = session.connect(&ecs, stamp)?;
        let ecs_client = cloud.ecs();
        let backoff = Backoff::default();
        let mut changes = BTreeMap::new();
        let mut outcomes = BTreeMap::new();
        let mut started = BTreeMap::new();
        let mut skipped = Vec::new();
        for service in workspace.services_of(None)? {
            let config = &workspace.manifest.services[&service];
            let name = config.ecs_service_in(&service, env);
            let live =
                match block_on(read_live(&ecs_client, &backoff, &ecs.cluster, name, &config.container))? {
                    Ok(live) => live,
                    Err(error) if error.kind == AwsErrorKind::NotFound && !error.is_cluster_not_found() => {
                        continue;
                    }
                    Err(error) => return Err(error.into()),
                };
            let Some(found) = unrecorded(&session.store.read()?, env, &service, &live)? else { continue };
            progress.service(&service, &found.describe());
            if !matches!(live.rollout_state, RolloutState::Completed | RolloutState::Unknown) {
                skipped.push(format!(
                    "{service}: its ECS deployment is {}, not recorded; observe again once it has ended",
                    live.rollout_state
                ));
                continue;
            }
            let release =
                release_of(&session, &stamp, &service, &running_image(workspace, &service, &live)?)?;
            changes.insert(service.clone(), Change { from: state.get(&service).copied(), to: release });
            outcomes.insert(service.clone(), observed(release, &live, &found));
            started.insert(service.clone(), found.started.unwrap_or(stamp.at));
        }
        for line in &skipped {
            progress.warning(line);
        }
        let deployed = if changes.is_empty() {
            None
        } else {
            let trigger = Trigger::Observed { started };
            Some(record_what_runs(&session, env, head, trigger, changes, outcomes, &stamp)?)
        };
        let json = json!({
            "env": env,
            "observed": deployed.as_ref().map(|d| d.json.clone()),
            "skipped": skipped,
        });
        Ok(Observation { deployed, skipped, json })
    })
}

fn observed(release: EntryId, live: &LiveService, found: &Unrecorded) -> ServiceOutcome {
    ServiceOutcome {
        result: DeployResult::Succeeded,
        running: Some(release),
        task_definition: Some(live.task_definition.clone()),
        ecs_deployment: live.ecs_deployment.clone(),
        detail: format!("observed: {}", found.describe()),
    }
}
