//! Walks over an environment's history: its deployments newest first, the state it had at
//! any point, its last successful deployment.
//!
//! An environment's chain runs from its head through parent links: each outcome points to its
//! deployment, each deployment to the environment's previous head.

use std::collections::BTreeMap;

use crate::entry::{Body, DeployResult, StoredEntry};
use crate::id::EntryId;
use crate::store::{Scope, Source, StoreError, refs};

/// Service → release.
pub type State = BTreeMap<String, EntryId>;

/// A deployment and, once it ended, its outcome.
#[derive(Clone, Debug)]
pub struct DeploymentRecord {
    pub deployment: StoredEntry,
    pub outcome: Option<StoredEntry>,
}

impl DeploymentRecord {
    pub fn result(&self) -> Option<DeployResult> {
        self.outcome.as_ref().and_then(|o| o.entry.as_outcome()).map(|o| o.result)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("entry {id} is referenced from the history of {env} but is missing; run `ledger verify`")]
    Missing { env: String, id: EntryId },
    #[error("{id} is not a deployment to {env}")]
    NotInHistory { env: String, id: EntryId },
}

/// The environment's deployments, newest first, at most `limit`.
pub fn env_deployments(
    source: &impl Source,
    env: &str,
    limit: usize,
) -> Result<Vec<DeploymentRecord>, HistoryError> {
    let mut records = Vec::new();
    let mut cursor = source.ref_target(&refs::env(env))?;
    while let Some(id) = cursor {
        if records.len() >= limit {
            break;
        }
        let record = record_at(source, env, id)?;
        cursor = record.deployment.entry.parents.first().copied();
        records.push(record);
    }
    Ok(records)
}

/// The environment's deployments that changed `service`, newest first, at most `limit`.
pub fn env_service_deployments(
    source: &impl Source,
    env: &str,
    service: &str,
    limit: usize,
) -> Result<Vec<DeploymentRecord>, HistoryError> {
    source
        .newest(&Scope::EnvService(env, service), limit)?
        .into_iter()
        .map(|id| record_at(source, env, id))
        .collect()
}

/// The deployment record at `id`: a deployment of `env`, or the outcome of one.
pub fn record_at(source: &impl Source, env: &str, id: EntryId) -> Result<DeploymentRecord, HistoryError> {
    let stored = load(source, env, id)?;
    let (deployment, outcome) = match &stored.entry.body {
        Body::Outcome(_) => (load(source, env, stored.entry.parents[0])?, Some(stored)),
        Body::Deployment(_) => {
            let outcome = match source.outcome_of(&id)? {
                Some(outcome_id) => Some(load(source, env, outcome_id)?),
                None => None,
            };
            (stored, outcome)
        }
        _ => {
            return Err(HistoryError::NotInHistory { env: env.to_string(), id });
        }
    };
    match deployment.entry.as_deployment() {
        Some(d) if d.env == env => Ok(DeploymentRecord { deployment, outcome }),
        _ => Err(HistoryError::NotInHistory { env: env.to_string(), id }),
    }
}

fn load(source: &impl Source, env: &str, id: EntryId) -> Result<StoredEntry, HistoryError> {
    source.entry(&id)?.ok_or_else(|| HistoryError::Missing { env: env.to_string(), id })
}

/// The deployment to `env` with no outcome, if the head is one.
pub fn in_flight(source: &impl Source, env: &str) -> Result<Option<EntryId>, HistoryError> {
    let Some(head) = source.ref_target(&refs::env(env))? else {
        return Ok(None);
    };
    let head_entry = load(source, env, head)?;
    Ok(head_entry.entry.as_deployment().map(|_| head))
}

/// The most recent deployment to `env` whose outcome is `succeeded`.
pub fn last_successful(source: &impl Source, env: &str) -> Result<Option<DeploymentRecord>, HistoryError> {
    let mut cursor = source.ref_target(&refs::env(env))?;
    while let Some(id) = cursor {
        let record = record_at(source, env, id)?;
        if record.result() == Some(DeployResult::Succeeded) {
            return Ok(Some(record));
        }
        cursor = record.deployment.entry.parents.first().copied();
    }
    Ok(None)
}

/// The state `env` had right after `deployment` ended (`None`: before its first deployment).
///
/// Walks back from the head, undoing each newer deployment with the `from` side it recorded,
/// which is what ran when it was written.
pub fn state_after(
    source: &impl Source,
    env: &str,
    deployment: Option<EntryId>,
) -> Result<State, HistoryError> {
    let mut state = source.env_state(env)?;
    let mut cursor = source.ref_target(&refs::env(env))?;
    while let Some(id) = cursor {
        let record = record_at(source, env, id)?;
        if Some(record.deployment.id) == deployment {
            return Ok(state);
        }
        if let Some(d) = record.deployment.entry.as_deployment() {
            for (service, change) in &d.changes {
                match change.from {
                    Some(from) => state.insert(service.clone(), from),
                    None => state.remove(service),
                };
            }
        }
        cursor = record.deployment.entry.parents.first().copied();
    }
    match deployment {
        None => Ok(state),
        Some(id) => Err(HistoryError::NotInHistory { env: env.to_string(), id }),
    }
}
