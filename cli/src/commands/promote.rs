//! `ledger promote`: deploy what one environment runs to another.

use clap::Args;
use ledger_app::deploy;

use crate::cli::GlobalArgs;
use crate::deploying::{DeployOptions, print_deployed};
use crate::error::CommandResult;
use crate::progress::Shown;
use crate::prompt::Prompt;

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
    let workspace = globals.workspace()?;
    let (progress, prompt) = (Shown::new(globals), Prompt { yes: args.options.yes });
    let deployed = deploy::promote(
        &workspace,
        &args.from_env,
        &args.to_env,
        &args.services,
        &args.options.app(),
        (&progress, &prompt),
    )?;
    print_deployed(globals, &deployed)
}
