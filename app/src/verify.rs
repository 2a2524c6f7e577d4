//! `verify`: every page of the ledger file against its checksum, then every entry re-hashed,
//! every parent and ref resolved, every entry held to the manifest's rules, every environment
//! replayed.

use ledger::Store;
use ledger::admission::Rules;
use ledger::store::CheckedOpen;
use ledger::verify::Report;
use serde_json::{Value, json};

use crate::error::Result;
use crate::workspace::Workspace;

/// What `verify` found.
pub enum Verified {
    /// The file's pages are sound (`pages_checked`; `false`: the file is read-only here, and
    /// redb checks pages only where it may write); the history was checked.
    Checked { report: Report, pages_checked: bool },
    /// A page does not match its checksum: this message says where.
    DamagedFile(String),
}

impl Verified {
    pub fn is_sound(&self) -> bool {
        matches!(self, Verified::Checked { report, .. } if report.is_sound())
    }

    /// `{"sound", "objects", "refs", "environments", "damage"}`.
    pub fn json(&self) -> Value {
        match self {
            Verified::Checked { report, pages_checked } => {
                let damage: Vec<String> = report.damage.iter().map(ToString::to_string).collect();
                json!({
                    "sound": report.is_sound(),
                    "objects": report.objects,
                    "refs": report.refs,
                    "environments": report.environments,
                    "pages_checked": pages_checked,
                    "damage": damage,
                })
            }
            Verified::DamagedFile(message) => json!({
                "sound": false,
                "objects": null,
                "refs": null,
                "environments": null,
                "pages_checked": true,
                "damage": [message],
            }),
        }
    }
}

/// Checks the whole ledger. It holds the ledger's write lock while it checks the pages; on a
/// ledger it cannot write, it checks everything but the pages.
pub fn verify(workspace: &Workspace) -> Result<Verified> {
    // Pages first: a damaged page must be reported, not stumbled on while reading entries.
    let (store, pages_checked) = match Store::open_checked(&workspace.ledger_dir)? {
        CheckedOpen::Sound(store) => (store, true),
        CheckedOpen::ReadOnly(store) => (store, false),
        CheckedOpen::Damaged(detail) => {
            return Ok(Verified::DamagedFile(format!(
                "the ledger file in {} is damaged: {detail}",
                workspace.ledger_dir.display()
            )));
        }
    };
    let rules = Rules::of(&workspace.manifest);
    Ok(Verified::Checked { report: ledger::verify::verify(&store.read()?, &rules)?, pages_checked })
}
