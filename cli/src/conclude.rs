//! The flow `wait` and `reconcile` share: find the environment's unfinished deployment, observe
//! ECS until each of its services has ended, and record the outcome (with a remote, under the
//! environment's lease there, as `apply` does).

use std::collections::BTreeMap;

use ledger::history;
use ledger::manifest::EcsEnvironment;
use ledger::{Source, Stamp, Store};
use ledger_sync::Backoff;
use ledger_sync::rollout::{self, Clients, Options};

use crate::cloud;
use crate::deploy::{PARALLEL_SERVICES, open_synced, outcome_stamp, print_progress, report, service_targets};
use crate::error::{CommandError, CommandResult, Finished};
use crate::lock;
use crate::workspace::Workspace;

/// Which unfinished deployments a command concludes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Concluding {
    /// `wait`: one submitted without waiting.
    Submitted,
    /// `reconcile`: one in flight or interrupted (or submitted).
    Any,
}

pub fn run(workspace: &Workspace, env: &str, concluding: Concluding) -> CommandResult {
    let config = workspace.environment(env)?;
    let Some(ecs) = config.ecs.clone() else {
        return Err(CommandError::user(format!(
            "{env} is a record-only environment (no `cluster` in ledger.toml): there is nothing on ECS to observe"
        )));
    };
    let (store, shared) = open_synced(workspace)?;
    let stamp = workspace.stamp(None)?;
    let _lock = lock::lock(&workspace.ledger_dir, env, &stamp.actor)?;
    match &shared {
        Some(shared) => shared.under_lease(&store, env, &stamp.actor.clone(), ecs.timeout, || {
            conclude(workspace, &store, env, &ecs, stamp, concluding)
        }),
        None => conclude(workspace, &store, env, &ecs, stamp, concluding),
    }
}

fn conclude(
    workspace: &Workspace,
    store: &Store,
    env: &str,
    ecs: &EcsEnvironment,
    stamp: Stamp,
    concluding: Concluding,
) -> CommandResult {
    let reader = store.read()?;
    let Some(unfinished) = history::unfinished(&reader, env)? else {
        if !workspace.globals.json() {
            println!("nothing to do: the last deployment to {env} has its outcome (`ledger status {env}`)");
        }
        return Ok(Finished::Success);
    };
    if concluding == Concluding::Submitted && unfinished.submitted.is_none() {
        return Err(CommandError::user(format!(
            "deployment {} to {env} was not submitted with --no-wait: it is in flight or was interrupted",
            unfinished.deployment.short()
        ))
        .with_hint(format!("`ledger reconcile {env}` reads what ECS runs and records how it ended")));
    }
    let missing = || {
        CommandError::failed(format!("deployment {} is missing; run `ledger verify`", unfinished.deployment))
    };
    let deployment = reader.entry(&unfinished.deployment)?.ok_or_else(missing)?;
    let changes = deployment.entry.as_deployment().ok_or_else(missing)?.changes.clone();
    let known = match unfinished.submitted {
        Some(id) => reader.entry(&id)?.and_then(|e| e.entry.as_outcome().map(|o| o.services.clone())),
        None => None,
    }
    .unwrap_or_default();
    let targets = service_targets(workspace, &reader, env, &changes)?;
    drop(reader);

    let cloud = cloud::connect(workspace, Some(ecs))?;
    let stamp = cloud::with_principal(stamp, &cloud)?;
    eprintln!(
        "deployment {} to {env}: observing {} service(s) on cluster {}",
        deployment.id.short(),
        targets.len(),
        ecs.cluster
    );
    let outcome = observe(&cloud, ecs, &deployment, &targets, &known)?;
    let outcome =
        store.write(|writer| writer.record_outcome(outcome_stamp(&stamp), deployment.id, outcome))?;
    report(workspace, store, env, None, &deployment, &outcome)
}

fn observe(
    cloud: &ledger_sync::Cloud,
    ecs: &EcsEnvironment,
    deployment: &ledger::StoredEntry,
    targets: &[rollout::ServiceTarget],
    known: &BTreeMap<String, ledger::ServiceOutcome>,
) -> Result<ledger::Outcome, CommandError> {
    let options = Options {
        wait: true,
        rollback_on_failure: false,
        backoff: Backoff::default(),
        parallel: PARALLEL_SERVICES,
    };
    let (ecs_client, parameters) = (cloud.ecs(), cloud.parameters());
    let clients = Clients { ecs: &ecs_client, parameters: &parameters };
    cloud::run(rollout::observe(
        clients,
        &cloud::env_target(ecs),
        deployment.id,
        targets,
        known,
        &options,
        &print_progress,
    ))
}
