//! `ledger push`: send what this ledger recorded to a remote.

use clap::Args;
use ledger_app::sharing;

use crate::cli::GlobalArgs;
use crate::commands::pull::print_moved;
use crate::error::{CommandResult, Finished};
use crate::output::{note, print_json};
use crate::progress::Shown;

/// Send what this ledger recorded to a remote
///
/// Uploads only the entries the remote lacks (found from where its refs were at the last
/// exchange, without listing the bucket), then moves the remote's refs forward. A ref the
/// remote moved meanwhile is refused, never merged: `ledger pull` first. Exits 3 when a ref
/// was refused. A first push to a location that holds nothing makes it a remote of this
/// project (as `ledger remote init` does).
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
    let workspace = globals.workspace()?;
    let pushed = sharing::push(&workspace, args.remote.as_deref(), &Shown::new(globals))?;
    if globals.json() {
        print_json(&pushed.json)?;
    } else {
        print_moved(&pushed.moved)?;
        note(&format!(
            "pushed {} objects to {}; {} refs moved",
            pushed.count,
            pushed.remote,
            pushed.moved.len()
        ));
    }
    pushed.accepted("push to")?;
    Ok(Finished::Success)
}
