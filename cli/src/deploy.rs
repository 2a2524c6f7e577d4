//! The flow `apply`, `promote` and `rollback` share: plan against what the environment runs
//! now, show the plan, confirm, record the intent and the outcome.

use clap::Args;
use ledger::deploy::{self, Plan, SetSource};
use ledger::history::{self, State};
use ledger::{Source, Store, Trigger};
use serde_json::{Value, json};

use crate::error::{CommandError, CommandResult, Finished};
use crate::output::{Releases, Style, entry_json, print_json, table};
use crate::prompt;
use crate::workspace::Workspace;

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
}

/// What to deploy, decided by the command.
pub struct Request {
    pub env: String,
    pub set: SetSource,
    pub trigger: Trigger,
    pub target: State,
    /// Lines shown under the plan: services left as they are, and why.
    pub notes: Vec<String>,
}

/// Keeps only the services named with `--service`; each must be in `state`.
pub fn select_services(state: State, selected: &[String], what: &str) -> Result<State, CommandError> {
    if selected.is_empty() {
        return Ok(state);
    }
    let mut kept = State::new();
    for service in selected {
        let release = state
            .get(service)
            .ok_or_else(|| CommandError::user(format!("service {service:?} is not in {what}")))?;
        kept.insert(service.clone(), *release);
    }
    Ok(kept)
}

pub fn run(workspace: &Workspace, store: &Store, request: Request, options: &DeployOptions) -> CommandResult {
    let env = workspace.environment(&request.env)?.clone();
    for service in request.target.keys() {
        workspace.check_service(service).map_err(|e| match e {
            CommandError::User { message, .. } => CommandError::user(format!("cannot deploy: {message}")),
            other => other,
        })?;
    }
    let stamp = workspace.stamp(options.message.as_deref())?;
    let reader = store.read()?;
    if let Some(deployment) = history::in_flight(&reader, &request.env)? {
        return Err(ledger::store::ConflictError::InFlight { env: request.env.clone(), deployment }.into());
    }
    let plan = Plan::towards(&reader, &request.env, request.set, request.trigger, &request.target)?;
    let json = workspace.globals.json();
    let plan_json = render_plan(&Releases::new(&reader), &plan, &request.notes, json)?;
    drop(reader);

    if plan.is_empty() || options.dry_run {
        if json {
            print_json(&json!({"plan": plan_json, "deployment": null, "outcome": null}));
        } else if plan.is_empty() {
            println!("nothing to deploy: {} already runs these releases; nothing recorded", plan.env);
        } else {
            println!("dry run: nothing recorded");
        }
        return Ok(Finished::Success);
    }
    prompt::confirm_deploy(&plan.env, env.protected, options.yes)?;
    let recorded = store.write(|writer| deploy::record_only(writer, &stamp, &plan))?;
    let reader = store.read()?;
    let releases = Releases::new(&reader);
    if json {
        print_json(&json!({
            "plan": plan_json,
            "deployment": entry_json(&releases, &recorded.deployment)?,
            "outcome": entry_json(&releases, &recorded.outcome)?,
        }));
    } else {
        let style = Style::detect();
        println!(
            "deployment {} to {}: {} (record-only environment: recorded, nothing called)",
            recorded.deployment.id.short(),
            plan.env,
            style.result(Some(ledger::DeployResult::Succeeded))
        );
    }
    Ok(Finished::Success)
}

/// Prints the plan (human) or returns it (JSON).
fn render_plan<S: Source>(
    releases: &Releases<'_, S>,
    plan: &Plan,
    notes: &[String],
    json: bool,
) -> Result<Value, CommandError> {
    let mut changes = Vec::new();
    let mut rows = vec![vec!["SERVICE".to_string(), "NOW".to_string(), String::new(), "AFTER".to_string()]];
    for (service, change) in &plan.changes {
        changes.push(json!({
            "service": service,
            "from": releases.json(change.from)?,
            "to": releases.json(Some(change.to))?,
        }));
        rows.push(vec![
            service.clone(),
            releases.human(change.from)?,
            "->".into(),
            releases.human(Some(change.to))?,
        ]);
    }
    if !json && !plan.is_empty() {
        println!(
            "plan for {} ({} service{} change):",
            plan.env,
            plan.changes.len(),
            if plan.changes.len() == 1 { "" } else { "s" }
        );
        print!("{}", table(&rows));
        for note in notes {
            println!("note: {note}");
        }
    }
    Ok(json!({"env": plan.env, "changes": changes, "notes": notes}))
}
