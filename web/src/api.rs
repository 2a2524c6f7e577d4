//! `/api/…`: the JSON the CLI prints with `--output json`, field for field.
//!
//! `/api/status` is `ledger status` (each environment's `frozen` and `waiting` included);
//! `/api/log/<env>?limit=&service=` is `ledger log <env>` (a forced deployment's `forced`
//! included); `/api/entry/<id>` is `ledger show <id>`; `/api/diff?from=&to=[&commits=true]` is
//! `ledger diff <from> <to> [--commits]`; `/api/approvals/<env>` is `ledger approvals <env>`.

use ledger_app::ledger::Timestamp;
use ledger_app::views::{Comparison, Releases};
use ledger_app::{governance, log, notify, status};
use serde_json::Value;

use super::{Dashboard, PageError, Params, compare};

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1_000;

/// Each environment as `ledger status` shows it: what runs, how its last deployment ended,
/// whether it is frozen (`frozen`) and what waits to reach it, at which gate (`waiting`); and the
/// events the outbox still owes its sinks (`notify`).
pub fn status(dashboard: &Dashboard, now: Timestamp) -> Result<Value, PageError> {
    let reader = dashboard.store.read()?;
    let envs: Vec<String> = dashboard.workspace.manifest.environments.keys().cloned().collect();
    let releases = Releases::new(&reader, &dashboard.workspace.trust);
    let mut status = status::governed(&dashboard.workspace, &releases, &envs, now)?;
    status.outbox = Some(notify::outbox_in(&dashboard.workspace, &dashboard.store)?);
    Ok(status.json())
}

/// What waits to reach `env` and at which gate, and the approvals recorded for it, as
/// `ledger approvals <env>` shows them.
pub fn approvals(dashboard: &Dashboard, env: &str, now: Timestamp) -> Result<Value, PageError> {
    dashboard.known_env(env)?;
    let reader = dashboard.store.read()?;
    Ok(governance::approvals_in(
        &dashboard.workspace,
        &Releases::new(&reader, &dashboard.workspace.trust),
        env,
        now,
    )?
    .json)
}

pub fn log(dashboard: &Dashboard, env: &str, params: &Params) -> Result<Value, PageError> {
    dashboard.known_env(env)?;
    let service = params.text("service");
    if let Some(service) = service {
        dashboard.workspace.check_service(service).map_err(|e| PageError::bad_request(e.message))?;
    }
    let limit = params.number("limit", 1..=MAX_LIMIT, DEFAULT_LIMIT)?;
    let reader = dashboard.store.read()?;
    let releases = Releases::new(&reader, &dashboard.workspace.trust);
    Ok(log::env_log(&dashboard.workspace, &releases, env, service, limit)?.json(&releases)?)
}

pub fn entry(dashboard: &Dashboard, text: &str) -> Result<Value, PageError> {
    let reader = dashboard.store.read()?;
    Ok(log::show(&dashboard.workspace, &Releases::new(&reader, &dashboard.workspace.trust), text)?.json)
}

pub fn diff(dashboard: &Dashboard, params: &Params) -> Result<Value, PageError> {
    let (from, to) = compare::sides(params)?.ok_or_else(|| {
        PageError::bad_request("give both sides: ?from=<env, set or id>&to=<env, set or id>")
    })?;
    let with_commits = params.flag("commits")?;
    let reader = dashboard.store.read()?;
    let releases = Releases::new(&reader, &dashboard.workspace.trust);
    let comparison = Comparison::load(&dashboard.workspace, &releases, &from, &to, with_commits)
        .map_err(PageError::lookup)?;
    Ok(comparison.json(&releases)?)
}
