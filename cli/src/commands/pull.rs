//! `ledger pull`: take in what a remote has.

use clap::Args;
use ledger_sync::remote::exchange;

use crate::cli::GlobalArgs;
use crate::cloud;
use crate::error::{CommandResult, Finished};
use crate::output::print_json;
use crate::sharing::{self, Shown};
use crate::workspace::Workspace;

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
    let workspace = Workspace::load(globals)?;
    let settings = sharing::choose(&workspace, args.remote.as_deref())?;
    let remote = sharing::connect(&settings, globals, sharing::project_region(&workspace))?;
    let store = workspace.open_store()?;
    let report = cloud::run(exchange::pull(&store, &remote, &settings.name, &Shown::new(globals)))??;
    print_pull(globals, &settings.name, &report);
    sharing::accepted("pull from", &settings.name, &report.refused)?;
    Ok(Finished::Success)
}

/// What a pull (or clone) took in.
pub fn print_pull(globals: &GlobalArgs, remote: &str, report: &exchange::PullReport) {
    if globals.json() {
        print_json(&sharing::exchange_json(
            remote,
            "entries",
            report.entries,
            &report.moved,
            &report.refused,
        ));
    } else {
        sharing::print_moved(&report.moved);
        eprintln!("took in {} entries from {remote}; {} refs moved", report.entries, report.moved.len());
    }
}
