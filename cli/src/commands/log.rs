//! `ledger log`: an environment's deployments, or every entry, newest first.

use clap::Args;
use ledger::history::{self, DeploymentRecord};
use ledger::store::Scope;
use ledger::{Body, Source, StoredEntry};
use serde_json::json;

use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult, Finished};
use crate::output::{Releases, Style, entry_json, print_json, record_json, table, trigger_human};
use crate::workspace::Workspace;

/// Show history, newest first: an environment's deployments, or every entry
///
/// With an environment: each deployment with who, when, why, what changed and how it ended.
/// Without: every entry (releases, release sets, deployments, outcomes), one per line.
///
/// Examples:
///   ledger log prod
///   ledger log prod --service api -n 5
///   ledger log --output json
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct LogArgs {
    /// An environment from ledger.toml [default: every entry]
    pub env: Option<String>,

    /// How many to show
    #[arg(short = 'n', long = "limit", default_value_t = 20, value_name = "N")]
    pub limit: usize,

    /// Only what concerns this service
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &LogArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    if let Some(service) = &args.service {
        workspace.check_service(service)?;
    }
    let store = workspace.open_store_for_reading()?;
    let reader = store.read()?;
    let releases = Releases::new(&reader);
    match &args.env {
        Some(env) => {
            workspace.environment(env)?;
            // One more than asked for tells whether there is more.
            let mut records = match &args.service {
                Some(service) => {
                    history::env_service_deployments(&reader, env, service, args.limit.saturating_add(1))?
                }
                None => history::env_deployments(&reader, env, args.limit.saturating_add(1))?,
            };
            let more = records.len() > args.limit;
            records.truncate(args.limit);
            // The releases these deployments name were mostly recorded shortly before them:
            // reading that stretch of history once, in order, beats looking each one up by id.
            if let Some(oldest) = records.last() {
                let first = oldest.seq.saturating_sub(RELEASE_LEAD);
                if reader.newest(1)?.first().is_some_and(|newest| newest - first <= RECENT_WINDOW) {
                    releases.learn_recent(first)?;
                }
            }
            if globals.json() {
                let deployments =
                    records.iter().map(|r| record_json(&releases, r)).collect::<Result<Vec<_>, _>>()?;
                print_json(&json!({"env": env, "deployments": deployments}));
            } else if records.is_empty() {
                println!("no deployments to {env} yet");
            } else {
                print!("{}", render_env_log(&releases, &records)?);
                hint_more(more, args.limit);
            }
        }
        None => {
            let wanted = args.limit.saturating_add(1);
            let mut seqs = match &args.service {
                Some(service) => reader.newest_in(&Scope::Service(service), wanted)?,
                None => reader.newest(wanted)?,
            };
            let more = seqs.len() > args.limit;
            seqs.truncate(args.limit);
            let mut entries = Vec::with_capacity(seqs.len());
            for seq in seqs {
                entries.push(reader.entry_at(seq)?.ok_or_else(|| {
                    CommandError::failed(format!("entry #{seq} is missing; run `ledger verify`"))
                })?);
            }
            if globals.json() {
                let entries =
                    entries.iter().map(|e| entry_json(&releases, e)).collect::<Result<Vec<_>, _>>()?;
                print_json(&json!({"entries": entries}));
            } else if entries.is_empty() {
                println!("the ledger is empty; start with `ledger register`");
            } else {
                print!("{}", render_entry_lines(&releases, &entries)?);
                hint_more(more, args.limit);
            }
        }
    }
    Ok(Finished::Success)
}

/// How far before the oldest deployment shown its releases are looked for.
const RELEASE_LEAD: u64 = 64;
/// The longest stretch of recent history read in one go; beyond it, releases are looked up by id.
const RECENT_WINDOW: u64 = 4096;

/// Says on stderr that older entries were left out, and how to see them.
fn hint_more(more: bool, limit: usize) {
    if more {
        eprintln!("(the {limit} most recent; older ones with -n {})", limit.saturating_mul(2).max(1));
    }
}

/// git-log-like blocks: one per deployment.
pub fn render_env_log<S: Source>(
    releases: &Releases<'_, S>,
    records: &[DeploymentRecord],
) -> Result<String, CommandError> {
    let style = Style::detect();
    let mut out = String::new();
    for record in records {
        let entry = &record.deployment.entry;
        let Body::Deployment(deployment) = &entry.body else {
            continue;
        };
        out.push_str(&format!(
            "{} {}  {}\n",
            style.bold("deployment"),
            style.bold(&record.deployment.id.short()),
            style.result(record.result())
        ));
        out.push_str(&format!("When:    {}\n", entry.at.to_human()));
        out.push_str(&format!("Who:     {}\n", entry.actor));
        out.push_str(&format!("How:     {}\n", trigger_human(&deployment.trigger, deployment.release_set)));
        if !entry.message.is_empty() {
            out.push('\n');
            for line in entry.message.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        out.push('\n');
        let mut rows = Vec::new();
        for (service, change) in &deployment.changes {
            rows.push(vec![
                format!("    {service}"),
                releases.human(change.from)?,
                "->".into(),
                releases.human(Some(change.to))?,
            ]);
        }
        out.push_str(&table(&rows));
        if let Some(outcome) = record.outcome.as_ref().and_then(|o| o.entry.as_outcome()) {
            for (service, result) in &outcome.services {
                if result.result != ledger::DeployResult::Succeeded {
                    out.push_str(&format!(
                        "    {} {}: {}\n",
                        style.warn(service),
                        result.result.as_str(),
                        result.detail
                    ));
                }
            }
        }
        out.push('\n');
    }
    Ok(out)
}

/// One line per entry: id, when, kind, what, who, message.
fn render_entry_lines<S: Source>(
    releases: &Releases<'_, S>,
    entries: &[StoredEntry],
) -> Result<String, CommandError> {
    let style = Style::detect();
    let mut rows = Vec::new();
    for stored in entries {
        let entry = &stored.entry;
        let what = match &entry.body {
            Body::Release(release) => {
                format!("{} {}", release.service, releases.view(stored.id)?.human())
            }
            Body::ReleaseSet(set) => format!(
                "{}: {}",
                set.service_set.as_deref().unwrap_or("all"),
                set.releases.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            Body::Deployment(deployment) => format!(
                "{}: {}",
                deployment.env,
                deployment.changes.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            Body::Outcome(outcome) => {
                let env = releases
                    .source()
                    .entry(&entry.parents[0])?
                    .and_then(|d| d.entry.as_deployment().map(|d| d.env.clone()))
                    .unwrap_or_default();
                format!("{env}: {}", style.result(Some(outcome.result)))
            }
        };
        rows.push(vec![
            stored.id.short(),
            entry.at.to_human(),
            entry.kind().as_str().to_string(),
            what,
            entry.actor.clone(),
            entry.message.lines().next().unwrap_or("").to_string(),
        ]);
    }
    Ok(table(&rows))
}
