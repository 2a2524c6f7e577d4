//! `ledger diff`: compare two environments, release sets or deployments, service by service.

use clap::Args;
use ledger::diff::differs;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{Releases, print_json, table};
use crate::views::Comparison;
use crate::workspace::Workspace;

/// Compare two environments, release sets or deployments, service by service
///
/// Each side is an environment (what it runs now), a service set's name (its latest release
/// set), or the id or prefix of a release set or of a deployment (the state right after it).
/// Every service of either side is listed: added, removed, changed or unchanged, going from A
/// to B.
///
/// Examples:
///   ledger diff stage prod                  what would a promotion change in prod?
///   ledger diff stage prod --commits        with the commits between the two revisions
///   ledger diff stage prod --exit-code      exit 1 when they differ (for CI)
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct DiffArgs {
    /// The first side
    pub a: String,

    /// The second side
    pub b: String,

    /// Exit 1 when the two sides differ, 0 when they do not
    #[arg(long)]
    pub exit_code: bool,

    /// List the commit subjects between the two revisions of each changed service (needs the
    /// current directory's git repository to have them)
    #[arg(long)]
    pub commits: bool,
}

pub fn run(globals: &GlobalArgs, args: &DiffArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    let store = workspace.open_store_for_reading()?;
    let reader = store.read()?;
    let releases = Releases::new(&reader);
    let comparison = Comparison::load(&workspace, &releases, &args.a, &args.b, args.commits)?;
    if globals.json() {
        print_json(&comparison.json(&releases)?);
    } else if comparison.diffs.is_empty() {
        println!("neither side runs any service");
    } else {
        let mut rows = vec![vec!["SERVICE".to_string(), "CHANGE".into(), args.a.clone(), args.b.clone()]];
        for diff in &comparison.diffs {
            rows.push(vec![
                diff.service.clone(),
                diff.change.as_str().into(),
                releases.human(diff.from)?,
                releases.human(diff.to)?,
            ]);
        }
        print!("{}", table(&rows));
        for (service, commits) in &comparison.commits {
            match commits {
                Some(commits) if commits.is_empty() => {
                    println!("\n{service}: no commits between the two revisions")
                }
                Some(commits) => {
                    println!("\n{service}:");
                    for commit in commits {
                        println!("    {commit}");
                    }
                }
                None => println!("\n{service}: commits unknown (no revision, or not in this git repository)"),
            }
        }
    }
    if args.exit_code && differs(&comparison.diffs) {
        Ok(Finished::Differences)
    } else {
        Ok(Finished::Success)
    }
}
