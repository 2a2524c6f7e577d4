//! `/api/…`: the JSON the CLI prints with `--output json`, field for field.
//!
//! `/api/status` is `ledger status`; `/api/log/<env>?limit=&service=` is `ledger log <env>`;
//! `/api/entry/<id>` is `ledger show <id>`; `/api/diff?from=&to=[&commits=true]` is
//! `ledger diff <from> <to> [--commits]`.

use ledger::history;
use serde_json::{Value, json};

use super::{Dashboard, PageError, Params, compare, find_entry};
use crate::output::{Releases, entry_json, record_json};
use crate::views::{Comparison, EnvStatus};

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1_000;

pub fn status(dashboard: &Dashboard) -> Result<Value, PageError> {
    let reader = dashboard.store.read()?;
    let releases = Releases::new(&reader);
    let mut environments = Vec::new();
    for env in dashboard.workspace.manifest.environments.keys() {
        environments.push(EnvStatus::load(&releases, env)?.json());
    }
    Ok(json!({"environments": environments}))
}

pub fn log(dashboard: &Dashboard, env: &str, params: &Params) -> Result<Value, PageError> {
    dashboard.known_env(env)?;
    let service = params.text("service");
    if let Some(service) = service {
        dashboard.workspace.check_service(service)?;
    }
    let limit = params.number("limit", 1..=MAX_LIMIT, DEFAULT_LIMIT)?;
    let reader = dashboard.store.read()?;
    let releases = Releases::new(&reader);
    let records = history::deployments_page(&reader, env, service, 0, limit)?;
    let deployments = records.iter().map(|r| record_json(&releases, r)).collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"env": env, "deployments": deployments}))
}

pub fn entry(dashboard: &Dashboard, text: &str) -> Result<Value, PageError> {
    let reader = dashboard.store.read()?;
    let stored = find_entry(&reader, text)?;
    Ok(entry_json(&Releases::new(&reader), &stored)?)
}

pub fn diff(dashboard: &Dashboard, params: &Params) -> Result<Value, PageError> {
    let (from, to) = compare::sides(params)?.ok_or_else(|| {
        PageError::bad_request("give both sides: ?from=<env, set or id>&to=<env, set or id>")
    })?;
    let with_commits = params.flag("commits")?;
    let reader = dashboard.store.read()?;
    let releases = Releases::new(&reader);
    let comparison = Comparison::load(&dashboard.workspace, &releases, &from, &to, with_commits)
        .map_err(PageError::lookup)?;
    Ok(comparison.json(&releases)?)
}
