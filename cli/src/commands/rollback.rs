//! `ledger rollback`: a new forward deployment that restores an earlier state.

use clap::Args;
use ledger_app::deploy;

use crate::cli::GlobalArgs;
use crate::deploying::{DeployOptions, print_deployed};
use crate::error::CommandResult;
use crate::progress::Shown;
use crate::prompt::Prompt;

/// Restore an environment's last good state
///
/// Rollback is a new deployment, recorded like any other: history is never rewritten. It
/// restores, from the ledger's own record, the newest state other than what runs now whose
/// deployment succeeded, that no rollback has left since, and that holds no quarantined
/// release; the plan says which state and why. Running it again goes further back, never to
/// the state the first rollback left. With --to, it restores the state the environment had
/// right after that deployment instead, whatever it was. The environment's policy applies as
/// to any deployment (see `ledger approvals ENV`).
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
