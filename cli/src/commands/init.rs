//! `ledger init`: create the ledger beside `ledger.toml`.

use clap::Args;
use ledger::Store;
use ledger::manifest::{EXAMPLE, MANIFEST_FILE};

use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult, Finished};
use crate::workspace::{Workspace, current_dir};

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
    let mut globals = globals.clone();
    if args.example {
        let path = match &globals.manifest {
            Some(path) => path.clone(),
            None => current_dir()?.join(MANIFEST_FILE),
        };
        if path.exists() {
            eprintln!("{} already exists; left as it is", path.display());
        } else {
            std::fs::write(&path, EXAMPLE)
                .map_err(|e| CommandError::failed(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("wrote a sample manifest to {}", path.display());
        }
        globals.manifest = Some(path);
    }
    let workspace = Workspace::load(&globals)?;
    let existed = workspace.ledger_dir.join(ledger::store::STORE_FILE).is_file();
    Store::init(&workspace.ledger_dir)?;
    let ignore = workspace.ledger_dir.join(".gitignore");
    if !ignore.exists() {
        // The ledger is shared through a remote, not committed with the code.
        std::fs::write(&ignore, "*\n")
            .map_err(|e| CommandError::failed(format!("cannot write {}: {e}", ignore.display())))?;
    }
    let verb = if existed { "already initialised; nothing changed:" } else { "initialised" };
    println!(
        "ledger for project {} {verb} {}",
        workspace.manifest.project.id,
        workspace.ledger_dir.display()
    );
    Ok(Finished::Success)
}
