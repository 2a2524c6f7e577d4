//! `log`: an environment's deployments, or every entry, newest first; and `show`'s lookup of one
//! entry.

use ledger::entry::TaskRun;
use ledger::history::{self, Cursor, DeploymentRecord};
use ledger::store::Scope;
use ledger::{EntryId, Source, StoredEntry, task_runs};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::json;
use crate::views::{Releases, resolve_target};
use crate::workspace::Workspace;

/// How far before the oldest deployment shown its releases are first looked for; each further
/// stretch read, while some are still missing, is twice as long as the one before.
const RELEASE_LEAD: u64 = 64;
/// The longest stretch of recent history read so; beyond it, releases are looked up by id.
const RECENT_WINDOW: u64 = 4096;

/// An environment's newest deployments.
pub struct EnvLog {
    pub env: String,
    pub records: Vec<DeploymentRecord>,
    /// Older ones were left out.
    pub more: bool,
    /// The newest task runs (`before`, `verify`, `ledger run`), newest first.
    pub tasks: Vec<StoredEntry>,
}

impl EnvLog {
    /// `{"env", "deployments": [deployment entry + "result" + "outcome"], "tasks": [task run]}`.
    pub fn json<S: Source>(&self, releases: &Releases<'_, S>) -> Result<Value> {
        let deployments =
            self.records.iter().map(|r| json::record(releases, r)).collect::<Result<Vec<_>>>()?;
        let tasks = self.tasks.iter().map(|t| json::entry(releases, t)).collect::<Result<Vec<_>>>()?;
        Ok(json!({"env": self.env, "deployments": deployments, "tasks": tasks}))
    }

    /// The task runs of `deployment`, oldest first.
    pub fn tasks_of(&self, deployment: EntryId) -> impl Iterator<Item = &TaskRun> {
        let runs = self.tasks.iter().rev().filter_map(|t| t.entry.as_task_run());
        runs.filter(move |run| run.purpose.deployment() == Some(deployment))
    }
}

/// The newest `limit` deployments to `env` (of `service`, when given).
pub fn env_log<S: Source>(
    workspace: &Workspace,
    releases: &Releases<'_, S>,
    env: &str,
    service: Option<&str>,
    limit: usize,
) -> Result<EnvLog> {
    if let Some(service) = service {
        workspace.check_service(service)?;
    }
    workspace.environment(env)?;
    let reader = releases.source();
    let (records, more) = match service {
        Some(service) => {
            at_most(limit, |wanted| history::env_service_deployments(reader, env, service, wanted))?
        }
        None => history::log_page_and_more(reader, env, Cursor::Newest, 0, limit)?,
    };
    // The releases these deployments name were mostly recorded shortly before them: reading
    // that stretch of history once, in order, beats looking each one up by id.
    if let Some(oldest) = records.last()
        && let Some(&newest) = reader.newest(1)?.first()
    {
        let mut wanted = releases.unknown_releases(&records);
        let mut lead = RELEASE_LEAD;
        let mut end = newest + 1;
        let mut first = oldest.seq.saturating_sub(lead);
        while !wanted.is_empty() && newest - first <= RECENT_WINDOW {
            releases.learn_between(first..end, &mut wanted)?;
            if first == 0 {
                break;
            }
            end = first;
            lead *= 2;
            first = first.saturating_sub(lead);
        }
    }
    let tasks = task_runs::newest(reader, env, service, limit)?;
    Ok(EnvLog { env: env.to_string(), records, more, tasks })
}

/// Which page of an environment's log to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageAt {
    /// Page `n` (1: the newest).
    Number(usize),
    /// The page that starts at a cursor (the whole log only).
    Cursor(Cursor),
}

/// One page of an environment's deployments, and where its neighbours start.
pub struct LogPage {
    pub log: EnvLog,
    /// Of the whole log: where the next newer page starts, when there is one.
    pub newer: Option<Cursor>,
    /// Of the whole log: where the next older page starts, when there is one.
    pub older: Option<Cursor>,
}

/// One page of `limit` deployments to `env` (that changed `service`, when given), for the
/// dashboard. A page of the whole log is a range read at any depth (a numbered one finds its
/// start in the ordinal index); pages of one service's deployments are numbered only, and read
/// the pages before them.
pub fn env_log_page<S: Source>(
    workspace: &Workspace,
    releases: &Releases<'_, S>,
    env: &str,
    service: Option<&str>,
    at: PageAt,
    limit: usize,
) -> Result<LogPage> {
    workspace.environment(env)?;
    if let Some(service) = service {
        workspace.check_service(service)?;
    }
    let source = releases.source();
    let (cursor, skip) = match (at, service) {
        (PageAt::Cursor(_), Some(_)) => {
            return Err(Error::usage("a page of one service's deployments is asked for by number"));
        }
        (PageAt::Cursor(cursor), None) => (Some(cursor), 0),
        (PageAt::Number(number), None) => match history::page_cursor(source, env, number, limit)? {
            Some(cursor) => (Some(cursor), 0),
            None => (None, (number.max(1) - 1).saturating_mul(limit)),
        },
        (PageAt::Number(number), Some(_)) => (None, (number.max(1) - 1).saturating_mul(limit)),
    };
    let (records, more) = match (cursor, service) {
        (Some(cursor), _) => history::log_page_and_more(source, env, cursor, 0, limit)?,
        (None, None) => history::log_page_and_more(source, env, Cursor::Newest, skip, limit)?,
        (None, Some(_)) => {
            at_most(limit, |wanted| history::deployments_page(source, env, service, skip, wanted))?
        }
    };
    let (mut newer, mut older) = (None, None);
    if service.is_none() {
        if let Some(newest) = records.first() {
            newer = history::newer_page(source, env, newest.seq, limit)?;
        }
        older = records.last().filter(|_| more).map(|oldest| Cursor::Before(oldest.seq));
    }
    Ok(LogPage { log: EnvLog { env: env.to_string(), records, more, tasks: Vec::new() }, newer, older })
}

/// The newest entries of the whole ledger (of `service`, when given).
pub struct EntryLog {
    pub entries: Vec<StoredEntry>,
    pub more: bool,
}

impl EntryLog {
    /// `{"entries": [entry, …]}`.
    pub fn json<S: Source>(&self, releases: &Releases<'_, S>) -> Result<Value> {
        let entries = self.entries.iter().map(|e| json::entry(releases, e)).collect::<Result<Vec<_>>>()?;
        Ok(json!({"entries": entries}))
    }
}

/// The newest `limit` entries (concerning `service`, when given).
pub fn entry_log<S: Source>(
    workspace: &Workspace,
    releases: &Releases<'_, S>,
    service: Option<&str>,
    limit: usize,
) -> Result<EntryLog> {
    if let Some(service) = service {
        workspace.check_service(service)?;
    }
    let reader = releases.source();
    let (seqs, more) = at_most(limit, |wanted| match service {
        Some(service) => reader.newest_in(&Scope::Service(service), wanted),
        None => reader.newest(wanted),
    })?;
    let mut entries = Vec::with_capacity(seqs.len());
    for seq in seqs {
        entries.push(
            reader
                .entry_at(seq)?
                .ok_or_else(|| Error::failed(format!("entry #{seq} is missing; run `ledger verify`")))?,
        );
    }
    Ok(EntryLog { entries, more })
}

/// At most `limit` of what `read` finds when asked for a number of rows, and whether it found
/// more: one more than asked for tells.
fn at_most<T, E>(limit: usize, read: impl FnOnce(usize) -> Result<Vec<T>, E>) -> Result<(Vec<T>, bool)>
where
    Error: From<E>,
{
    let mut rows = read(limit.saturating_add(1))?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    Ok((rows, more))
}

/// One entry, as `show` finds it: by id, prefix, ref, or the name of an environment, service
/// set or service.
pub struct Shown {
    pub entry: StoredEntry,
    /// For a deployment: its outcome, when it has one.
    pub outcome: Option<StoredEntry>,
    /// `show --output json`.
    pub json: Value,
}

pub fn show<S: Source>(workspace: &Workspace, releases: &Releases<'_, S>, target: &str) -> Result<Shown> {
    let reader = releases.source();
    let id = resolve_target(workspace, reader, target)?;
    let entry = reader.entry(&id)?.ok_or_else(|| Error::failed(format!("entry {id} is missing")))?;
    let outcome = match entry.entry.as_deployment() {
        Some(_) => reader.outcome_of(&entry)?,
        None => None,
    };
    let json = json::entry(releases, &entry)?;
    Ok(Shown { entry, outcome, json })
}
