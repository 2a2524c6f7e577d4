//! `ledger apply`: deploy a release set to an environment.

use clap::Args;
use ledger_app::deploy;

use crate::cli::GlobalArgs;
use crate::deploying::{DeployOptions, print_deployed};
use crate::error::CommandResult;
use crate::progress::Shown;
use crate::prompt::Prompt;

/// Deploy a release set to an environment
///
/// Shows the plan (what changes against what the environment runs now), asks for a
/// confirmation on a terminal, then records the deployment and its outcome. On a record-only
/// environment (no cluster), nothing is called: the deployment is recorded as done.
///
/// RELEASE_SET is one of:
///   an id or a unique prefix (at least 4 hex digits) of a release set;
///   a service set's name: its latest release set (see `ledger release`);
///   latest: a new release set from the latest release of each service (or of each --service),
///   recorded together with the deployment: the single-step deploy.
///
/// Examples:
///   ledger apply frontend stage
///   ledger apply latest stage --service api -m "hotfix for #123"
///   ledger apply 5b1c2d3e prod --dry-run
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ApplyArgs {
    /// A release set id or prefix, a service set's name, or `latest`
    pub release_set: String,

    /// The environment to deploy to
    pub env: String,

    /// Deploy only this service of the set (repeatable)
    #[arg(long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,

    #[command(flatten)]
    pub options: DeployOptions,
}

pub fn run(globals: &GlobalArgs, args: &ApplyArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let (progress, prompt) = (Shown::new(globals), Prompt { yes: args.options.yes });
    let deployed = deploy::apply(
        &workspace,
        &args.release_set,
        &args.env,
        &args.services,
        &args.options.app(),
        (&progress, &prompt),
    )?;
    print_deployed(globals, &deployed)
}
