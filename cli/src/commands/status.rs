//! `ledger status`: what runs in each environment, its last outcome, anything in flight.

use clap::Args;
use ledger::Source;
use ledger::history::{self, DeploymentRecord};
use ledger::store::refs;
use serde_json::{Map, json};

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{Releases, Style, print_json, table};
use crate::workspace::Workspace;

/// Show what runs in each environment, its last outcome, and whether a deployment is in flight
///
/// A deployment "in flight" was recorded without an outcome: it is still running or was
/// interrupted. The next apply to that environment refuses until it is resolved.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    /// One environment [default: all of ledger.toml's]
    pub env: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &StatusArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    let envs: Vec<String> = match &args.env {
        Some(env) => {
            workspace.environment(env)?;
            vec![env.clone()]
        }
        None => workspace.manifest.environments.keys().cloned().collect(),
    };
    let store = workspace.open_store_for_reading()?;
    let reader = store.read()?;
    let releases = Releases::new(&reader);
    let style = Style::detect();
    let mut environments = Vec::new();
    let mut human = String::new();
    for env in &envs {
        let head = reader.ref_target(&refs::env(env))?;
        let in_flight = history::in_flight(&reader, env)?;
        let last = last_concluded(&reader, env)?;
        let placed = reader.env_state_placed(env)?;
        releases.learn_placed(&placed)?;
        let state: std::collections::BTreeMap<_, _> =
            placed.into_iter().map(|(service, (id, _))| (service, id)).collect();
        let mut state_json = Map::new();
        let mut rows = Vec::new();
        for (service, release) in &state {
            let view = releases.view(*release)?;
            rows.push(vec![format!("  {service}"), view.human(), release.short()]);
            state_json.insert(service.clone(), view.json());
        }
        environments.push(json!({
            "env": env,
            "head": head.map(|id| id.to_hex()),
            "state": state_json,
            "last_result": last.as_ref().and_then(DeploymentRecord::result).map(|r| r.as_str()),
            "in_flight": in_flight.is_some(),
        }));

        let config = &workspace.manifest.environments[env];
        let protected = if config.protected { ", protected" } else { "" };
        human.push_str(&format!("{} ({}{protected})\n", style.bold(env), config.name));
        match &last {
            Some(record) => human.push_str(&format!(
                "  last deployment {}: {}, {} by {}\n",
                record.deployment.id.short(),
                style.result(record.result()),
                record.deployment.entry.at.to_human(),
                record.deployment.entry.actor
            )),
            None => human.push_str("  no deployments yet\n"),
        }
        if let Some(deployment) = in_flight {
            human.push_str(&format!(
                "  {}\n",
                style.warn(&format!(
                    "deployment {} is in flight: recorded without an outcome",
                    deployment.short()
                ))
            ));
        }
        human.push_str(&table(&rows));
    }
    if globals.json() {
        print_json(&json!({"environments": environments}));
    } else {
        print!("{human}");
    }
    Ok(Finished::Success)
}

/// The newest deployment of `env` that has an outcome.
fn last_concluded(
    reader: &impl Source,
    env: &str,
) -> Result<Option<DeploymentRecord>, ledger::history::HistoryError> {
    let recent = history::env_deployments(reader, env, 2)?;
    Ok(recent.into_iter().find(|record| record.outcome.is_some()))
}
