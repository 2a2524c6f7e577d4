//! `ledger remote`: the shared ledgers this one pushes to and pulls from.

use clap::{Args, Subcommand};
use ledger_app::ledger::manifest::RemoteSettings;
use ledger_app::sharing;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{note, out, outln, print_json};
use crate::progress::Shown;

fn parse_grace(text: &str) -> Result<std::time::Duration, String> {
    ledger_app::ledger::manifest::parse_duration(text)
}

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
///   ledger remote init backup        make a new remote there (a first `ledger push` does too)
///   ledger remote repack             merge small packs and loose objects into big packs
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
    /// Make a remote's location a remote of this project (writes its marker)
    ///
    /// The marker (ledger-remote.json) names the project. A location without one is refused by
    /// every command but a first push; a remote from before markers is adopted if each of its
    /// refs names an environment, service or service set of ledger.toml.
    Init {
        /// The remote's name [default: ledger.toml's [remote], else origin, else the only one]
        name: Option<String>,
    },
    /// Merge a remote's loose objects and small packs into big packs
    ///
    /// What a new pack supersedes is deleted by a later repack, once the grace period has
    /// passed since it was superseded: a reader that listed it before still finds it.
    Repack {
        /// The remote's name [default: ledger.toml's [remote], else origin, else the only one]
        name: Option<String>,
        /// How long superseded packs and objects stay, e.g. 30m, 1h (at most 24h) [default: 1h]
        #[arg(long, value_name = "DURATION", value_parser = parse_grace)]
        grace: Option<std::time::Duration>,
    },
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
    let workspace = globals.workspace()?;
    match &args.action {
        RemoteAction::Add(add) => {
            let settings = RemoteSettings {
                name: add.name.clone(),
                url: add.url.clone(),
                sse: add.sse.clone(),
                kms_key_id: add.kms_key_id.clone(),
            };
            sharing::add_remote(&workspace, settings)?;
            note(&format!(
                "added remote {name} ({}); `ledger pull {name}` takes in what it has, or, for a new \
                 remote, `ledger remote init {name}` creates it",
                add.url,
                name = add.name
            ));
        }
        RemoteAction::List => {
            let (remotes, json) = sharing::list_remotes(&workspace)?;
            if globals.json() {
                print_json(&json)?;
            } else if remotes.is_empty() {
                outln("no remotes; add one with `ledger remote add origin s3://bucket/prefix`")?;
            } else {
                let mut text = String::new();
                for remote in remotes {
                    let place = if remote.in_manifest { "ledger.toml" } else { "this ledger" };
                    text.push_str(&format!("{}\t{}\t({place})\n", remote.settings.name, remote.settings.url));
                }
                out(&text)?;
            }
        }
        RemoteAction::Init { name } => {
            let init = sharing::init_remote(&workspace, name.as_deref())?;
            if globals.json() {
                print_json(&init.json)?;
            } else if init.created {
                let adopted = match init.adopted_refs {
                    0 => String::new(),
                    n => format!(", adopting the {n} ref(s) it held"),
                };
                outln(&format!("{} ({}) is now a remote of this project{adopted}", init.remote, init.url))?;
            } else {
                outln(&format!("{} ({}) is a remote of this project already", init.remote, init.url))?;
            }
        }
        RemoteAction::Repack { name, grace } => {
            let repacked = sharing::repack_remote(&workspace, name.as_deref(), *grace, &Shown::new(globals))?;
            let report = &repacked.report;
            if globals.json() {
                print_json(&repacked.json)?;
            } else {
                let damaged: String = report.damaged.iter().map(|d| format!("damaged: {d}\n")).collect();
                out(&format!(
                    "{damaged}{} ({}): {} entries into {} new pack(s); deleted {} pack(s) and {} loose object(s) superseded before the grace period; {} superseded kept until it passes\n",
                    repacked.remote,
                    repacked.url,
                    report.entries_packed,
                    report.packs_written,
                    report.packs_deleted,
                    report.objects_deleted,
                    report.kept
                ))?;
            }
            if !report.damaged.is_empty() {
                return Ok(Finished::Failed);
            }
        }
        RemoteAction::Remove { name } => {
            sharing::remove_remote(&workspace, name)?;
            note(&format!("removed remote {name}; nothing on it was changed"));
        }
    }
    Ok(Finished::Success)
}
