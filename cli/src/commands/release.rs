//! `ledger release`: make a release set from the latest release of each service.

use clap::Args;
use ledger_app::register::release;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{note, outln, print_json};
use crate::progress::Shown;

/// Make a release set: the latest release of each service of a service set
///
/// Without a service set, the release set covers every service in ledger.toml. Refuses, naming
/// them, when a service has no release yet. If nothing changed since the set's latest release
/// set, that one is printed and nothing new is recorded. Prints the release set's id.
///
/// With a remote (see `ledger remote`), it pulls first, so the latest releases are the team's,
/// and records the set on the remote first.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ReleaseArgs {
    /// A service set from ledger.toml [default: all services]
    pub service_set: Option<String>,

    /// What this release set is, e.g. "frontend 1.4"
    #[arg(short, long)]
    pub message: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &ReleaseArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let set = args.service_set.as_deref();
    let registered = release(&workspace, set, args.message.as_deref(), &Shown::new(globals))?;
    if globals.json() {
        print_json(&registered.json)?;
    } else {
        outln(&registered.entry.id.to_string())?;
        let (short, scope) = (registered.entry.id.short(), set.unwrap_or("all services"));
        if registered.is_new {
            note(&format!("recorded release set {short} for {scope}"));
        } else {
            note(&format!("nothing changed since release set {short} for {scope}; nothing recorded"));
        }
    }
    Ok(Finished::Success)
}
