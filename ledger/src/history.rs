//! Walks over an environment's history: its deployments newest first, the state it had at
//! any point, its last successful deployment.
//!
//! The environment log (`env_log` table) lists an environment's deployments in the order they
//! were recorded, each with its outcome; the parent links say the same, and `verify` checks
//! that they agree.

use std::collections::BTreeMap;

use crate::entry::{DeployResult, StoredEntry};
use crate::id::EntryId;
use crate::store::{EnvLogRow, Scope, Source, StoreError, Unfinished, unfinished_at};

/// Service → release.
pub type State = BTreeMap<String, EntryId>;

/// A deployment and, once it ended, its outcome.
#[derive(Clone, Debug)]
pub struct DeploymentRecord {
    /// The deployment's position in recording order.
    pub seq: u64,
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
    #[error(
        "entry {entry} of the history of {env} is missing or is not what the log says; run `ledger verify`"
    )]
    Missing { env: String, entry: String },
    #[error("{id} is not a deployment to {env}")]
    NotInHistory { env: String, id: EntryId },
}

/// The environment's deployments, newest first, at most `limit`.
pub fn env_deployments(
    source: &impl Source,
    env: &str,
    limit: usize,
) -> Result<Vec<DeploymentRecord>, HistoryError> {
    deployments_page(source, env, None, 0, limit)
}

/// The environment's deployments that changed `service`, newest first, at most `limit`.
pub fn env_service_deployments(
    source: &impl Source,
    env: &str,
    service: &str,
    limit: usize,
) -> Result<Vec<DeploymentRecord>, HistoryError> {
    deployments_page(source, env, Some(service), 0, limit)
}

/// A page of the environment's deployments (those that changed `service`, when given), newest
/// first: at most `limit` after the `skip` newest. Skipped deployments are not read.
pub fn deployments_page(
    source: &impl Source,
    env: &str,
    service: Option<&str>,
    skip: usize,
    limit: usize,
) -> Result<Vec<DeploymentRecord>, HistoryError> {
    let wanted = skip.saturating_add(limit);
    let rows: Vec<EnvLogRow> = match service {
        None => {
            let mut rows = Vec::new();
            if wanted > 0 {
                source.visit_env_log(env, &mut |row| {
                    rows.push(row);
                    Ok(rows.len() < wanted)
                })?;
            }
            rows
        }
        Some(service) => {
            let missing = |seq: u64| HistoryError::Missing { env: env.to_string(), entry: format!("#{seq}") };
            let seqs = source.newest_in(&Scope::EnvService(env, service), wanted)?;
            seqs.into_iter()
                .map(|seq| source.env_log_row(env, seq)?.ok_or_else(|| missing(seq)))
                .collect::<Result<_, _>>()?
        }
    };
    rows.into_iter().skip(skip).map(|row| record_of(source, env, row)).collect()
}

/// Every row of the environment's log, newest first: 16 bytes each.
pub fn env_rows(source: &impl Source, env: &str) -> Result<Vec<EnvLogRow>, HistoryError> {
    let mut rows = Vec::new();
    source.visit_env_log(env, &mut |row| {
        rows.push(row);
        Ok(true)
    })?;
    Ok(rows)
}

/// The deployment and outcome a log row names.
pub fn record_of(source: &impl Source, env: &str, row: EnvLogRow) -> Result<DeploymentRecord, HistoryError> {
    let deployment = load_at(source, env, row.deployment)?;
    if deployment.entry.as_deployment().is_none_or(|d| d.env != env) {
        return Err(HistoryError::Missing { env: env.to_string(), entry: deployment.id.to_hex() });
    }
    let outcome = match row.outcome {
        Some(seq) => Some(load_at(source, env, seq)?),
        None => None,
    };
    Ok(DeploymentRecord { seq: row.deployment, deployment, outcome })
}

fn load_at(source: &impl Source, env: &str, seq: u64) -> Result<StoredEntry, HistoryError> {
    source
        .entry_at(seq)?
        .ok_or_else(|| HistoryError::Missing { env: env.to_string(), entry: format!("#{seq}") })
}

/// The deployment to `env` without a final outcome (in flight, interrupted, or submitted
/// without waiting), if the head is one.
pub fn unfinished(source: &impl Source, env: &str) -> Result<Option<Unfinished>, HistoryError> {
    let Some(head) = source.ref_target(&crate::refs::RefName::env(env))? else { return Ok(None) };
    if source.seq_of(&head)?.is_none() {
        return Err(HistoryError::Missing { env: env.to_string(), entry: head.to_hex() });
    }
    Ok(unfinished_at(source, head)?)
}

/// The result a log row's outcome records (`None`: in flight).
pub fn result_of(
    source: &impl Source,
    env: &str,
    row: EnvLogRow,
) -> Result<Option<DeployResult>, HistoryError> {
    let Some(seq) = row.outcome else { return Ok(None) };
    Ok(load_at(source, env, seq)?.entry.as_outcome().map(|o| o.result))
}

/// The state `env` had right after `deployment` ended (`None`: before its first deployment).
///
/// Undoes each newer deployment with the `from` side it recorded, which is what ran when it
/// was written.
pub fn state_after(
    source: &impl Source,
    env: &str,
    deployment: Option<EntryId>,
) -> Result<State, HistoryError> {
    let not_here = |id: EntryId| HistoryError::NotInHistory { env: env.to_string(), id };
    let stop_at = match deployment {
        Some(id) => {
            let seq = source.seq_of(&id)?.ok_or_else(|| not_here(id))?;
            source.env_log_row(env, seq)?.ok_or_else(|| not_here(id))?;
            seq
        }
        None => 0,
    };
    let mut state = source.env_state(env)?;
    for row in env_rows(source, env)?.into_iter().take_while(|row| row.deployment > stop_at) {
        let record = record_of(source, env, row)?;
        for (service, change) in
            &record.deployment.entry.as_deployment().expect("checked by record_of").changes
        {
            match change.from {
                Some(from) => state.insert(service.clone(), from),
                None => state.remove(service),
            };
        }
    }
    Ok(state)
}
