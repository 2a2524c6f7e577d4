//! `ledger fetch`: how this ledger compares with a remote, without changing it.

use clap::Args;
use ledger_sync::remote::exchange::{self, Comparison};
use serde_json::json;

use crate::cli::GlobalArgs;
use crate::cloud;
use crate::error::{CommandResult, Finished};
use crate::output::print_json;
use crate::sharing::{self, Shown};
use crate::workspace::Workspace;

/// Show how this ledger compares with a remote, changing nothing
///
/// Downloads and checks what a pull would take in, and prints each of the remote's refs:
/// up to date, behind (a pull takes N entries in), ahead (a push sends what was recorded
/// here) or diverged (both recorded; an environment's history never merges).
///
/// Examples:
///   ledger fetch
///   ledger fetch origin --output json
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct FetchArgs {
    /// The remote [default: ledger.toml's [remote], else origin, else the only one]
    pub remote: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &FetchArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    let settings = sharing::choose(&workspace, args.remote.as_deref())?;
    let remote = sharing::connect(&settings, globals, sharing::project_region(&workspace))?;
    let store = workspace.open_store_for_reading()?;
    let comparisons = cloud::run(exchange::fetch(&store, &remote, &Shown::new(globals)))??;
    if globals.json() {
        let rows: Vec<_> = comparisons
            .iter()
            .map(|(name, comparison)| {
                let (state, incoming) = match comparison {
                    Comparison::Same => ("up_to_date", 0),
                    Comparison::Behind(n) => ("behind", *n),
                    Comparison::Ahead => ("ahead", 0),
                    Comparison::Diverged => ("diverged", 0),
                };
                json!({"ref": name, "state": state, "incoming": incoming})
            })
            .collect();
        print_json(&json!({"remote": settings.name, "refs": rows}));
    } else {
        for (name, comparison) in &comparisons {
            let state = match comparison {
                Comparison::Same => "up to date".to_string(),
                Comparison::Behind(n) => format!("behind: `ledger pull` takes in {n} entries"),
                Comparison::Ahead => "ahead: `ledger push` sends what was recorded here".to_string(),
                Comparison::Diverged => "diverged: both sides recorded entries the other lacks".to_string(),
            };
            println!("{name}\t{state}");
        }
    }
    Ok(Finished::Success)
}
