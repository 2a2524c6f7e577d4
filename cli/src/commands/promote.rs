//! `ledger promote`: deploy what one environment runs to another.

use clap::Args;
use ledger::deploy::SetSource;
use ledger::store::refs;
use ledger::{Source, Trigger};

use crate::cli::GlobalArgs;
use crate::deploy::{self, DeployOptions, Request, select_services};
use crate::error::{CommandError, CommandResult};
use crate::workspace::Workspace;

/// Deploy to TO_ENV what FROM_ENV runs now
///
/// The plan is the difference between the two environments (see `ledger diff FROM TO`).
///
/// Examples:
///   ledger promote stage prod -m "ship 1.4"
///   ledger promote stage prod --service api --dry-run
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct PromoteArgs {
    /// The environment whose releases are promoted
    pub from_env: String,

    /// The environment to deploy to
    pub to_env: String,

    /// Promote only this service (repeatable)
    #[arg(long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,

    #[command(flatten)]
    pub options: DeployOptions,
}

pub fn run(globals: &GlobalArgs, args: &PromoteArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    workspace.environment(&args.from_env)?;
    workspace.environment(&args.to_env)?;
    if args.from_env == args.to_env {
        return Err(CommandError::user("promote needs two different environments"));
    }
    for service in &args.services {
        workspace.check_service(service)?;
    }
    let (store, shared) = deploy::open_synced(&workspace)?;
    let (from_head, target) = {
        let reader = store.read()?;
        let state = reader.env_state(&args.from_env)?;
        if state.is_empty() {
            return Err(CommandError::user(format!(
                "{} runs nothing yet; there is nothing to promote",
                args.from_env
            )));
        }
        (
            reader.ref_target(&refs::env(&args.from_env))?,
            select_services(state, &args.services, &args.from_env)?,
        )
    };
    let trigger = Trigger::Promote { from_env: args.from_env.clone(), from_head };
    let request =
        Request { env: args.to_env.clone(), set: SetSource::None, trigger, target, notes: Vec::new() };
    deploy::run(&workspace, &store, shared.as_ref(), request, &args.options)
}
