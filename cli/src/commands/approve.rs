//! `ledger approve`: record an approval of a release set for an environment.

use clap::Args;
use ledger_app::governance::approve;
use ledger_app::text::inert;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::recorded;
use crate::progress::Shown;

/// Approve a release set for an environment
///
/// An environment whose policy asks for approvals (`approvals = 2` in ledger.toml) takes a
/// deployment only once that many distinct people approved its release set there; the person
/// who registered a release of it, or who deploys it, does not count. The approval is an entry:
/// with a remote it is recorded there first, and the whole team sees it.
///
///   ledger approve 5b1c2d3e prod -m "QA signed off"   # a release set, by id or prefix
///   ledger approve frontend prod                       # a service set's latest release set
///   ledger approve stage prod                          # what stage runs now (recorded as a set)
///   ledger approvals prod                              # what waits, and who approved it
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ApproveArgs {
    /// The release set: its id or prefix, a service set's name, or an environment (what it runs)
    pub release_set: String,
    /// The environment it is approved for
    pub env: String,
    /// Why, or on what grounds (shown with the approval)
    #[arg(short, long)]
    pub message: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &ApproveArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let governed =
        approve(&workspace, &args.release_set, &args.env, args.message.as_deref(), &Shown::new(globals))?;
    let set =
        governed.entry.entry.as_approval().map(|approval| approval.release_set.short()).unwrap_or_default();
    let done = format!(
        "approved release set {set} for {} as {}",
        inert(&args.env),
        inert(&governed.entry.entry.actor)
    );
    recorded(globals.json(), &governed.json, &governed.entry.id, &done)?;
    Ok(Finished::Success)
}
