//! `verify`: every page of the ledger file against its checksum, and alongside, every entry
//! re-hashed, every parent and ref resolved, every entry held to the manifest's rules, every
//! environment replayed (see [`ledger::verify`]).

use ledger::admission::Rules;
use serde_json::{Value, json};

use crate::error::Result;
use crate::workspace::Workspace;

pub use ledger::verify::Verified;

/// `{"sound", "objects", "refs", "environments", "pages_checked", "signed",
/// "unsigned_before_policy", "damage"}`.
pub fn json(verified: &Verified) -> Value {
    match verified {
        Verified::Checked { report, pages_checked } => {
            let damage: Vec<String> = report.damage.iter().map(ToString::to_string).collect();
            json!({
                "sound": report.is_sound(),
                "objects": report.objects,
                "refs": report.refs,
                "environments": report.environments,
                "pages_checked": pages_checked,
                "signed": report.signed,
                "unsigned_before_policy": report.unsigned_before_policy,
                "damage": damage,
            })
        }
        Verified::DamagedFile(message) => json!({
            "sound": false,
            "objects": null,
            "refs": null,
            "environments": null,
            "pages_checked": true,
            "signed": null,
            "unsigned_before_policy": null,
            "damage": [message],
        }),
    }
}

/// Checks the whole ledger: the pages of its file (with the ledger's write lock held meanwhile)
/// alongside the history; on a ledger it cannot write, everything but the pages.
pub fn verify(workspace: &Workspace) -> Result<Verified> {
    Ok(ledger::verify::verify_dir(&workspace.ledger_dir, &Rules::of(&workspace.manifest))?)
}
