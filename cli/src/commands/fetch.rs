//! `ledger fetch`: how this ledger compares with a remote, without changing it.

use clap::Args;
use ledger_app::ledger_remote::exchange::Comparison;
use ledger_app::sharing;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{out, print_json};
use crate::progress::Shown;

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
    let workspace = globals.workspace()?;
    let fetched = sharing::fetch(&workspace, args.remote.as_deref(), &Shown::new(globals))?;
    if globals.json() {
        print_json(&fetched.json)?;
    } else {
        let mut text = String::new();
        for (name, comparison) in &fetched.refs {
            let state = match comparison {
                Comparison::Same => "up to date".to_string(),
                Comparison::Behind(n) => format!("behind: `ledger pull` takes in {n} entries"),
                Comparison::Ahead => "ahead: `ledger push` sends what was recorded here".to_string(),
                Comparison::Diverged => "diverged: both sides recorded entries the other lacks".to_string(),
            };
            text.push_str(&format!("{name}\t{state}\n"));
        }
        out(&text)?;
    }
    Ok(Finished::Success)
}
