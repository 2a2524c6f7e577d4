//! `ledger pull`: take in what a remote has.

use clap::Args;
use ledger_app::ledger::EntryId;
use ledger_app::sharing::{self, Exchanged};

use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult, Finished};
use crate::output::{note, out, print_json};
use crate::progress::Shown;

/// Take in what a remote has (fetch, then fast-forward)
///
/// Downloads the entries this ledger lacks, re-hashes every one (a corrupted or forged object
/// is rejected by id and nothing of it is stored), and moves the local refs forward. A
/// history with entries here that the remote does not have, and others there, is refused:
/// environment histories never merge. Exits 3 when a ref was refused.
///
/// Examples:
///   ledger pull
///   ledger pull backup
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct PullArgs {
    /// The remote [default: ledger.toml's [remote], else origin, else the only one]
    pub remote: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &PullArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let pulled = sharing::pull(&workspace, args.remote.as_deref(), &Shown::new(globals))?;
    print_pull(globals, &pulled)?;
    pulled.accepted("pull from")?;
    Ok(Finished::Success)
}

/// What a pull (or clone) took in.
pub fn print_pull(globals: &GlobalArgs, pulled: &Exchanged) -> Result<(), CommandError> {
    if globals.json() {
        print_json(&pulled.json)
    } else {
        print_moved(&pulled.moved)?;
        note(&format!(
            "took in {} entries from {}; {} refs moved",
            pulled.count,
            pulled.remote,
            pulled.moved.len()
        ));
        Ok(())
    }
}

/// Each moved ref and its new target, one per line.
pub fn print_moved(moved: &[(String, EntryId)]) -> Result<(), CommandError> {
    let lines: String =
        moved.iter().map(|(name, target)| format!("{name} -> {}\n", target.short())).collect();
    out(&lines)
}
