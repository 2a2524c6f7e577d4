//! `ledger run`: run a one-off task with what an environment runs now, and record it.

use clap::Args;
use ledger_app::tasks;
use ledger_app::text::inert;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{note, outln, print_json};
use crate::progress::Shown;

/// Run a one-off task (a migration, a console command) with what an environment runs now
///
/// Runs the task definition the service runs now in the environment, on its cluster, placed as
/// the service is (launch type or capacity providers, subnets, security groups), with the
/// service's `container` running COMMAND instead of its own. Waits until the task stops (at
/// most --timeout; the task is left running past it), prints its exit code and where its logs
/// are, and records the run in the ledger: `ledger log <env>` shows it.
///
/// Exits 0 when the task's container exited 0, 3 otherwise (it exited non-zero, stopped
/// without an exit code, did not start, or was still running at the timeout).
///
/// Deployments run such tasks themselves: `before` (per service, with the new image, before
/// the service is updated) and `verify` (per environment, once every service succeeded); see
/// the README, "On ECS".
///
/// Examples:
///   ledger run stage api -- bin/rails db:migrate:status
///   ledger run prod worker --timeout 30m -- ./reindex --all
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct RunArgs {
    /// The environment (on ECS) to run in
    pub env: String,
    /// The service whose current task definition and network settings the task takes
    pub service: String,
    /// How long to wait for the task to stop (as `before`/`verify` tasks' default)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    /// The command, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    ledger_app::ledger::manifest::parse_duration(text)
}

pub fn run(globals: &GlobalArgs, args: &RunArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let ran =
        tasks::run(&workspace, &args.env, &args.service, &args.command, args.timeout, &Shown::new(globals))?;
    let run = ran.run();
    if globals.json() {
        print_json(&ran.json)?;
    } else {
        outln(&ran.entry.id.to_string())?;
        let exit = run.exit_code.map_or("none".to_string(), |code| code.to_string());
        note(&format!("exit code: {exit} ({})", inert(&run.detail)));
        if let Some(task) = &run.task {
            note(&format!("task: {}", inert(task)));
        }
        note(&format!("logs: {}", inert(&tasks::logs_line(run))));
    }
    Ok(if run.succeeded { Finished::Success } else { Finished::Failed })
}
