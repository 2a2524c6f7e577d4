//! `ledger reconcile`: record the outcome of a deployment that was interrupted.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::deploying::print_deployed;
use crate::error::CommandResult;
use crate::progress::Shown;
use ledger_app::conclude::{Concluding, conclude};

/// Record the outcome of an interrupted deployment from what ECS runs
///
/// A deployment whose apply was interrupted (killed, network lost) after its intent was
/// recorded leaves the environment "in flight", and the next apply refuses. This reads each
/// service's live state from ECS: a service ledger had updated (its task definition carries
/// the deployment's tag) is waited for like an apply would; a service it had not reached yet
/// is recorded as not deployed. Then it records the outcome and unblocks the environment.
///
/// Example:
///   ledger status prod && ledger reconcile prod
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ReconcileArgs {
    /// The environment whose interrupted deployment to resolve
    pub env: String,
}

pub fn run(globals: &GlobalArgs, args: &ReconcileArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let deployed = conclude(&workspace, &args.env, Concluding::Any, &Shown::new(globals))?;
    print_deployed(globals, &deployed)
}
