//! `ledger remote`: the shared ledgers this one pushes to and pulls from.

use clap::{Args, Subcommand};
use ledger::manifest::RemoteSettings;
use ledger_sync::remote::s3::S3Location;
use serde_json::json;

use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult, Finished};
use crate::output::print_json;
use crate::sharing::{self, REMOTES_FILE};
use crate::workspace::Workspace;

/// Manage remotes: shared copies of the ledger on S3 (or in a directory)
///
/// A remote added here is kept in the ledger directory (.ledger/remotes.toml), for this
/// machine only. To share the setting with the team, put a [remote] table in ledger.toml.
/// With a remote (ledger.toml's, else the one named origin, else the only one), `register`
/// and `release` record on the remote too, and `apply`, `promote` and `rollback` pull first,
/// take the environment's lease on the remote and push what they record.
///
/// Examples:
///   ledger remote add origin s3://team-ledgers/catalogue
///   ledger remote add origin s3://team-ledgers/catalogue --sse aws:kms --kms-key-id alias/ledger
///   ledger remote add backup file:///mnt/ledger-backup
///   ledger remote list
///   ledger remote remove backup
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct RemoteArgs {
    #[command(subcommand)]
    pub action: RemoteAction,
}

#[derive(Subcommand, Debug)]
pub enum RemoteAction {
    /// Add a remote: s3://bucket/prefix or file:///absolute/path
    Add(AddArgs),
    /// List the remotes, with where each is configured
    List,
    /// Remove a remote added with `ledger remote add` (nothing on the remote is touched)
    Remove {
        /// The remote's name
        name: String,
    },
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// A name for it, e.g. origin
    pub name: String,
    /// s3://bucket/prefix or file:///absolute/path
    pub url: String,
    /// Server-side encryption of what ledger writes to S3: AES256 or aws:kms [default: the bucket's]
    #[arg(long, value_name = "KIND")]
    pub sse: Option<String>,
    /// The KMS key for --sse aws:kms [default: the account's aws/s3 key]
    #[arg(long, value_name = "KEY")]
    pub kms_key_id: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &RemoteArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    match &args.action {
        RemoteAction::Add(add) => {
            let settings = RemoteSettings {
                name: add.name.clone(),
                url: add.url.clone(),
                sse: add.sse.clone(),
                kms_key_id: add.kms_key_id.clone(),
            };
            settings.check().map_err(CommandError::user)?;
            if settings.url.starts_with("s3://") {
                S3Location::parse(&settings.url).map_err(CommandError::user)?;
            }
            if sharing::configured(&workspace)?.iter().any(|r| r.settings.name == add.name) {
                return Err(CommandError::user(format!("remote {:?} already exists", add.name))
                    .with_hint("remove it first with `ledger remote remove`, or choose another name"));
            }
            // The ledger must exist: tracking refs live in it.
            workspace.open_store()?;
            let mut added = sharing::read_added(&workspace.ledger_dir)?;
            added.push(settings);
            sharing::write_added(&workspace.ledger_dir, added)?;
            eprintln!(
                "added remote {} ({}); `ledger pull {}` takes in what it has",
                add.name, add.url, add.name
            );
        }
        RemoteAction::List => {
            let remotes = sharing::configured(&workspace)?;
            if globals.json() {
                let rows: Vec<_> = remotes
                    .iter()
                    .map(|r| {
                        json!({
                            "name": r.settings.name,
                            "url": r.settings.url,
                            "sse": r.settings.sse,
                            "kms_key_id": r.settings.kms_key_id,
                            "configured_in": if r.in_manifest { "ledger.toml" } else { REMOTES_FILE },
                        })
                    })
                    .collect();
                print_json(&json!(rows));
            } else if remotes.is_empty() {
                println!("no remotes; add one with `ledger remote add origin s3://bucket/prefix`");
            } else {
                for remote in remotes {
                    let place = if remote.in_manifest { "ledger.toml" } else { "this ledger" };
                    println!("{}\t{}\t({place})", remote.settings.name, remote.settings.url);
                }
            }
        }
        RemoteAction::Remove { name } => {
            let mut added = sharing::read_added(&workspace.ledger_dir)?;
            let Some(index) = added.iter().position(|r| &r.name == name) else {
                let in_manifest = workspace.manifest.remote.as_ref().is_some_and(|r| &r.name == name);
                let hint = if in_manifest {
                    "it is ledger.toml's [remote]: edit ledger.toml"
                } else {
                    "`ledger remote list` shows the remotes"
                };
                return Err(CommandError::user(format!("no remote {name:?} was added to this ledger"))
                    .with_hint(hint));
            };
            added.remove(index);
            sharing::write_added(&workspace.ledger_dir, added)?;
            workspace.open_store()?.write(|w| w.forget_remote(name))?;
            eprintln!("removed remote {name}; nothing on it was changed");
        }
    }
    Ok(Finished::Success)
}
