//! `ledger observe`: record the ECS deployments no ledger user started.

use clap::Args;
use ledger_app::observe::observe;

use crate::cli::GlobalArgs;
use crate::deploying::print_deployed;
use crate::error::CommandResult;
use crate::output::{outln, print_json};
use crate::progress::Shown;

/// Record what ECS runs that no ledger user deployed, as an observed deployment
///
/// Finds, for every service of the environment, an ECS deployment that the ledger did not
/// start: a console deploy, a one-click rollback, another tool (`ledger status <env> --live`
/// names them). Each one that has ended is recorded in one deployment marked "observed": the
/// image ECS runs (its service's latest release when it is that image, else a new release),
/// the task definition, and when ECS started it. `ledger log` shows it as such. Nothing on ECS
/// or SSM is changed. A deployment still rolling out is left for a later observe.
///
/// Examples:
///   ledger status prod --live        see what ECS runs that the ledger did not start
///   ledger observe prod -m "hotfix deployed from the console during incident 4711"
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ObserveArgs {
    /// The environment to observe (it must have a `cluster` in ledger.toml)
    pub env: String,

    /// Why: recorded with the observed deployment [default: "observed on ECS"]
    #[arg(short, long, value_name = "REASON")]
    pub message: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &ObserveArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let progress = Shown::new(globals);
    let observation = observe(&workspace, &args.env, args.message.as_deref(), &progress)?;
    match &observation.deployed {
        Some(deployed) if !globals.json() => print_deployed(globals, deployed),
        _ => {
            if globals.json() {
                print_json(&observation.json)?;
            } else if observation.skipped.is_empty() {
                outln(&format!(
                    "nothing recorded: every service of {} runs what the ledger's deployments left there",
                    args.env
                ))?;
            } else {
                outln("nothing recorded yet: observe again once the deployments above have ended")?;
            }
            Ok(crate::error::Finished::Success)
        }
    }
}
