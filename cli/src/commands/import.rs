//! `ledger import`: adopt an environment that already runs on ECS.

use clap::Args;
use ledger_app::import::import;

use crate::cli::GlobalArgs;
use crate::deploying::print_deployed;
use crate::error::CommandResult;
use crate::progress::Shown;

/// Adopt an environment that already runs: record what ECS runs now as its first state
///
/// Reads each service's running image from ECS (the PRIMARY deployment's task definition) and
/// records it as the environment's first deployment, so a team can start using the ledger
/// without redeploying. An image that matches the service's latest release reuses it; any
/// other is recorded as a new release. Nothing on ECS or SSM is changed. Only an environment
/// with no deployments yet can be imported.
///
/// Examples:
///   ledger import prod -m "adopted by the ledger"
///   ledger import stage --service api --service search
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ImportArgs {
    /// The environment to adopt (it must have a `cluster` in ledger.toml)
    pub env: String,

    /// Import only this service (repeatable) [default: every service of ledger.toml]
    #[arg(long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,

    /// Why: recorded with the import
    #[arg(short, long, value_name = "REASON")]
    pub message: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &ImportArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let progress = Shown::new(globals);
    let deployed = import(&workspace, &args.env, &args.services, args.message.as_deref(), &progress)?;
    print_deployed(globals, &deployed)
}
