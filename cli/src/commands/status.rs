//! `ledger status`: what runs in each environment, its last outcome, anything in flight; with
//! `--live`, beside what ECS runs and what SSM holds.

use clap::Args;
use ledger_app::Workspace;
use ledger_app::gates::Waiting;
use ledger_app::status::{self, Live, Status};
use ledger_app::text::inert;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{Style, out, print_json, table};

/// Show what runs in each environment, its last outcome, and whether a deployment is in flight
///
/// A deployment "in flight" was recorded without an outcome: it is still running or was
/// interrupted (`ledger reconcile` resolves it); one "submitted" was applied with --no-wait
/// (`ledger wait` records how it ended). The next apply to that environment refuses until then.
///
/// With --live, each environment on ECS is compared with what runs there: the image of each
/// service's container in the task definition of its PRIMARY deployment, and the SSM parameter
/// <ssm_prefix>/<service>. Any difference from the ledger is drift: a change made behind the
/// ledger's back, or a deployment that did not end as recorded. An ECS deployment that no
/// ledger user started (a console deploy, a one-click rollback, another tool) is named, with
/// when ECS started it, even when it runs the same image; `ledger observe` records it.
///
/// Examples:
///   ledger status
///   ledger status prod --live --exit-code     exit 3 when prod has drifted
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    /// One environment [default: all of ledger.toml's]
    pub env: Option<String>,

    /// Compare with what ECS runs and SSM holds (environments on ECS; calls AWS)
    #[arg(long)]
    pub live: bool,

    /// With --live: exit 3 when any environment has drifted
    #[arg(long, requires = "live")]
    pub exit_code: bool,
}

pub fn run(globals: &GlobalArgs, args: &StatusArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let status = status::status(&workspace, args.env.as_deref(), args.live)?;
    if globals.json() {
        print_json(&status.json())?;
    } else {
        out(&render(&workspace, &status, args.live))?;
    }
    Ok(if args.exit_code && status.drift() { Finished::Failed } else { Finished::Success })
}

fn render(workspace: &Workspace, status: &Status, live: bool) -> String {
    let style = Style::detect();
    let mut human = String::new();
    for report in &status.environments {
        let status = &report.status;
        let env = &status.env;
        let config = &workspace.manifest.environments[env];
        let protected = if config.protected { ", protected" } else { "" };
        human.push_str(&format!("{} ({}{protected})\n", style.bold(env), config.name));
        match &status.last {
            Some(record) => {
                let forced = record.deployment.entry.as_deployment().and_then(|d| d.trigger.forced_gates());
                human.push_str(&format!(
                    "  last deployment {}: {}, {} by {}{}\n",
                    record.deployment.id.short(),
                    style.result(record.result()),
                    record.deployment.entry.at.to_human(),
                    inert(&record.deployment.entry.actor),
                    forced.map_or(String::new(), |gates| format!(", forced past {}", gates.join(", ")))
                ))
            }
            None => human.push_str("  no deployments yet\n"),
        }
        if let Some(unfinished) = status.unfinished {
            let (what, next) = match unfinished.submitted {
                None => ("is in flight: recorded without an outcome", "reconcile"),
                Some(_) => ("was submitted without waiting", "wait"),
            };
            let line = format!("deployment {} {what} (`ledger {next} {env}`)", unfinished.deployment.short());
            human.push_str(&format!("  {}\n", style.warn(&line)));
        }
        human.push_str(&render_waiting(&style, &report.waiting));
        match (&report.live, live) {
            (Some(live), _) => human.push_str(&render_live(env, live)),
            (None, true) => human.push_str("  record-only: nothing live to compare\n"),
            (None, false) => {
                let rows: Vec<Vec<String>> = status
                    .state
                    .iter()
                    .map(|(service, view)| {
                        vec![format!("  {}", inert(service)), view.human(), view.id.short()]
                    })
                    .collect();
                human.push_str(&table(&rows));
            }
        }
    }
    if let Some(outbox) = status.outbox.as_ref().filter(|outbox| !outbox.events.is_empty()) {
        let failing = outbox.failing().count();
        let line = format!(
            "notify: {} event(s) wait in the outbox, {failing} failing; `ledger notify` shows them, `ledger notify --flush` delivers them\n",
            outbox.events.len()
        );
        human.push_str(&if failing > 0 { style.warn(&line) } else { line });
    }
    human
}

/// Whether the environment is frozen, and each promotion waiting to reach it with the gates it
/// does not pass yet.
fn render_waiting(style: &Style, waiting: &Waiting) -> String {
    let mut lines = String::new();
    if let Some(frozen) = &waiting.frozen {
        lines.push_str(&format!("  {}\n", style.warn(&inert(&frozen.state))));
    }
    for candidate in &waiting.candidates {
        let count = candidate.plan.changes.len();
        let refused: Vec<String> = candidate
            .plan
            .gates
            .iter()
            .filter(|gate| !gate.passed)
            .map(|gate| inert(&gate.state).into_owned())
            .collect();
        let verdict = if refused.is_empty() {
            "every gate passed".to_string()
        } else {
            format!("waits at {}", refused.join("; "))
        };
        lines.push_str(&format!(
            "  promote {} ({count} service{}): {verdict}\n",
            inert(&candidate.from_env),
            if count == 1 { "" } else { "s" }
        ));
    }
    lines
}

/// The ledger's image of each service beside ECS's and SSM's, and what any drift means.
fn render_live(env: &str, live: &Live) -> String {
    let mut rows =
        vec![vec!["  SERVICE".to_string(), "LEDGER".into(), "ECS".into(), "SSM".into(), String::new()]];
    let show = |image: &Option<String>| inert(image.as_deref().unwrap_or("-")).into_owned();
    for row in &live.services {
        let drifted: Vec<&str> =
            [(row.ecs_drift(), "ECS"), (!row.fields.is_empty(), "task definition"), (row.ssm_drift(), "SSM")]
                .into_iter()
                .filter_map(|(drifted, what)| drifted.then_some(what))
                .collect();
        let mark = if drifted.is_empty() { String::new() } else { format!("DRIFT: {}", drifted.join(", ")) };
        rows.push(vec![
            format!("  {}", inert(&row.service)),
            show(&row.ledger),
            inert(&row.ecs_shown).into_owned(),
            show(&row.ssm),
            mark,
        ]);
    }
    let mut human = table(&rows);
    if live.ecs_drift() {
        human.push_str(&format!(
            "  drift: ECS does not run what the ledger recorded in {env}; `ledger log {env}` shows what was deployed\n"
        ));
    }
    for row in &live.services {
        for change in &row.fields {
            human.push_str(&format!("  {}: DRIFT: {}\n", inert(&row.service), inert(&change.human())));
        }
    }
    if live.services.iter().any(|row| !row.fields.is_empty()) {
        human.push_str(&format!(
            "  drift: a task definition ECS runs in {env} was changed since the ledger registered it; its next deployment keeps the change\n"
        ));
    }
    if live.ssm_drift() {
        human.push_str(&format!(
            "  drift: SSM under {} does not name what the ledger recorded; an apply of a service writes its parameter\n",
            live.ssm_prefix
        ));
    }
    for row in &live.services {
        if let Some(unrecorded) = &row.unrecorded {
            human.push_str(&format!("  {}: {}\n", inert(&row.service), inert(&unrecorded.describe())));
        }
    }
    if live.unrecorded() {
        human.push_str(&format!(
            "  `ledger observe {env}` records what ECS runs as an observed deployment, so the history stays complete\n"
        ));
    }
    human
}
