//! `ledger wait`: record how a deployment submitted with `--no-wait` ended.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::deploying::print_deployed;
use crate::error::CommandResult;
use crate::progress::Shown;
use ledger_app::conclude::{Concluding, conclude};

/// Wait for a deployment submitted with --no-wait, and record how it ended
///
/// Observes each service of the environment's last deployment on ECS until its rollout ends
/// (or the environment's timeout passes), writes the SSM parameters of the services that
/// succeeded, and records the outcome. Exits 3 unless every service succeeded.
///
/// Example:
///   ledger apply frontend stage --no-wait && ledger wait stage
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct WaitArgs {
    /// The environment whose submitted deployment to wait for
    pub env: String,
}

pub fn run(globals: &GlobalArgs, args: &WaitArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let deployed = conclude(&workspace, &args.env, Concluding::Submitted, &Shown::new(globals))?;
    print_deployed(globals, &deployed)
}
