//! `ledger log`: an environment's deployments, or every entry, newest first.

use std::fmt::Write as _;

use clap::Args;
use ledger_app::ledger::entry::TaskRun;
use ledger_app::ledger::{Body, DeployResult, Source, StoredEntry};
use ledger_app::log::{self, EnvLog};
use ledger_app::tasks;
use ledger_app::text::inert;
use ledger_app::views::{Releases, describe_trigger};

use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult, Finished};
use crate::output::{Style, json_text, note, out, table, write_table};

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
    let workspace = globals.workspace()?;
    let service = args.service.as_deref();
    workspace
        .read(|releases| {
            let text = match &args.env {
                Some(env) => {
                    let log = log::env_log(&workspace, releases, env, service, args.limit)?;
                    if globals.json() {
                        json_text(&log.json(releases)?)
                    } else if log.records.is_empty() && log.tasks.is_empty() {
                        format!("no deployments to {env} yet\n")
                    } else {
                        let mut text = render_env_log(releases, &log)?;
                        text.push_str(&render_task_runs(&log.tasks));
                        hint_more(log.more, args.limit);
                        text
                    }
                }
                None => {
                    let log = log::entry_log(&workspace, releases, service, args.limit)?;
                    if globals.json() {
                        json_text(&log.json(releases)?)
                    } else if log.entries.is_empty() {
                        "the ledger is empty; start with `ledger register`\n".to_string()
                    } else {
                        let text = render_entry_lines(releases, &log.entries)?;
                        hint_more(log.more, args.limit);
                        text
                    }
                }
            };
            Ok(text)
        })
        .map_err(CommandError::from)
        .and_then(|text| out(&text))?;
    Ok(Finished::Success)
}

/// Says on stderr that older entries were left out, and how to see them.
fn hint_more(more: bool, limit: usize) {
    if more {
        note(&format!("(the {limit} most recent; older ones with -n {})", limit.saturating_mul(2).max(1)));
    }
}

/// git-log-like blocks: one per deployment, written into one buffer as they are rendered.
pub fn render_env_log<S: Source>(releases: &Releases<'_, S>, log: &EnvLog) -> ledger_app::Result<String> {
    let style = Style::detect();
    let heading = style.bold("deployment");
    let mut out = String::with_capacity(log.records.len() * 320);
    let mut rows = Vec::new();
    // (Writing to a String cannot fail.)
    for record in &log.records {
        let entry = &record.deployment.entry;
        let Body::Deployment(deployment) = &entry.body else {
            continue;
        };
        let _ = writeln!(
            out,
            "{heading} {}  {}",
            style.bold(&record.deployment.id.short()),
            style.result(record.result())
        );
        let _ = writeln!(out, "When:    {}", entry.at.to_human());
        let _ = writeln!(out, "Who:     {}", inert(&entry.actor));
        let signature = releases.signature(&record.deployment)?;
        if signature.notable() {
            let _ = writeln!(out, "Signed:  {}", inert(&signature.text()));
        }
        let _ = writeln!(out, "How:     {}", describe_trigger(&deployment.trigger, deployment.release_set));
        if !entry.message.is_empty() {
            out.push('\n');
            for line in entry.message.lines() {
                let _ = writeln!(out, "    {}", inert(line));
            }
        }
        out.push('\n');
        rows.clear();
        for (service, change) in &deployment.changes {
            rows.push(vec![
                format!("    {}", inert(service)),
                releases.human(change.from)?,
                "->".into(),
                releases.human(Some(change.to))?,
            ]);
        }
        write_table(&mut out, &rows);
        if let Some(outcome) = record.outcome.as_ref().and_then(|o| o.entry.as_outcome()) {
            for (service, result) in &outcome.services {
                if result.result != DeployResult::Succeeded {
                    let _ = writeln!(
                        out,
                        "    {} {}: {}",
                        style.warn(&inert(service)),
                        result.result.as_str(),
                        inert(result.said())
                    );
                }
            }
        }
        for run in log.tasks_of(record.deployment.id) {
            let _ = writeln!(out, "    {}", task_line(&style, run));
        }
        out.push('\n');
    }
    Ok(out)
}

/// One line per task run: purpose, service, command, how it ended, its task and logs.
fn task_line(style: &Style, run: &TaskRun) -> String {
    let result =
        if run.succeeded { style.result(Some(DeployResult::Succeeded)) } else { style.warn("failed") };
    let task = run.task.as_deref().map_or(String::new(), |task| format!("; task {}", inert(task)));
    format!(
        "{} {} `{}`: {result}, {}{task}; logs: {}",
        run.purpose.as_str(),
        inert(&run.service),
        inert(&run.command.join(" ")),
        inert(&run.detail),
        inert(&tasks::logs_line(run))
    )
}

/// The environment's newest task runs, each with who and when.
fn render_task_runs(runs: &[StoredEntry]) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let style = Style::detect();
    let mut out = format!("{}\n", style.bold("task runs"));
    for stored in runs {
        let Some(run) = stored.entry.as_task_run() else { continue };
        let deployment =
            run.purpose.deployment().map_or(String::new(), |d| format!(" (deployment {})", d.short()));
        let _ = writeln!(
            out,
            "{}  {}  {}{deployment}",
            stored.id.short(),
            stored.entry.at.to_human(),
            inert(&stored.entry.actor)
        );
        let _ = writeln!(out, "    {}", task_line(&style, run));
    }
    out
}

/// One line per entry: id, when, kind, what, who, message.
fn render_entry_lines<S: Source>(
    releases: &Releases<'_, S>,
    entries: &[StoredEntry],
) -> ledger_app::Result<String> {
    let style = Style::detect();
    let mut rows = Vec::new();
    for stored in entries {
        let entry = &stored.entry;
        let what = match &entry.body {
            Body::Release(release) => {
                format!("{} {}", inert(&release.service), releases.view(stored.id)?.human())
            }
            Body::ReleaseSet(set) => inert(&format!(
                "{}: {}",
                set.service_set.as_deref().unwrap_or("all"),
                set.releases.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
            .into_owned(),
            Body::Deployment(deployment) => inert(&format!(
                "{}: {}{}",
                deployment.env,
                deployment.changes.keys().cloned().collect::<Vec<_>>().join(", "),
                deployment
                    .trigger
                    .forced_gates()
                    .map_or(String::new(), |gates| format!(" (forced past {})", gates.join(", ")))
            ))
            .into_owned(),
            Body::Outcome(outcome) => {
                let env = releases
                    .source()
                    .entry(&entry.parents[0])?
                    .and_then(|d| d.entry.as_deployment().map(|d| d.env.clone()))
                    .unwrap_or_default();
                format!("{}: {}", inert(&env), style.result(Some(outcome.result)))
            }
            Body::Approval(approval) => {
                format!("{}: release set {}", inert(&approval.env), approval.release_set.short())
            }
            Body::Freeze(freeze) => inert(&freeze.env).into_owned(),
            Body::Unfreeze(unfreeze) => inert(&unfreeze.env).into_owned(),
            Body::Quarantine(quarantine) => quarantine.target.short(),
            Body::TaskRun(run) => inert(&format!(
                "{}: {} {} `{}`: {}",
                run.env,
                run.purpose.as_str(),
                run.service,
                run.command.join(" "),
                if run.succeeded { "succeeded" } else { "failed" }
            ))
            .into_owned(),
        };
        let signature = releases.signature(stored)?;
        let who = match signature.notable() {
            true => format!("{} [signed: {}]", inert(&entry.actor), inert(&signature.text())),
            false => inert(&entry.actor).into_owned(),
        };
        rows.push(vec![
            stored.id.short(),
            entry.at.to_human(),
            entry.kind().as_str().to_string(),
            what,
            who,
            inert(entry.message.lines().next().unwrap_or("")).into_owned(),
        ]);
    }
    Ok(table(&rows))
}
