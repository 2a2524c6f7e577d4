//! The flow `apply`, `promote` and `rollback` share: plan against what the environment runs
//! now, show the plan, confirm, record the intent, roll out (on ECS), record the outcome.

use std::collections::BTreeMap;

use clap::Args;
use ledger::deploy::{self, Plan, SetSource};
use ledger::history::{self, State};
use ledger::manifest::{DEFAULT_TIMEOUT, EcsEnvironment, Environment};
use ledger::store::refs;
use ledger::{Body, Change, DeployResult, EntryId, Outcome, Source, Stamp, Store, StoredEntry, Trigger};
use ledger_sync::Backoff;
use ledger_sync::rollout::{self, Clients, Options, ServiceTarget};
use serde_json::{Value, json};

use crate::cloud;
use crate::error::{CommandError, CommandResult, Finished};
use crate::lock;
use crate::output::{Releases, Style, entry_json, print_json, table};
use crate::prompt;
use crate::sharing::{self, Shared};
use crate::workspace::Workspace;

/// Services rolled out at once. A service's rollout is mostly waiting for ECS (minutes), so a
/// set of up to this many is waited for once, not in waves; polling 16 services every 5 s is
/// about 3 DescribeServices calls a second, far below ECS's rate limits.
pub const PARALLEL_SERVICES: usize = 16;

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

/// The ledger for a deploying command; with a remote, first brought up to date with it.
pub fn open_synced(workspace: &Workspace) -> Result<(Store, Option<Shared>), CommandError> {
    let store = workspace.open_store()?;
    let shared = Shared::connect(workspace)?;
    if let Some(shared) = &shared {
        shared.pull(&store)?;
    }
    Ok((store, shared))
}

/// Deploys `request`. With a remote (`shared`), the environment's lease on it is held from
/// before planning until what was recorded has been pushed, and given back even when the
/// deployment fails.
pub fn run(
    workspace: &Workspace,
    store: &Store,
    shared: Option<&Shared>,
    request: Request,
    options: &DeployOptions,
) -> CommandResult {
    let env = workspace.environment(&request.env)?.clone();
    for service in request.target.keys() {
        workspace.check_service(service).map_err(|e| match e {
            CommandError::User { message, .. } => CommandError::user(format!("cannot deploy: {message}")),
            other => other,
        })?;
    }
    let stamp = workspace.stamp(options.message.as_deref())?;
    // Held from planning to the recorded outcome, so the plan is made against a state no other
    // deployment is changing, and a concurrent one is told who holds the environment.
    let _lock = lock::lock(&workspace.ledger_dir, &request.env, &stamp.actor)?;
    let Some(shared) = shared else {
        return plan_and_deploy(workspace, store, None, &env, request, options, stamp);
    };
    let ttl = env.ecs.as_ref().map_or(DEFAULT_TIMEOUT, |ecs| ecs.timeout);
    let env_name = request.env.clone();
    shared.under_lease(store, &env_name, &stamp.actor.clone(), ttl, || {
        plan_and_deploy(workspace, store, Some(shared), &env, request, options, stamp)
    })
}

fn plan_and_deploy(
    workspace: &Workspace,
    store: &Store,
    shared: Option<&Shared>,
    env: &Environment,
    request: Request,
    options: &DeployOptions,
    stamp: Stamp,
) -> CommandResult {
    let reader = store.read()?;
    refuse_unfinished(&reader, &request.env)?;
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
    let plan = match (shared, plan.set) {
        // A new release set is an append to the remote's history of sets, made there first.
        (Some(shared), SetSource::New(set)) => {
            let recorded =
                sharing::record_release(store, Some(shared), stamp.clone(), Body::ReleaseSet(set))?;
            Plan { set: SetSource::Existing(recorded.id), ..plan }
        }
        (_, set) => Plan { set, ..plan },
    };
    if let Some(ecs) = &env.ecs {
        return roll_out(workspace, store, shared, &plan, ecs, stamp, options, plan_json);
    }
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

/// Refuses to deploy while the environment's last deployment has no final outcome.
fn refuse_unfinished(reader: &impl Source, env: &str) -> Result<(), CommandError> {
    let Some(unfinished) = history::unfinished(reader, env)? else { return Ok(()) };
    let (env, deployment) = (env.to_string(), unfinished.deployment);
    Err(match unfinished.submitted {
        None => ledger::store::ConflictError::InFlight { env, deployment },
        Some(_) => ledger::store::ConflictError::Unobserved { env, deployment },
    }
    .into())
}

/// Rolls the plan out to ECS, under the caller's environment lock: the intent is recorded first,
/// then every service is rolled out and waited for, then the outcome is recorded, whatever happened.
#[allow(clippy::too_many_arguments)]
fn roll_out(
    workspace: &Workspace,
    store: &Store,
    shared: Option<&Shared>,
    plan: &Plan,
    ecs: &EcsEnvironment,
    stamp: Stamp,
    options: &DeployOptions,
    plan_json: Value,
) -> CommandResult {
    let cloud = cloud::connect(workspace, Some(ecs))?;
    let stamp = cloud::with_principal(stamp, &cloud)?;
    let targets = service_targets(workspace, &store.read()?, &plan.env, &plan.changes)?;
    let deployment = store.write(|writer| deploy::record_intent(writer, &stamp, plan))?;
    if let Some(shared) = shared {
        // Others see the deployment in flight while it rolls out.
        shared.push(store, Some(&refs::env(&plan.env)))?;
    }
    eprintln!(
        "deployment {} to {}: rolling out {} service(s) on cluster {}",
        deployment.id.short(),
        plan.env,
        targets.len(),
        ecs.cluster
    );
    let options = Options {
        wait: !options.no_wait,
        rollback_on_failure: options.rollback_on_failure,
        backoff: Backoff::default(),
        parallel: PARALLEL_SERVICES,
    };
    let (ecs_client, parameters) = (cloud.ecs(), cloud.parameters());
    let clients = Clients { ecs: &ecs_client, parameters: &parameters };
    let outcome = cloud::run(rollout::apply(
        clients,
        &cloud::env_target(ecs),
        deployment.id,
        &targets,
        &options,
        &print_progress,
    ))?;
    let outcome =
        store.write(|writer| writer.record_outcome(outcome_stamp(&stamp), deployment.id, outcome))?;
    report(workspace, store, &plan.env, Some(plan_json), &deployment, &outcome)
}

/// What ECS names each changed service, and the images involved.
pub fn service_targets(
    workspace: &Workspace,
    reader: &impl Source,
    env: &str,
    changes: &BTreeMap<String, Change>,
) -> Result<Vec<ServiceTarget>, CommandError> {
    let image_of = |id: EntryId| -> Result<String, CommandError> {
        let stored =
            reader.entry(&id)?.ok_or_else(|| CommandError::failed(format!("release {id} is missing")))?;
        let release = stored
            .entry
            .as_release()
            .ok_or_else(|| CommandError::failed(format!("entry {id} is not a release")))?;
        Ok(release.image_ref())
    };
    let mut targets = Vec::new();
    for (service, change) in changes {
        workspace.check_service(service)?;
        let config = &workspace.manifest.services[service];
        targets.push(ServiceTarget {
            service: service.clone(),
            ecs_service: config.ecs_service_in(service, env).to_string(),
            container: config.container.clone(),
            change: *change,
            image: image_of(change.to)?,
            previous_image: change.from.map(image_of).transpose()?,
        });
    }
    Ok(targets)
}

pub fn print_progress(service: &str, message: &str) {
    eprintln!("  {service}: {message}");
}

/// An outcome's stamp: the deployment's actor and a fresh time, no message of its own.
pub fn outcome_stamp(stamp: &Stamp) -> Stamp {
    let at = crate::workspace::clock().unwrap_or(stamp.at);
    Stamp { at, actor: stamp.actor.clone(), message: String::new() }
}

/// Prints how a deployment ended, and finishes with exit 3 unless it succeeded (or was
/// submitted).
pub fn report(
    workspace: &Workspace,
    store: &Store,
    env: &str,
    plan_json: Option<Value>,
    deployment: &StoredEntry,
    outcome: &StoredEntry,
) -> CommandResult {
    let Some(ended) = outcome.entry.as_outcome() else {
        return Err(CommandError::failed(format!("entry {} is not an outcome", outcome.id)));
    };
    let reader = store.read()?;
    let releases = Releases::new(&reader);
    if workspace.globals.json() {
        let mut object = json!({
            "deployment": entry_json(&releases, deployment)?,
            "outcome": entry_json(&releases, outcome)?,
        });
        if let Some(plan) = plan_json {
            object["plan"] = plan;
        }
        print_json(&object);
    } else {
        print_outcome(&Style::detect(), env, deployment.id, ended);
    }
    Ok(match ended.result {
        DeployResult::Succeeded | DeployResult::Submitted => Finished::Success,
        DeployResult::Failed | DeployResult::RolledBack => Finished::Failed,
    })
}

fn print_outcome(style: &Style, env: &str, deployment: EntryId, outcome: &Outcome) {
    println!("deployment {} to {env}: {}", deployment.short(), style.result(Some(outcome.result)));
    let mut rows =
        vec![vec!["SERVICE".to_string(), "RESULT".into(), "TASK DEFINITION".into(), "DETAIL".into()]];
    for (service, ended) in &outcome.services {
        let task_definition = ended.task_definition.as_deref().map_or("-", rollout::short_arn);
        rows.push(vec![
            service.clone(),
            style.result(Some(ended.result)),
            task_definition.to_string(),
            ended.detail.clone(),
        ]);
    }
    print!("{}", table(&rows));
    match outcome.result {
        DeployResult::Submitted => println!("not waited for: `ledger wait {env}` records how it ends"),
        DeployResult::Failed => {
            println!(
                "`ledger status {env} --live` shows what runs now; `ledger rollback {env}` undoes the last success"
            )
        }
        DeployResult::Succeeded | DeployResult::RolledBack => {}
    }
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
