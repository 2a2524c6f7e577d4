//! What `apply`, `promote`, `rollback`, `wait`, `reconcile` and `import` share on the command
//! line: the deploy options, and how a deployment's result is printed.

use clap::Args;
use ledger_app::deploy::{self, Deployed};
use ledger_app::ledger::{DeployResult, Outcome};
use ledger_app::text::inert;
use ledger_app::views::short_arn;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{Style, outln, print_json, table};

/// Options every deploying command takes.
#[derive(Args, Debug, Clone)]
pub struct DeployOptions {
    /// Show the plan and stop; nothing is recorded
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation (required when there is no terminal to ask on)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Why: recorded with the deployment and shown by `ledger log`
    #[arg(short, long, value_name = "REASON")]
    pub message: Option<String>,

    /// On ECS: record the outcome as `submitted` once ECS has taken the update, without
    /// waiting; `ledger wait <env>` records how it ended
    #[arg(long)]
    pub no_wait: bool,

    /// On ECS: if a service fails, put every service this deployment changed back to its
    /// previous release (the outcome is then `rolled_back`)
    #[arg(long, conflicts_with = "no_wait")]
    pub rollback_on_failure: bool,

    /// Break glass: deploy although the environment's policy refuses it (approvals, soak,
    /// freeze, quarantine); -m gives the reason. The deployment records that it was forced,
    /// past which gates, and why. Refused where the policy says `override = false`
    #[arg(long = "override", requires = "message")]
    pub force: bool,
}

impl DeployOptions {
    pub fn app(&self) -> deploy::DeployOptions {
        deploy::DeployOptions {
            dry_run: self.dry_run,
            message: self.message.clone(),
            no_wait: self.no_wait,
            rollback_on_failure: self.rollback_on_failure,
            force: self.force,
        }
    }
}

/// Prints what a deploying command did; exit 3 unless its deployment succeeded (or was submitted).
pub fn print_deployed(globals: &GlobalArgs, deployed: &Deployed) -> CommandResult {
    let env = &deployed.env;
    let Some(recorded) = &deployed.recorded else {
        match (globals.json(), &deployed.plan) {
            (true, Some(_)) => print_json(&deployed.json)?,
            // `wait` or `reconcile` with nothing unfinished: nothing for scripts to read.
            (true, None) => {}
            (false, Some(plan)) if plan.is_empty() => {
                outln(&format!("nothing to deploy: {env} already runs these releases; nothing recorded"))?
            }
            (false, Some(_)) => outln("dry run: nothing recorded")?,
            (false, None) => outln(&format!(
                "nothing to do: the last deployment to {env} has its outcome (`ledger status {env}`)"
            ))?,
        }
        return Ok(Finished::Success);
    };
    let style = Style::detect();
    if globals.json() {
        print_json(&deployed.json)?;
    } else if recorded.record_only {
        outln(&format!(
            "deployment {} to {env}: {} (record-only environment: recorded, nothing called)",
            recorded.deployment.id.short(),
            style.result(deployed.result())
        ))?;
    } else if let Some(outcome) = recorded.outcome.entry.as_outcome() {
        print_outcome(&style, env, &recorded.deployment.id.short(), outcome)?;
    }
    Ok(if deployed.succeeded() { Finished::Success } else { Finished::Failed })
}

fn print_outcome(
    style: &Style,
    env: &str,
    deployment: &str,
    outcome: &Outcome,
) -> Result<(), crate::error::CommandError> {
    let mut text = format!("deployment {deployment} to {env}: {}\n", style.result(Some(outcome.result)));
    let mut rows =
        vec![vec!["SERVICE".to_string(), "RESULT".into(), "TASK DEFINITION".into(), "DETAIL".into()]];
    for (service, ended) in &outcome.services {
        let task_definition = ended.task_definition.as_deref().map_or("-", short_arn);
        rows.push(vec![
            inert(service).into_owned(),
            style.result(Some(ended.result)),
            task_definition.to_string(),
            inert(ended.said()).into_owned(),
        ]);
    }
    text.push_str(&table(&rows));
    match outcome.result {
        DeployResult::Submitted => text.push_str(&format!("not waited for: `ledger wait {env}` records how it ends\n")),
        DeployResult::Failed => text.push_str(&format!(
            "`ledger status {env} --live` shows what runs now; `ledger rollback {env}` undoes the last success\n"
        )),
        DeployResult::Succeeded | DeployResult::RolledBack => {}
    }
    crate::output::out(&text)
}
