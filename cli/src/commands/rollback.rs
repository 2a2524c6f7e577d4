//! `ledger rollback`: a new forward deployment that restores an earlier state.

use clap::Args;
use ledger_app::deploy;

use crate::cli::GlobalArgs;
use crate::deploying::{DeployOptions, print_deployed};
use crate::error::CommandResult;
use crate::progress::Shown;
use crate::prompt::Prompt;

/// Restore the state an environment had before its last successful deployment
///
/// Rollback is a new deployment, recorded like any other: history is never rewritten. It
/// restores the releases from the ledger's own record. With --to, it restores the state the
/// environment had right after that deployment instead. Running it twice undoes the first
/// rollback, as `git revert` of a revert does.
///
/// Examples:
///   ledger rollback prod -m "error rate up after 1.4"
///   ledger rollback prod --to 1a2b3c4d --dry-run
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct RollbackArgs {
    /// The environment to roll back
    pub env: String,

    /// Restore the state right after this deployment (an id or unique prefix; see `ledger log ENV`)
    #[arg(long, value_name = "DEPLOYMENT")]
    pub to: Option<String>,

    #[command(flatten)]
    pub options: DeployOptions,
}

pub fn run(globals: &GlobalArgs, args: &RollbackArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let (progress, prompt) = (Shown::new(globals), Prompt { yes: args.options.yes });
    let options = args.options.app();
    let deployed =
        deploy::rollback(&workspace, &args.env, args.to.as_deref(), &options, (&progress, &prompt))?;
    print_deployed(globals, &deployed)
}
