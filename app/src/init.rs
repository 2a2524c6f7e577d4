//! `init`: the ledger beside `ledger.toml`, and (for `--example`) a sample manifest first.

use std::path::PathBuf;

use ledger::manifest::{EXAMPLE, MANIFEST_FILE};

use crate::error::{Error, Result};
use crate::workspace::{Settings, Workspace, current_dir};

/// What `init` did.
pub struct Initialised {
    pub workspace: Workspace,
    /// The ledger was there already; nothing changed.
    pub existed: bool,
    /// With `example`: where the sample manifest goes, and whether it was written (`false`:
    /// one was there already and was left as it is).
    pub example: Option<(PathBuf, bool)>,
}

/// Creates the ledger; with `example`, first writes the sample manifest (never over an existing one).
pub fn init(settings: &Settings, example: bool) -> Result<Initialised> {
    let mut settings = settings.clone();
    let mut written = None;
    if example {
        let path = match &settings.manifest {
            Some(path) => path.clone(),
            None => current_dir()?.join(MANIFEST_FILE),
        };
        if path.exists() {
            written = Some((path.clone(), false));
        } else {
            std::fs::write(&path, EXAMPLE)
                .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))?;
            written = Some((path.clone(), true));
        }
        settings.manifest = Some(path);
    }
    let workspace = Workspace::load(&settings)?;
    let existed = workspace.ledger_dir.join(ledger::store::STORE_FILE).is_file();
    if existed {
        // Checked, never written: an existing ledger may be read-only here.
        workspace.open_store_for_reading()?;
    } else {
        workspace.init_store()?;
    }
    let ignore = workspace.ledger_dir.join(".gitignore");
    if !ignore.exists() {
        // The ledger is shared through a remote, not committed with the code.
        std::fs::write(&ignore, "*\n")
            .map_err(|e| Error::failed(format!("cannot write {}: {e}", ignore.display())))?;
    }
    Ok(Initialised { workspace, existed, example: written })
}
