//! `ledger clone`: a new ledger holding everything a remote has.

use std::path::PathBuf;

use clap::Args;
use ledger_app::ledger::manifest::RemoteSettings;
use ledger_app::sharing;

use crate::cli::GlobalArgs;
use crate::commands::pull::print_pull;
use crate::error::{CommandResult, Finished};
use crate::output::note;
use crate::progress::Shown;

/// Create a ledger from a remote: everything it has, checked
///
/// Creates the ledger in <DIR> (default: --ledger-dir, else .ledger beside ledger.toml, else
/// .ledger here), adds the remote as origin, and takes in every entry its refs reach. Each
/// object is re-hashed on the way in; a corrupted or forged one stops the clone, and the new
/// ledger is removed. A location that is not a remote (no ledger-remote.json: nothing there,
/// or a mistyped URL) or another project's remote is refused (exit 2), creating nothing.
///
/// Examples:
///   ledger clone s3://team-ledgers/catalogue
///   ledger clone file:///mnt/ledger-backup /tmp/ledger-copy
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct CloneArgs {
    /// s3://bucket/prefix or file:///absolute/path
    pub url: String,
    /// Where to create the ledger; it must not hold one already
    pub dir: Option<PathBuf>,
    /// The name the remote gets here
    #[arg(long, default_value = "origin", value_name = "NAME")]
    pub name: String,
    /// Server-side encryption of what ledger writes to S3: AES256 or aws:kms
    #[arg(long, value_name = "KIND")]
    pub sse: Option<String>,
    /// The KMS key for --sse aws:kms
    #[arg(long, value_name = "KEY")]
    pub kms_key_id: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &CloneArgs) -> CommandResult {
    let remote = RemoteSettings {
        name: args.name.clone(),
        url: args.url.clone(),
        sse: args.sse.clone(),
        kms_key_id: args.kms_key_id.clone(),
    };
    let cloned = sharing::clone(&globals.settings(), &remote, args.dir.as_deref(), &Shown::new(globals))?;
    print_pull(globals, &cloned.exchanged)?;
    note(&format!("cloned {} into {}", args.url, cloned.dir.display()));
    cloned.exchanged.accepted("clone from")?;
    Ok(Finished::Success)
}
