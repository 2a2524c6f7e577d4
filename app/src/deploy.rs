//! Deploying: `apply`, `promote` and `rollback` each decide a target state, then share one flow —
//! plan against what the environment runs now, show the plan, confirm, record the intent, roll
//! out (on ECS), record the outcome — run under the environment's guard (see [`Session`]).

use std::collections::BTreeMap;

use ledger::deploy::{self, Plan, SetSource, rollback_target};
use ledger::history::{self, State};
use ledger::manifest::{DEFAULT_TIMEOUT, EcsEnvironment, Environment};
use ledger::policy;
use ledger::refs::RefName;
use ledger::resolve::resolve;
use ledger::store::ConflictError;
use ledger::{Body, Change, DeployResult, EntryId, ReleaseSet, Source, Stamp, StoredEntry, Trigger};
use ledger_sync::codedeploy::DeploymentGroup;
use ledger_sync::rollout::{self, Clients, Options, ServiceTarget};
use ledger_sync::{Backoff, Cloud, ecs};
use serde_json::{Value, json};

use crate::cloud;
use crate::error::{Error, Result};
use crate::gates;
use crate::hooks::{Confirm, Progress};
use crate::interrupt;
use crate::json;
use crate::observe;
use crate::session::Session;
use crate::tasks;
use crate::views::{PlanView, Releases, release_set_named};
use crate::workspace::{Workspace, clock};

/// Services rolled out at once. A service's rollout is mostly waiting for ECS (minutes), so a
/// set of up to this many is waited for once, not in waves; polling 16 services every 5 s is
/// about 3 DescribeServices calls a second, far below ECS's rate limits.
pub const PARALLEL_SERVICES: usize = 16;

/// How a deployment is carried out.
#[derive(Clone, Debug, Default)]
pub struct DeployOptions {
    /// Plan and stop; nothing is recorded.
    pub dry_run: bool,
    /// Why: recorded with the deployment.
    pub message: Option<String>,
    /// On ECS: record `submitted` once ECS has the update, without waiting.
    pub no_wait: bool,
    /// On ECS: put every changed service back when one fails.
    pub rollback_on_failure: bool,
    /// `--override`: pass the gates the plan does not meet by force; `message` is the reason,
    /// recorded with the deployment.
    pub force: bool,
}

/// What a deploying operation did: the plan, and what it recorded (nothing on a dry run, when
/// nothing changes, or when there was nothing to conclude).
pub struct Deployed {
    pub env: String,
    pub plan: Option<PlanView>,
    pub recorded: Option<Recorded>,
    /// The operation's `--output json` document.
    pub json: Value,
}

/// A deployment and its outcome, as recorded.
pub struct Recorded {
    pub deployment: StoredEntry,
    pub outcome: StoredEntry,
    /// Recorded on a record-only environment: nothing was called.
    pub record_only: bool,
}

impl Deployed {
    /// How the deployment ended; `None` when nothing was recorded.
    pub fn result(&self) -> Option<DeployResult> {
        self.recorded.as_ref().and_then(|r| r.outcome.entry.as_outcome()).map(|outcome| outcome.result)
    }

    /// Whether the operation reached what it was asked for: nothing to do, or an outcome that
    /// succeeded (or was submitted, for `--no-wait`).
    pub fn succeeded(&self) -> bool {
        !matches!(self.result(), Some(DeployResult::Failed | DeployResult::RolledBack))
    }
}

/// What to deploy, decided by the operation.
struct Request {
    env: String,
    set: SetSource,
    trigger: Trigger,
    target: State,
    /// Lines shown under the plan: services left as they are, and why.
    notes: Vec<String>,
}

/// `apply <release_set> <env> [--service …]`: `release_set` is an id or prefix, a service set's
/// name, or `latest`.
pub fn apply(
    workspace: &Workspace,
    release_set: &str,
    env: &str,
    services: &[String],
    options: &DeployOptions,
    hooks: (&dyn Progress, &dyn Confirm),
) -> Result<Deployed> {
    workspace.environment(env)?;
    for service in services {
        workspace.check_service(service)?;
    }
    let session = Session::open_synced(workspace, hooks.0)?;
    let (set, target) = {
        let reader = session.store.read()?;
        apply_target(workspace, &reader, release_set, services)?
    };
    let request = Request { env: env.to_string(), set, trigger: Trigger::Apply, target, notes: Vec::new() };
    run(&session, request, options, hooks.1)
}

/// The release set `apply` deploys, and the state it leads to.
fn apply_target(
    workspace: &Workspace,
    reader: &impl Source,
    release_set: &str,
    services: &[String],
) -> Result<(SetSource, State)> {
    if release_set == "latest" {
        let services = if services.is_empty() { workspace.services_of(None)? } else { services.to_vec() };
        let mut releases = State::new();
        let mut missing = Vec::new();
        for service in services {
            match reader.ref_target(&RefName::service(&service))? {
                Some(release) => {
                    releases.insert(service, release);
                }
                None => missing.push(service),
            }
        }
        if !missing.is_empty() {
            return Err(Error::usage(format!("no release yet for: {}", missing.join(", ")))
                .hint("record one with `ledger register <service> <image>`, or name others with --service"));
        }
        let set = ReleaseSet { service_set: None, releases: releases.clone() };
        return Ok((SetSource::New(set), releases));
    }
    let instead =
        "make a release set with `ledger release`, or use `ledger apply latest <env> --service <s>`";
    let (id, set) = release_set_named(workspace, reader, release_set, "`latest`", instead)?;
    let what = format!("release set {}", id.short());
    let target = select_services(set.releases.clone(), services, &what)?;
    Ok((SetSource::Existing(id), target))
}

/// `promote <from_env> <to_env> [--service …]`: deploys what `from_env` runs now.
pub fn promote(
    workspace: &Workspace,
    from_env: &str,
    to_env: &str,
    services: &[String],
    options: &DeployOptions,
    hooks: (&dyn Progress, &dyn Confirm),
) -> Result<Deployed> {
    workspace.environment(from_env)?;
    workspace.environment(to_env)?;
    if from_env == to_env {
        return Err(Error::usage("promote needs two different environments"));
    }
    for service in services {
        workspace.check_service(service)?;
    }
    let session = Session::open_synced(workspace, hooks.0)?;
    let (from_head, target) = {
        let reader = session.store.read()?;
        let state = reader.env_state(from_env)?;
        if state.is_empty() {
            return Err(Error::usage(format!("{from_env} runs nothing yet; there is nothing to promote")));
        }
        (reader.ref_target(&RefName::env(from_env))?, select_services(state, services, from_env)?)
    };
    let trigger = Trigger::Promote { from_env: from_env.to_string(), from_head };
    let request =
        Request { env: to_env.to_string(), set: SetSource::None, trigger, target, notes: Vec::new() };
    run(&session, request, options, hooks.1)
}

/// `rollback <env> [--to <deployment>]`: restores the environment's last good state (see
/// [`rollback_target`]; the plan's first note says which and why), or the state right after `to`.
pub fn rollback(
    workspace: &Workspace,
    env: &str,
    to: Option<&str>,
    options: &DeployOptions,
    hooks: (&dyn Progress, &dyn Confirm),
) -> Result<Deployed> {
    workspace.environment(env)?;
    let session = Session::open_synced(workspace, hooks.0)?;
    let (target, trigger, notes) = {
        let reader = session.store.read()?;
        let to = match to {
            Some(text) => Some(resolve(&reader, text)?),
            None => None,
        };
        let chosen = rollback_target(&reader, env, to)?.ok_or_else(|| {
            Error::usage(format!(
                "{env} has no earlier state to restore: none that succeeded, was not rolled back since and holds no quarantined release"
            ))
            .hint(format!("`ledger log {env}` shows its deployments; `ledger rollback {env} --to <deployment>` restores the state right after any of them"))
        })?;
        let mut notes = vec![format!("restores {}", chosen.why)];
        notes.extend(
            reader
                .env_state(env)?
                .keys()
                .filter(|service| !chosen.state.contains_key(*service))
                .map(|service| format!("{service} did not run in {env} then; left as it is")),
        );
        (chosen.state, chosen.trigger, notes)
    };
    let request = Request { env: env.to_string(), set: SetSource::None, trigger, target, notes };
    run(&session, request, options, hooks.1)
}

/// Keeps only the services named with `--service`; each must be in `state`.
fn select_services(state: State, selected: &[String], what: &str) -> Result<State> {
    if selected.is_empty() {
        return Ok(state);
    }
    let mut kept = State::new();
    for service in selected {
        let release = state
            .get(service)
            .ok_or_else(|| Error::usage(format!("service {service:?} is not in {what}")))?;
        kept.insert(service.clone(), *release);
    }
    Ok(kept)
}

/// Deploys `request` under the environment's guard: planned against a state no other
/// deployment is changing, and a concurrent one is told who holds the environment.
fn run(
    session: &Session<'_>,
    request: Request,
    options: &DeployOptions,
    confirm: &dyn Confirm,
) -> Result<Deployed> {
    let workspace = session.workspace;
    let env = workspace.environment(&request.env)?.clone();
    if options.force && options.message.as_deref().is_none_or(|m| m.trim().is_empty()) {
        return Err(Error::usage(
            "--override needs the reason, given with -m <reason>: it is recorded with the deployment",
        ));
    }
    for service in request.target.keys() {
        workspace.check_service(service).map_err(|e| e.context("cannot deploy: "))?;
    }
    if options.no_wait && env.ecs.as_ref().is_some_and(|ecs| ecs.verify.is_some()) {
        return Err(Error::usage(format!(
            "{} runs a `verify` task once every service succeeded, and --no-wait would not wait for that",
            request.env
        ))
        .hint("deploy without --no-wait: the verification's exit code decides the outcome"));
    }
    let stamp = workspace.stamp(options.message.as_deref())?;
    let timeout = env.ecs.as_ref().map_or(DEFAULT_TIMEOUT, |ecs| ecs.timeout);
    let (env_name, actor) = (request.env.clone(), stamp.actor.clone());
    session.guarded(&env_name, &actor, timeout, || {
        plan_and_deploy(session, &env, request, options, confirm, stamp)
    })
}

fn plan_and_deploy(
    session: &Session<'_>,
    env: &Environment,
    request: Request,
    options: &DeployOptions,
    confirm: &dyn Confirm,
    stamp: Stamp,
) -> Result<Deployed> {
    let store = &session.store;
    let reader = store.read()?;
    refuse_unfinished(&reader, &request.env)?;
    let plan = Plan::towards(&reader, &request.env, request.set, request.trigger, &request.target)?;
    let releases = Releases::new(&reader, &session.workspace.trust);
    let gates = gates::evaluate(session.workspace, &releases, &plan, &stamp.actor, stamp.at)?;
    let reason = options.force.then_some(stamp.message.as_str());
    let mut view = PlanView::load(&releases, &plan, request.notes)?;
    view.gates = gates.clone();
    if reason.is_some() && !policy::all_passed(&gates) {
        view.notes
            .push("--override: the gates not met are passed by force, and the deployment records it".into());
    }
    drop(releases);
    drop(reader);
    // A plan the gates refuse is shown without asking ECS: it goes no further.
    let refused = reason.is_none() && !policy::all_passed(&gates);
    let connected = match &env.ecs {
        Some(ecs) if !plan.is_empty() && !refused => {
            show_strategies(session, ecs, &plan, &stamp, options.dry_run, &mut view)?
        }
        _ => None,
    };
    session.progress.planned(&view);
    let plan = gates::enforce(env, plan, &gates, reason)?;

    if plan.is_empty() || options.dry_run {
        let json = json!({"plan": view.json(), "deployment": null, "outcome": null});
        return Ok(Deployed { env: plan.env.clone(), plan: Some(view), recorded: None, json });
    }
    confirm.confirm_deploy(&plan.env, env.protected)?;
    interrupt::stop_if_interrupted(|| format!("nothing was deployed to {}", plan.env))?;
    let plan = match (&session.shared, plan.set) {
        // A new release set is an append to the remote's history of sets, made there first.
        (Some(_), SetSource::New(set)) => {
            let recorded = session.append(stamp.clone(), Body::ReleaseSet(set))?;
            Plan { set: SetSource::Existing(recorded.id), ..plan }
        }
        (_, set) => Plan { set, ..plan },
    };
    let recorded = match &env.ecs {
        Some(ecs) => {
            let described =
                view.definitions.values().map(|p| (p.running.clone(), p.described.clone())).collect();
            roll_out(session, &plan, ecs, (connected, described), stamp, options)?
        }
        None => {
            let recorded = store.write(|writer| deploy::record_only(writer, &stamp, &plan))?;
            Recorded { deployment: recorded.deployment, outcome: recorded.outcome, record_only: true }
        }
    };
    concluded(session, &plan.env, Some(view), recorded)
}

/// Refuses to deploy while the environment's last deployment has no final outcome.
fn refuse_unfinished(reader: &impl Source, env: &str) -> Result<()> {
    let Some(unfinished) = history::unfinished(reader, env)? else { return Ok(()) };
    let (env, deployment) = (env.to_string(), unfinished.deployment);
    Err(match unfinished.submitted {
        None => ConflictError::InFlight { env, deployment },
        Some(_) => ConflictError::Unobserved { env, deployment },
    }
    .into())
}

/// Connects to the environment's account and puts in the plan how ECS deploys each service it
/// changes (its strategy, bake time, deployment alarms: one DescribeServices per ten services)
/// and the task definition it would register against the one running (one DescribeTaskDefinition
/// per service), so that they are seen before it is confirmed: the connection and the stamp with its principal,
/// for the rollout. On a dry run, an account that cannot be reached is a note, not an error.
fn show_strategies(
    session: &Session<'_>,
    ecs_env: &EcsEnvironment,
    plan: &Plan,
    stamp: &Stamp,
    dry_run: bool,
    view: &mut PlanView,
) -> Result<Option<(Cloud, Stamp)>> {
    let (cloud, stamp) = match session.connect(ecs_env, stamp.clone()) {
        Ok(connected) => connected,
        Err(error) if dry_run => {
            view.notes.push(format!("how ECS deploys each service is not shown: {error}"));
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let targets = service_targets(
        session.workspace,
        &session.store.read()?,
        &plan.env,
        &ecs_env.cluster,
        &plan.changes,
    )?;
    let wanted: Vec<(&str, &str)> =
        targets.iter().map(|t| (t.cluster.as_str(), t.ecs_service.as_str())).collect();
    let client = cloud.ecs();
    let backoff = Backoff::default();
    let described = interrupt::block_on_interruptible(ecs::describe_all(&client, &backoff, &wanted))?
        .ok_or_else(|| interrupt::stopped_waiting(format!("nothing was deployed to {}", plan.env)))?;
    for (target, described) in targets.iter().zip(&described) {
        match described {
            Ok(service) => {
                let mut strategy = service.strategy.to_string();
                if let Some(group) =
                    target.codedeploy.as_ref().filter(|_| service.strategy.controller == "CODE_DEPLOY")
                {
                    strategy = format!("{strategy} ({})", rollout::group_name(group));
                }
                view.strategies.insert(target.service.clone(), strategy);
            }
            Err(error) => {
                view.notes.push(format!("{}: how ECS deploys it is not known: {error}", target.service))
            }
        }
    }
    let registered = {
        let reader = session.store.read()?;
        let of = |target: &ServiceTarget| observe::registered(&reader, &plan.env, &target.service);
        targets.iter().map(of).collect::<Result<Vec<_>>>()?
    };
    let services: Vec<_> = targets
        .iter()
        .zip(&described)
        .zip(&registered)
        .filter_map(|((target, described), registered)| {
            Some((target, described.as_ref().ok()?, registered.as_ref()))
        })
        .collect();
    let previews = rollout::preview(&client, &backoff, &services, PARALLEL_SERVICES);
    let previews = interrupt::block_on_interruptible(previews)?
        .ok_or_else(|| interrupt::stopped_waiting(format!("nothing was deployed to {}", plan.env)))?;
    for ((target, _, _), preview) in services.iter().zip(previews) {
        match preview {
            Ok(preview) => {
                view.definitions.insert(target.service.clone(), preview);
            }
            Err(why) => view
                .notes
                .push(format!("{}: the task definition to register is not shown: {why}", target.service)),
        }
    }
    Ok(Some((cloud, stamp)))
}

/// Rolls the plan out to ECS, under the environment's guard: the intent is recorded first, then
/// every service is rolled out and waited for, then the outcome is recorded, whatever happened.
/// `planned` is what the plan made: the account's connection and the stamp with its principal,
/// and the task definitions it described (by ARN), not described again.
fn roll_out(
    session: &Session<'_>,
    plan: &Plan,
    ecs: &EcsEnvironment,
    planned: (Option<(Cloud, Stamp)>, BTreeMap<String, ecs::TaskDefinitionWithTags>),
    stamp: Stamp,
    options: &DeployOptions,
) -> Result<Recorded> {
    let (connected, described) = planned;
    let store = &session.store;
    let (cloud, stamp) = match connected {
        Some(connected) => connected,
        None => session.connect(ecs, stamp)?,
    };
    let targets = service_targets(session.workspace, &store.read()?, &plan.env, &ecs.cluster, &plan.changes)?;
    interrupt::stop_if_interrupted(|| format!("nothing was deployed to {}", plan.env))?;
    let deployment = store.write(|writer| deploy::record_intent(writer, &stamp, plan))?;
    // Others see the deployment in flight while it rolls out.
    session.push_ref(&RefName::env(&plan.env))?;
    session.progress.note(&format!(
        "deployment {} to {}: rolling out {} service(s) on cluster {}",
        deployment.id.short(),
        plan.env,
        targets.len(),
        ecs.cluster
    ));
    let options = Options {
        wait: !options.no_wait,
        rollback_on_failure: options.rollback_on_failure,
        backoff: Backoff::default(),
        parallel: PARALLEL_SERVICES,
        described,
    };
    let (ecs_client, parameters, codedeploy) = (cloud.ecs(), cloud.parameters(), cloud.codedeploy());
    let clients = Clients { ecs: &ecs_client, parameters: &parameters, codedeploy: &codedeploy };
    let progress = |service: &str, line: &str| session.progress.service(service, line);
    let hooks =
        tasks::deployment_tasks(session.workspace, ecs, &ecs_client, deployment.id, &targets, &progress);
    let rolled_out = interrupt::block_on_interruptible(rollout::apply(
        clients,
        &cloud::env_target(ecs),
        deployment.id,
        &targets,
        &options,
        &hooks,
        &progress,
    ));
    // The tasks that ran are recorded whatever became of the rollout, after its outcome.
    let record_tasks =
        || tasks::record_deployment_tasks(session, &plan.env, &stamp, deployment.id, hooks.take_runs());
    let Some(outcome) = rolled_out? else {
        record_tasks();
        return Err(interrupt::stopped_waiting(format!(
            "deployment {} to {} stays in flight; ECS goes on with what it was given",
            deployment.id.short(),
            plan.env
        ))
        .hint(format!("`ledger reconcile {}` observes what ECS runs and records how it ended", plan.env)));
    };
    let outcome =
        store.write(|writer| writer.record_outcome(outcome_stamp(&stamp), deployment.id, outcome))?;
    record_tasks();
    Ok(Recorded { deployment, outcome, record_only: false })
}

/// What ECS names each changed service (in `cluster`, the environment's), and the images
/// involved.
pub(crate) fn service_targets(
    workspace: &Workspace,
    reader: &impl Source,
    env: &str,
    cluster: &str,
    changes: &BTreeMap<String, Change>,
) -> Result<Vec<ServiceTarget>> {
    let image_of = |id: EntryId| -> Result<String> {
        let stored = reader.entry(&id)?.ok_or_else(|| Error::failed(format!("release {id} is missing")))?;
        let release =
            stored.entry.as_release().ok_or_else(|| Error::failed(format!("entry {id} is not a release")))?;
        Ok(release.image_ref())
    };
    let mut targets = Vec::new();
    for (service, change) in changes {
        workspace.check_service(service)?;
        let config = &workspace.manifest.services[service];
        targets.push(ServiceTarget {
            service: service.clone(),
            cluster: cluster.to_string(),
            ecs_service: config.ecs_service_in(service, env).to_string(),
            container: config.container.clone(),
            change: *change,
            image: image_of(change.to)?,
            previous_image: change.from.map(image_of).transpose()?,
            codedeploy: config.codedeploy.as_ref().map(|group| DeploymentGroup {
                application: group.application.clone(),
                deployment_group: group.deployment_group.clone(),
            }),
        });
    }
    Ok(targets)
}

/// An outcome's stamp: the deployment's actor and a fresh time, no message of its own.
pub(crate) fn outcome_stamp(stamp: &Stamp) -> Stamp {
    let at = clock().unwrap_or(stamp.at);
    Stamp { at, actor: stamp.actor.clone(), message: String::new() }
}

/// The result of an operation that recorded a deployment and its outcome, with its JSON:
/// `{"deployment", "outcome"}`, and `"plan"` when there was one.
pub(crate) fn concluded(
    session: &Session<'_>,
    env: &str,
    plan: Option<PlanView>,
    recorded: Recorded,
) -> Result<Deployed> {
    if recorded.outcome.entry.as_outcome().is_none() {
        return Err(Error::internal(format!("entry {} is not an outcome", recorded.outcome.id)));
    }
    let reader = session.store.read()?;
    let releases = Releases::new(&reader, &session.workspace.trust);
    let mut document = json!({
        "deployment": json::entry(&releases, &recorded.deployment)?,
        "outcome": json::entry(&releases, &recorded.outcome)?,
    });
    if let Some(plan) = &plan {
        document["plan"] = plan.json();
    }
    Ok(Deployed { env: env.to_string(), plan, recorded: Some(recorded), json: document })
}
