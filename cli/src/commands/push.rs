//! `ledger push`: send what this ledger recorded to a remote.

use clap::Args;
use ledger_sync::remote::exchange;
use serde_json::json;

use crate::cli::GlobalArgs;
use crate::cloud;
use crate::error::{CommandResult, Finished};
use crate::output::print_json;
use crate::sharing::{self, Shown};
use crate::workspace::Workspace;

/// Send what this ledger recorded to a remote
///
/// Uploads only the entries the remote lacks (found from where its refs were at the last
/// exchange, without listing the bucket), then moves the remote's refs forward. A ref the
/// remote moved meanwhile is refused, never merged: `ledger pull` first. Exits 3 when a ref
/// was refused.
///
/// Examples:
///   ledger push
///   ledger push backup
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct PushArgs {
    /// The remote [default: ledger.toml's [remote], else origin, else the only one]
    pub remote: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &PushArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    let settings = sharing::choose(&workspace, args.remote.as_deref())?;
    let remote = sharing::connect(&settings, globals, sharing::project_region(&workspace))?;
    let store = workspace.open_store()?;
    let report = cloud::run(exchange::push(&store, &remote, &settings.name, None, &Shown::new(globals)))??;
    if globals.json() {
        print_json(&json!({
            "remote": settings.name,
            "objects": report.objects,
            "moved": report.moved.iter().map(|(name, id)| json!({"ref": name, "target": id.to_hex()})).collect::<Vec<_>>(),
            "refused": report.refused.iter().map(|r| json!({"ref": r.name, "why": r.why})).collect::<Vec<_>>(),
        }));
    } else {
        for (name, target) in &report.moved {
            println!("{name} -> {}", target.short());
        }
        eprintln!(
            "pushed {} objects to {}; {} refs moved",
            report.objects,
            settings.name,
            report.moved.len()
        );
    }
    if report.refused.is_empty() {
        Ok(Finished::Success)
    } else {
        Err(sharing::refused_error("push to", &settings.name, &report.refused))
    }
}
