//! `ledger verify`: check that the ledger is sound.

use clap::Args;
use ledger::Store;
use ledger::store::CheckedOpen;
use serde_json::json;

use ledger_sync::remote::check;

use crate::cli::GlobalArgs;
use crate::cloud;
use crate::error::{CommandResult, Finished};
use crate::output::print_json;
use crate::sharing::{self, Shown};
use crate::workspace::Workspace;

/// Check that the whole ledger is sound
///
/// Checks every page of the file against its checksum, then re-hashes every entry, resolves
/// every parent and ref, replays each environment's history and compares the state it ends in
/// with the recorded one. Exits 0 only when everything is sound; otherwise lists what is
/// damaged and exits 3. It holds the ledger's write lock while it checks the pages.
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
    let workspace = Workspace::load(globals)?;
    if let Some(name) = &args.remote {
        return verify_remote(&workspace, name);
    }
    // Pages first: a damaged page must be reported, not stumbled on while reading entries.
    let store = match Store::open_checked(&workspace.ledger_dir)? {
        CheckedOpen::Sound(store) => store,
        CheckedOpen::Damaged(detail) => {
            let message =
                format!("the ledger file in {} is damaged: {detail}", workspace.ledger_dir.display());
            if globals.json() {
                let damage = json!({"sound": false, "objects": null, "refs": null, "environments": null, "damage": [message]});
                print_json(&damage);
            } else {
                println!("damaged: {message}");
            }
            return Ok(Finished::Failed);
        }
    };
    let report = ledger::verify::verify(&store.read()?)?;
    if globals.json() {
        let damage: Vec<String> = report.damage.iter().map(ToString::to_string).collect();
        print_json(&json!({
            "sound": report.is_sound(),
            "objects": report.objects,
            "refs": report.refs,
            "environments": report.environments,
            "damage": damage,
        }));
    } else {
        let verdict = print_damage(&report.damage);
        println!(
            "checked {} objects, {} refs, {} environments: {verdict}",
            report.objects, report.refs, report.environments
        );
    }
    Ok(if report.is_sound() { Finished::Success } else { Finished::Failed })
}

fn verify_remote(workspace: &Workspace, name: &str) -> CommandResult {
    let globals = &workspace.globals;
    let settings = sharing::choose(workspace, Some(name))?;
    let remote = sharing::connect(&settings, globals, sharing::project_region(workspace))?;
    let report = cloud::run(check::check(&remote, &Shown::new(globals)))??;
    if globals.json() {
        print_json(&json!({
            "sound": report.is_sound(),
            "objects": report.objects,
            "refs": report.refs,
            "unreachable": report.unreachable,
            "damage": report.damage,
        }));
    } else {
        let verdict = print_damage(&report.damage);
        println!(
            "checked remote {name}: {} objects, {} refs ({} objects no ref reaches): {verdict}",
            report.objects, report.refs, report.unreachable
        );
    }
    Ok(if report.is_sound() { Finished::Success } else { Finished::Failed })
}

/// Prints one line per damage found; returns the verdict.
fn print_damage(damage: &[impl std::fmt::Display]) -> String {
    for damage in damage {
        println!("damaged: {damage}");
    }
    if damage.is_empty() { "sound".to_string() } else { format!("{} problems", damage.len()) }
}
