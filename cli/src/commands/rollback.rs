//! `ledger rollback`: a new forward deployment that restores an earlier state.

use clap::Args;
use ledger::deploy::{SetSource, rollback_target};
use ledger::resolve::resolve;
use ledger::{Source, Trigger};

use crate::cli::GlobalArgs;
use crate::deploy::{self, DeployOptions, Request};
use crate::error::{CommandError, CommandResult};
use crate::workspace::Workspace;

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
    let workspace = Workspace::load(globals)?;
    workspace.environment(&args.env)?;
    let (store, shared) = deploy::open_synced(&workspace)?;
    let (target, trigger, notes) = {
        let reader = store.read()?;
        let to = match &args.to {
            Some(text) => Some(resolve(&reader, text)?),
            None => None,
        };
        let (target, trigger) = rollback_target(&reader, &args.env, to)?.ok_or_else(|| {
            CommandError::user(format!("{} has no successful deployment to roll back", args.env))
        })?;
        let notes = reader
            .env_state(&args.env)?
            .keys()
            .filter(|service| !target.contains_key(*service))
            .map(|service| format!("{service} did not run in {} then; left as it is", args.env))
            .collect();
        (target, trigger, notes)
    };
    if let Trigger::Rollback { to: None } = trigger {
        return Err(CommandError::user(format!(
            "the last successful deployment is the first deployment to {}; there is no earlier state to restore",
            args.env
        )));
    }
    let request = Request { env: args.env.clone(), set: SetSource::None, trigger, target, notes };
    deploy::run(&workspace, &store, shared.as_ref(), request, &args.options)
}
