//! `ledger bundle`: history carried between ledgers in a file, without a remote.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use ledger_app::bundle;

use crate::cli::GlobalArgs;
use crate::commands::pull::print_moved;
use crate::error::{CommandResult, Finished};
use crate::output::{note, print_json};

/// Carry history between ledgers in a file: air-gapped machines, backups
///
/// A bundle is `ledger export`'s format after one header line,
///   {"ledger_bundle": 1, "project": "<id>", "entries": <n>, "refs": {"env/prod": "<id>", ...}}
/// Taking one in checks every entry as `ledger pull` checks a remote's (its bytes against its
/// id, the history of its ref, the manifest's rules, the signing policy) in one transaction:
/// a bundle refused in any part leaves nothing behind. Exits 2 for a missing file or a bundle
/// of another project, 3 for a damaged, cut-short or diverged one, 4 for an entry the signing
/// policy refuses.
///
/// Examples:
///   ledger bundle create backup.bundle                  every ref's history
///   ledger bundle create prod.bundle env/prod           only what env/prod reaches
///   ledger --ledger-dir /mnt/offline/.ledger bundle unbundle prod.bundle
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub action: BundleAction,
}

#[derive(Subcommand, Debug)]
pub enum BundleAction {
    /// Write a bundle of the history of REFS (default: every local ref)
    ///
    /// The file is written beside its name and renamed into place once complete; an existing
    /// file is left alone unless --force.
    Create {
        /// The bundle's file
        file: PathBuf,
        /// Refs to carry, e.g. env/prod, set/frontend, service/api [default: every local ref;
        /// remote-tracking refs are never carried]
        refs: Vec<String>,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// Take in a bundle, or a bare `ledger export`, checked as a pull is
    ///
    /// Entries this ledger has already are passed over; its refs move forward to what the
    /// bundle brings. `fields` in the file are not read: the bytes are what is believed.
    Unbundle {
        /// The bundle's (or export's) file
        file: PathBuf,
    },
}

pub fn run(globals: &GlobalArgs, args: &BundleArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    match &args.action {
        BundleAction::Create { file, refs, force } => {
            let created = bundle::create(&workspace, file, refs, *force)?;
            if globals.json() {
                print_json(&created.json)?;
            } else {
                note(&format!(
                    "wrote {} entries and {} refs to {}",
                    created.entries,
                    created.refs.len(),
                    created.file.display()
                ));
            }
        }
        BundleAction::Unbundle { file } => {
            let taken = bundle::unbundle(&workspace, file)?;
            if globals.json() {
                print_json(&taken.json)?;
            } else {
                print_moved(&taken.moved)?;
                note(&format!(
                    "took in {} entries from {} ({} were here already); {} refs moved",
                    taken.entries,
                    taken.file.display(),
                    taken.present,
                    taken.moved.len()
                ));
            }
        }
    }
    Ok(Finished::Success)
}
