//! `wait` and `reconcile`: find the environment's unfinished deployment, observe ECS until each
//! of its services has ended, and record the outcome, under the environment's guard as `apply`.

use std::collections::BTreeMap;

use ledger::history;
use ledger::manifest::EcsEnvironment;
use ledger::{Source, Stamp, StoredEntry};
use ledger_sync::Backoff;
use ledger_sync::rollout::{self, Clients, Options};
use ledger_sync::task::Ran;

use crate::cloud;
use crate::deploy::{Deployed, PARALLEL_SERVICES, Recorded, concluded, outcome_stamp, service_targets};
use crate::error::{Error, Result};
use crate::hooks::Progress;
use crate::interrupt;
use crate::session::Session;
use crate::tasks;
use crate::workspace::Workspace;

/// Which unfinished deployments an operation concludes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Concluding {
    /// `wait`: one submitted without waiting.
    Submitted,
    /// `reconcile`: one in flight or interrupted (or submitted).
    Any,
}

/// Concludes `env`'s unfinished deployment; nothing recorded when there is none.
pub fn conclude(
    workspace: &Workspace,
    env: &str,
    concluding: Concluding,
    progress: &dyn Progress,
) -> Result<Deployed> {
    let config = workspace.environment(env)?;
    let Some(ecs) = config.ecs.clone() else {
        return Err(Error::usage(format!(
            "{env} is a record-only environment (no `cluster` in ledger.toml): there is nothing on ECS to observe"
        )));
    };
    let session = Session::open_synced(workspace, progress)?;
    let stamp = workspace.stamp(None)?;
    let actor = stamp.actor.clone();
    session.guarded(env, &actor, ecs.timeout, || observe_and_record(&session, env, &ecs, stamp, concluding))
}

fn observe_and_record(
    session: &Session<'_>,
    env: &str,
    ecs: &EcsEnvironment,
    stamp: Stamp,
    concluding: Concluding,
) -> Result<Deployed> {
    let store = &session.store;
    let reader = store.read()?;
    let Some(unfinished) = history::unfinished(&reader, env)? else {
        return Ok(Deployed {
            env: env.to_string(),
            plan: None,
            recorded: None,
            json: serde_json::Value::Null,
        });
    };
    if concluding == Concluding::Submitted && unfinished.submitted.is_none() {
        return Err(Error::usage(format!(
            "deployment {} to {env} was not submitted with --no-wait: it is in flight or was interrupted",
            unfinished.deployment.short()
        ))
        .hint(format!("`ledger reconcile {env}` reads what ECS runs and records how it ended")));
    }
    let missing =
        || Error::failed(format!("deployment {} is missing; run `ledger verify`", unfinished.deployment));
    let deployment = reader.entry(&unfinished.deployment)?.ok_or_else(missing)?;
    let changes = deployment.entry.as_deployment().ok_or_else(missing)?.changes.clone();
    let known = match unfinished.submitted {
        Some(id) => reader.entry(&id)?.and_then(|e| e.entry.as_outcome().map(|o| o.services.clone())),
        None => None,
    }
    .unwrap_or_default();
    let targets = service_targets(session.workspace, &reader, env, &ecs.cluster, &changes)?;
    drop(reader);

    let (cloud, stamp) = session.connect(ecs, stamp)?;
    session.progress.note(&format!(
        "deployment {} to {env}: observing {} service(s) on cluster {}",
        deployment.id.short(),
        targets.len(),
        ecs.cluster
    ));
    let (observed, ran) = observe(session, &cloud, ecs, &deployment, &targets, &known);
    // The verification's run is recorded whatever became of the wait, after the outcome.
    let record_tasks = || tasks::record_deployment_tasks(session, env, &stamp, deployment.id, ran);
    let Some(outcome) = observed? else {
        record_tasks();
        let next = if unfinished.submitted.is_some() { "wait" } else { "reconcile" };
        return Err(interrupt::stopped_waiting(format!(
            "nothing was recorded; deployment {} to {env} is still unfinished",
            deployment.id.short()
        ))
        .hint(format!("`ledger {next} {env}` observes it again and records how it ended")));
    };
    let outcome =
        store.write(|writer| writer.record_outcome(outcome_stamp(&stamp), deployment.id, outcome))?;
    record_tasks();
    concluded(session, env, None, Recorded { deployment, outcome, record_only: false })
}

fn observe(
    session: &Session<'_>,
    cloud: &ledger_sync::Cloud,
    ecs: &EcsEnvironment,
    deployment: &StoredEntry,
    targets: &[rollout::ServiceTarget],
    known: &BTreeMap<String, ledger::ServiceOutcome>,
) -> (Result<Option<ledger::Outcome>>, Vec<Ran>) {
    let options = Options {
        wait: true,
        rollback_on_failure: false,
        backoff: Backoff::default(),
        parallel: PARALLEL_SERVICES,
        described: BTreeMap::new(),
    };
    let (ecs_client, parameters, codedeploy) = (cloud.ecs(), cloud.parameters(), cloud.codedeploy());
    let clients = Clients { ecs: &ecs_client, parameters: &parameters, codedeploy: &codedeploy };
    let progress = |service: &str, line: &str| session.progress.service(service, line);
    let hooks =
        tasks::verification_tasks(session.workspace, ecs, &ecs_client, deployment.id, targets, &progress);
    let observed = interrupt::block_on_interruptible(rollout::observe(
        clients,
        &cloud::env_target(ecs),
        rollout::Unfinished { deployment: deployment.id, services: targets, known },
        &options,
        &hooks,
        &progress,
    ));
    (observed, hooks.take_runs())
}
