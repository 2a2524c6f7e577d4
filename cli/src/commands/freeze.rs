//! `ledger freeze`: stop deployments to an environment until `ledger unfreeze`.

use clap::Args;
use ledger_app::governance::freeze;
use ledger_app::text::inert;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::recorded;
use crate::progress::Shown;

/// Freeze an environment: no deployment reaches it until it is unfrozen
///
/// "Stop the line": while an environment is frozen, `apply`, `promote` and `rollback` to it are
/// refused (exit 4) unless forced with `--override -m <reason>` where the policy allows it. The
/// freeze is an entry: with a remote it is recorded there first, and the whole team's
/// deployments respect it. Recurring freezes (weekends, holidays) are set in ledger.toml
/// (`freeze = [...]`, see docs/policy.md).
///
///   ledger freeze prod -m "incident 4711: payments failing"
///   ledger status                       # shows prod frozen, by whom and why
///   ledger unfreeze prod -m "resolved"
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct FreezeArgs {
    /// The environment to freeze
    pub env: String,
    /// Why (required: the team sees it on every refused deployment)
    #[arg(short, long)]
    pub message: String,
}

pub fn run(globals: &GlobalArgs, args: &FreezeArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let governed = freeze(&workspace, &args.env, &args.message, &Shown::new(globals))?;
    let done = format!(
        "froze {}: deployments to it are refused until `ledger unfreeze {}`",
        inert(&args.env),
        inert(&args.env)
    );
    recorded(globals.json(), &governed.json, &governed.entry.id, &done)?;
    Ok(Finished::Success)
}
