//! Walks over an environment's history: its deployments newest first, the state it had at
//! any point, a deployment without its final outcome.
//!
//! The environment log (`env_log` table) lists an environment's deployments in the order they
//! were recorded, each with its outcome; the parent links say the same, and `verify` checks
//! that they agree.

use std::collections::BTreeMap;

use crate::entry::{DeployResult, StoredEntry};
use crate::id::EntryId;
use crate::store::{Damaged, EnvLogRow, Scope, Source, StoreError, Unfinished, unfinished_at};

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
///
/// Walking the whole log from its newest row, each entry read is checked against the id that
/// names it: the newest against the environment's ref, each older one against the parent of
/// the deployment after it, so no lookup in the id index is needed.
pub fn deployments_page(
    source: &impl Source,
    env: &str,
    service: Option<&str>,
    skip: usize,
    limit: usize,
) -> Result<Vec<DeploymentRecord>, HistoryError> {
    let wanted = skip.saturating_add(limit);
    match service {
        None => log_page(source, env, Cursor::Newest, skip, limit),
        Some(service) => {
            let missing = |seq: u64| HistoryError::Missing { env: env.to_string(), entry: format!("#{seq}") };
            let seqs = source.newest_in(&Scope::EnvService(env, service), wanted)?;
            seqs.into_iter()
                .skip(skip)
                .map(|seq| record_of(source, env, source.env_log_row(env, seq)?.ok_or_else(|| missing(seq))?))
                .collect()
        }
    }
}
/// Where a page of an environment's whole log starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// At its newest deployment.
    Newest,
    /// At the newest deployment recorded before this position.
    Before(u64),
}

/// The environment's deployments from `cursor` on, newest first: at most `limit` after the
/// `skip` first. Rows before the cursor and skipped rows are not read.
///
/// Each entry read is checked against the id that names it: the newest against the
/// environment's ref (from [`Cursor::Newest`] without skipping; otherwise against the id
/// index), each older one against the parent of the deployment after it.
pub fn log_page(
    source: &impl Source,
    env: &str,
    cursor: Cursor,
    skip: usize,
    limit: usize,
) -> Result<Vec<DeploymentRecord>, HistoryError> {
    Ok(log_page_and_more(source, env, cursor, skip, limit)?.0)
}

/// [`log_page`], and whether the log has deployments older than the page's: told by its next
/// row, whose entries are not read.
pub fn log_page_and_more(
    source: &impl Source,
    env: &str,
    cursor: Cursor,
    skip: usize,
    limit: usize,
) -> Result<(Vec<DeploymentRecord>, bool), HistoryError> {
    let wanted = skip.saturating_add(limit);
    let before = match cursor {
        Cursor::Newest => u64::MAX,
        Cursor::Before(seq) => seq,
    };
    let mut rows = Vec::new();
    // One row more than wanted (not read) tells whether the log goes on.
    source.visit_env_log_before(env, before, &mut |row| {
        rows.push(row);
        Ok(rows.len() <= wanted)
    })?;
    let goes_on = rows.len() > wanted;
    rows.truncate(wanted);
    // The id that names the next row's newest entry: the ref, for the newest row.
    let mut named = match (cursor, skip) {
        (Cursor::Newest, 0) if wanted > 0 => head_of_log(source, env, !rows.is_empty())?,
        _ => None,
    };
    let mut records = Vec::new();
    let mut rows = rows.into_iter().skip(skip).peekable();
    while let Some(row) = rows.next() {
        let record = record_named(source, env, row, named)?;
        named = record.deployment.entry.parents.first().copied();
        let listed_before = rows.peek().is_some() || goes_on;
        if named.is_some() != listed_before {
            let id = record.deployment.id;
            let problem = match named {
                Some(parent) => format!("ends at {id}, and does not list its parent {parent}"),
                None => format!("lists deployments before {id}, the first"),
            };
            return Err(StoreError::from(Damaged::new(format!("the log of {env}"), problem)).into());
        }
        records.push(record);
    }
    Ok((records, goes_on))
}

/// Where page `number` (1: the newest) of `env`'s log in pages of `size` starts, read from
/// the ordinal index in two lookups however deep the page; `None` when the ledger has no
/// index that counts every entry (written last by an earlier version): skip instead.
pub fn page_cursor(
    source: &impl Source,
    env: &str,
    number: usize,
    size: usize,
) -> Result<Option<Cursor>, HistoryError> {
    let Some((count, _)) = source.numbered_deployment(env, 0)? else { return Ok(None) };
    let above = u64::try_from((number.max(1) - 1).saturating_mul(size)).unwrap_or(u64::MAX);
    if above == 0 {
        return Ok(Some(Cursor::Newest));
    }
    let Some(newest_ordinal) = count.checked_sub(above).filter(|n| *n > 0) else {
        // Past the oldest deployment: an empty page.
        return Ok(Some(Cursor::Before(0)));
    };
    match source.numbered_deployment(env, newest_ordinal)? {
        Some((_, Some(seq))) => Ok(Some(Cursor::Before(seq + 1))),
        _ => Err(StoreError::from(Damaged::new(
            format!("the ordinal index of {env}"),
            format!("counts {count} deployments and has none numbered {newest_ordinal}"),
        ))
        .into()),
    }
}

/// Where the page of `size` deployments just newer than the one recorded at `newest` starts
/// (`None`: nothing is newer): pages that start at a cursor stay aligned on the way back, and
/// the newest stretch is the first page.
pub fn newer_page(
    source: &impl Source,
    env: &str,
    newest: u64,
    size: usize,
) -> Result<Option<Cursor>, HistoryError> {
    let newer = source.env_log_after(env, newest, size.saturating_add(1))?;
    Ok(match newer.len() {
        0 => None,
        n if n <= size => Some(Cursor::Newest),
        _ => newer.get(size - 1).map(|seq| Cursor::Before(seq + 1)),
    })
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

/// The deployment and outcome a log row names, checked (see [`Source::log_entries`]).
pub fn record_of(source: &impl Source, env: &str, row: EnvLogRow) -> Result<DeploymentRecord, HistoryError> {
    record_named(source, env, row, None)
}

/// The record of a log row whose newest entry `named` names, when that is known.
fn record_named(
    source: &impl Source,
    env: &str,
    row: EnvLogRow,
    named: Option<EntryId>,
) -> Result<DeploymentRecord, HistoryError> {
    let (deployment, outcome) = source.log_entries(env, row, named)?;
    Ok(DeploymentRecord { seq: row.deployment, deployment, outcome })
}

/// The head of `env`'s history, on which its log must agree: there is one exactly when the log
/// has rows.
fn head_of_log(source: &impl Source, env: &str, has_rows: bool) -> Result<Option<EntryId>, HistoryError> {
    let head = source.ref_target(&crate::refs::RefName::env(env))?;
    let damage = match (head, has_rows) {
        (Some(head), false) => {
            Damaged::new(format!("the ref of {env}"), format!("names {head}, and its log is empty"))
        }
        (None, true) => Damaged::new(format!("the log of {env}"), "lists deployments, and it has no ref"),
        (head, _) => return Ok(head),
    };
    Err(StoreError::from(damage).into())
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
    if row.outcome.is_none() {
        return Ok(None);
    }
    Ok(record_of(source, env, row)?.result())
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
