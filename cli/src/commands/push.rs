//! `ledger push`: send what this ledger recorded to a remote.

use clap::Args;
use ledger_sync::remote::exchange;

use crate::cli::GlobalArgs;
use crate::cloud;
use crate::error::{CommandResult, Finished};
use crate::output::print_json;
use crate::sharing::{self, Shown};
use crate::workspace::Workspace;

/// Send what this ledger recorded to a remote
///
/// Uploads only the entries the remote lacks (found from where its refs were at the last
/// exchange, without listing the bucket), then moves the remote's refs forward. A ref the
/// remote moved meanwhile is refused, never merged: `ledger pull` first. Exits 3 when a ref
/// was refused.
///
/// Examples:
///   ledger push
///   ledger push backup
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct PushArgs {
    /// The remote [default: ledger.toml's [remote], else origin, else the only one]
    pub remote: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &PushArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    let settings = sharing::choose(&workspace, args.remote.as_deref())?;
    let remote = sharing::connect(&settings, globals, sharing::project_region(&workspace))?;
    let store = workspace.open_store()?;
    let report = cloud::run(exchange::push(&store, &remote, &settings.name, None, &Shown::new(globals)))??;
    if globals.json() {
        let name = &settings.name;
        print_json(&sharing::exchange_json(name, "objects", report.objects, &report.moved, &report.refused));
    } else {
        sharing::print_moved(&report.moved);
        eprintln!(
            "pushed {} objects to {}; {} refs moved",
            report.objects,
            settings.name,
            report.moved.len()
        );
    }
    sharing::accepted("push to", &settings.name, &report.refused)?;
    Ok(Finished::Success)
}
