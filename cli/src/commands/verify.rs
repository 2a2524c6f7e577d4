//! `ledger verify`: check that the ledger is sound.

use clap::Args;
use ledger_app::verify::{self, Verified};
use ledger_app::{Workspace, json, sharing};

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{out, outln, print_json};
use crate::progress::Shown;

/// Check that the whole ledger is sound
///
/// Checks every page of the file against its checksum, then re-hashes every entry, resolves
/// every parent and ref, replays each environment's history and compares the state it ends in
/// with the recorded one. Exits 0 only when everything is sound; otherwise lists what is
/// damaged and exits 3. It holds the ledger's write lock while it checks the pages; on a
/// read-only ledger it checks everything but the pages, and says so.
///
/// With --remote, checks the remote instead: every object re-hashed and decoded, every ref
/// and every entry it reaches present. Objects no ref reaches (left by a push that did not
/// finish) are harmless and only counted.
///
/// Examples:
///   ledger verify
///   ledger verify --remote origin
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct VerifyArgs {
    /// Check this remote instead of the local ledger
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &VerifyArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    if let Some(name) = &args.remote {
        return verify_remote(globals, &workspace, name);
    }
    let verified = verify::verify(&workspace)?;
    if globals.json() {
        print_json(&verify::json(&verified))?;
    } else {
        match &verified {
            Verified::DamagedFile(message) => outln(&format!("damaged: {message}"))?,
            Verified::Checked { report, pages_checked } => {
                let (mut text, verdict) = damage_lines(&report.damage);
                if !pages_checked {
                    text.push_str("note: the ledger file is read-only here, so its pages were not checked against their checksums (that needs write access); every entry and index row was\n");
                }
                if report.signed + report.unsigned_before_policy > 0 {
                    text.push_str(&format!(
                        "signatures: {} entries signed as the policy requires, {} unsigned from before it\n",
                        report.signed, report.unsigned_before_policy
                    ));
                }
                text.push_str(&format!(
                    "checked {} objects, {} refs, {} environments: {verdict}\n",
                    report.objects, report.refs, report.environments
                ));
                out(&text)?;
            }
        }
    }
    Ok(if verified.is_sound() { Finished::Success } else { Finished::Failed })
}

fn verify_remote(globals: &GlobalArgs, workspace: &Workspace, name: &str) -> CommandResult {
    let report = sharing::verify_remote(workspace, name, &Shown::new(globals))?;
    if globals.json() {
        print_json(&json::remote_report(&report))?;
    } else {
        let (mut text, verdict) = damage_lines(&report.damage);
        text.push_str(&format!(
            "checked remote {name}: {} objects ({} packs), {} refs ({} objects no ref reaches): {verdict}\n",
            report.objects, report.packs, report.refs, report.unreachable
        ));
        out(&text)?;
    }
    Ok(if report.is_sound() { Finished::Success } else { Finished::Failed })
}

/// One line per damage found, and the verdict.
fn damage_lines(damage: &[impl std::fmt::Display]) -> (String, String) {
    let lines = damage.iter().map(|damage| format!("damaged: {damage}\n")).collect();
    let verdict = if damage.is_empty() { "sound".to_string() } else { format!("{} problems", damage.len()) };
    (lines, verdict)
}
