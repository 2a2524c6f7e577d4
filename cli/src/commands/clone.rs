//! `ledger clone`: a new ledger holding everything a remote has.

use std::path::PathBuf;

use clap::Args;
use ledger::Store;
use ledger::manifest::RemoteSettings;
use ledger_sync::remote::exchange;

use crate::cli::GlobalArgs;
use crate::cloud;
use crate::commands::pull::print_pull;
use crate::error::{CommandError, CommandResult, Finished};
use crate::sharing::{self, Shown};
use crate::workspace::{LEDGER_DIR, Workspace, current_dir};

/// Create a ledger from a remote: everything it has, checked
///
/// Creates the ledger in <DIR> (default: --ledger-dir, else .ledger beside ledger.toml, else
/// .ledger here), adds the remote as origin, and takes in every entry its refs reach. Each
/// object is re-hashed on the way in; a corrupted or forged one stops the clone, and the new
/// ledger is removed.
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
    let settings = RemoteSettings {
        name: args.name.clone(),
        url: args.url.clone(),
        sse: args.sse.clone(),
        kms_key_id: args.kms_key_id.clone(),
    };
    settings.check().map_err(CommandError::user)?;
    let workspace = Workspace::load(globals).ok();
    let dir = match (&args.dir, &workspace) {
        (Some(dir), _) => dir.clone(),
        (None, Some(workspace)) => workspace.ledger_dir.clone(),
        (None, None) => globals.ledger_dir.clone().unwrap_or(current_dir()?.join(LEDGER_DIR)),
    };
    if Store::open_for_reading(&dir).is_ok() {
        return Err(CommandError::user(format!("{} already holds a ledger", dir.display()))
            .with_hint("`ledger pull` takes in what the remote has; or clone into another directory"));
    }
    let region = workspace.as_ref().and_then(sharing::project_region);
    let remote = sharing::connect(&settings, globals, region)?;
    let created = !dir.exists();
    let cloned = (|| {
        let store = Store::init(&dir)?;
        sharing::write_added(&dir, vec![settings.clone()])?;
        let report = cloud::run(exchange::pull(&store, &remote, &settings.name, &Shown::new(globals)))??;
        Ok::<_, CommandError>(report)
    })();
    let report = match cloned {
        Ok(report) => report,
        Err(error) => {
            if created {
                let _ = std::fs::remove_dir_all(&dir);
            } else {
                let _ = std::fs::remove_file(dir.join(ledger::store::STORE_FILE));
                let _ = std::fs::remove_file(dir.join(sharing::REMOTES_FILE));
            }
            return Err(error);
        }
    };
    print_pull(globals, &settings.name, &report);
    eprintln!("cloned {} into {}", args.url, dir.display());
    sharing::accepted("clone from", &settings.name, &report.refused)?;
    Ok(Finished::Success)
}
