//! `ledger approvals`: what waits to reach an environment, at which gate, and who approved what.

use clap::Args;
use ledger_app::governance::approvals;
use ledger_app::text::inert;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{Style, outln, print_json, table};
use crate::progress::render_plan;

/// Show what waits to reach an environment, at which gate, and the approvals recorded for it
///
/// For each environment the policy `requires`, the promotion from it that would happen now, with
/// every gate and its state ("approvals 1 of 2: alice@example.com"); then the newest approvals
/// recorded for the environment (with a remote, pull first to see the team's).
///
///   ledger approvals prod
///   ledger approve stage prod -m "QA signed off"
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ApprovalsArgs {
    /// The environment
    pub env: String,
}

pub fn run(globals: &GlobalArgs, args: &ApprovalsArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let listed = approvals(&workspace, &args.env)?;
    if globals.json() {
        print_json(&listed.json)?;
        return Ok(Finished::Success);
    }
    let env = inert(&args.env);
    let waiting = &listed.waiting;
    if let Some(frozen) = &waiting.frozen {
        outln(&format!("{env} is {}", inert(&frozen.state)))?;
    }
    if waiting.candidates.is_empty() {
        outln(&format!("nothing waits to reach {env} from the environments its policy requires"))?;
    }
    for candidate in &waiting.candidates {
        outln(&format!("promote {} {env}:", inert(&candidate.from_env)))?;
        outln(render_plan(&candidate.plan, Style::detect()).trim_end())?;
    }
    if listed.recent.is_empty() {
        outln(&format!("no approvals recorded for {env}"))?;
        return Ok(Finished::Success);
    }
    outln(&format!("approvals for {env}, newest first:"))?;
    let mut rows = vec![["ID", "RELEASE SET", "WHO", "WHEN", "WHY"].map(String::from).to_vec()];
    for (set, approval) in &listed.recent {
        rows.push(vec![
            approval.id.short(),
            set.short(),
            inert(&approval.actor).into_owned(),
            approval.at.to_human(),
            inert(approval.message.lines().next().unwrap_or("")).into_owned(),
        ]);
    }
    outln(table(&rows).trim_end())?;
    Ok(Finished::Success)
}
