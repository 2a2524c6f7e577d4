//! `ledger quarantine`: mark a release, or every release of a release set, bad.

use clap::Args;
use ledger_app::governance::quarantine;
use ledger_app::ledger::Body;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::recorded;
use crate::progress::Shown;

/// Mark a release (or every release of a release set) bad, so that no plan deploys it
///
/// A plan that would deploy a quarantined release is refused (exit 4) unless forced with
/// `--override -m <reason>`, and `ledger rollback <env>` never goes back to a state that holds
/// one. A quarantine is an entry: it is never removed, and the team sees it after a pull.
///
///   ledger quarantine 1a2b3c4d -m "leaks memory under load"
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct QuarantineArgs {
    /// The release or release set: its id or prefix
    pub target: String,
    /// Why (required)
    #[arg(short, long)]
    pub message: String,
}

pub fn run(globals: &GlobalArgs, args: &QuarantineArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let governed = quarantine(&workspace, &args.target, &args.message, &Shown::new(globals))?;
    let target = match &governed.entry.entry.body {
        Body::Quarantine(quarantine) => quarantine.target.short(),
        _ => args.target.clone(),
    };
    let done = format!("quarantined {target}: plans that would deploy it are refused");
    recorded(globals.json(), &governed.json, &governed.entry.id, &done)?;
    Ok(Finished::Success)
}
