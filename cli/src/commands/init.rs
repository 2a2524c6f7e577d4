//! `ledger init`: create the ledger beside `ledger.toml`.

use clap::Args;
use ledger_app::init::init;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{note, outln};

/// Create the ledger (.ledger/ beside ledger.toml)
///
/// Finds ledger.toml (here or in a parent directory, or --manifest) and creates the ledger
/// beside it. With --example, first writes a sample ledger.toml in the current directory.
/// Running it again changes nothing: an existing manifest or ledger is left as it is.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct InitArgs {
    /// Write a sample ledger.toml first (an existing one is never overwritten)
    #[arg(long)]
    pub example: bool,
}

pub fn run(globals: &GlobalArgs, args: &InitArgs) -> CommandResult {
    let initialised = init(&globals.settings(), args.example)?;
    match &initialised.example {
        Some((path, false)) => note(&format!("{} already exists; left as it is", path.display())),
        Some((path, true)) => note(&format!("wrote a sample manifest to {}", path.display())),
        None => {}
    }
    let workspace = &initialised.workspace;
    let verb = if initialised.existed { "already initialised; nothing changed:" } else { "initialised" };
    outln(&format!(
        "ledger for project {} {verb} {}",
        workspace.manifest.project.id,
        workspace.ledger_dir.display()
    ))?;
    Ok(Finished::Success)
}
