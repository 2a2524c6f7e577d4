//! Rolling a deployment out to ECS and observing how it ends.
//!
//! Per service: DescribeServices → DescribeTaskDefinition → RegisterTaskDefinition (a copy with
//! only the container's image replaced) → UpdateService → wait. A service succeeds only when its
//! PRIMARY deployment is ours and its rollout is COMPLETED; anything else is a failure with the
//! service's latest events. SSM is written only for services that succeeded, and only once no
//! rollback is going to undo them. The result is an [`Outcome`] that tells what happened to every
//! service, whatever happened.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use ledger::{Change, DeployResult, EntryId, Outcome, ServiceOutcome};
use tokio::time::Instant;

use crate::ecs::{
    Ecs, RolloutState, RolloutView, ServiceView, TaskDefinitionWithTags, deployment_of, revise,
};
use crate::retry::Backoff;
use crate::ssm::{Parameters, parameter_name};

/// How many events of a service a failure quotes.
const EVENTS_QUOTED: usize = 3;

/// The environment's ECS cluster and SSM prefix, and how long to wait.
#[derive(Clone, Debug)]
pub struct EnvTarget {
    pub cluster: String,
    pub ssm_prefix: String,
    pub timeout: Duration,
    pub poll_interval: Duration,
}

/// One service of the deployment, with the ECS names and the images involved.
#[derive(Clone, Debug)]
pub struct ServiceTarget {
    /// The service's id in ledger.toml.
    pub service: String,
    pub ecs_service: String,
    pub container: String,
    pub change: Change,
    /// The image to run: digest-pinned when the release has a digest.
    pub image: String,
    /// The image of the release it replaces, for `--rollback-on-failure`.
    pub previous_image: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Wait for the rollouts to end; otherwise the outcome is `Submitted`.
    pub wait: bool,
    pub rollback_on_failure: bool,
    pub backoff: Backoff,
    /// Services rolled out at once.
    pub parallel: usize,
}

/// Where each phase of a service is reported as it happens (the CLI prints it).
pub type Progress<'a> = &'a dyn Fn(&str, &str);

/// The clients of one environment.
pub struct Clients<'a, E, P> {
    pub ecs: &'a E,
    pub parameters: &'a P,
}

/// What happened to one service.
struct Attempt {
    outcome: ServiceOutcome,
    /// The revision we registered, once registered: a rollback is made from it, so it never
    /// needs the old revision to be ACTIVE.
    registered: Option<TaskDefinitionWithTags>,
    /// UpdateService was called: ECS may be running something new.
    updated: bool,
}

impl Attempt {
    fn failed(detail: impl Into<String>) -> Attempt {
        Attempt {
            outcome: service_outcome(DeployResult::Failed, None, detail),
            registered: None,
            updated: false,
        }
    }
}

fn service_outcome(
    result: DeployResult,
    running: Option<EntryId>,
    detail: impl Into<String>,
) -> ServiceOutcome {
    ServiceOutcome { result, running, task_definition: None, ecs_deployment: None, detail: detail.into() }
}

/// Rolls `services` out for deployment `deployment`.
pub async fn apply<E: Ecs, P: Parameters>(
    clients: Clients<'_, E, P>,
    env: &EnvTarget,
    deployment: EntryId,
    services: &[ServiceTarget],
    options: &Options,
    progress: Progress<'_>,
) -> Outcome {
    let deployment_tag = deployment.to_hex();
    let mut attempts: Vec<Attempt> = futures_util::stream::iter(services)
        .map(|target| roll_out(clients.ecs, env, target, &deployment_tag, options, progress))
        .buffered(options.parallel.max(1))
        .collect()
        .await;

    let failed = attempts.iter().any(|a| a.outcome.result == DeployResult::Failed);
    let rolled_back = failed && options.rollback_on_failure;
    if rolled_back {
        let rollbacks = services.iter().zip(&mut attempts).filter(|(_, attempt)| attempt.updated).map(
            |(target, attempt)| {
                roll_back(clients.ecs, env, target, attempt, &deployment_tag, options, progress)
            },
        );
        futures_util::stream::iter(rollbacks).buffered(options.parallel.max(1)).collect::<Vec<()>>().await;
    } else {
        write_parameters(clients.parameters, env, services, &mut attempts, options, progress).await;
    }
    conclude(services, attempts, options.wait, rolled_back)
}

/// Observes a deployment that was submitted (`--no-wait`) or interrupted, waits for what is
/// still rolling out, and tells how it ended. `known` holds what an earlier outcome recorded
/// (task definition and ECS deployment per service); without it, ledger's revision is
/// recognised by its deployment tag.
pub async fn observe<E: Ecs, P: Parameters>(
    clients: Clients<'_, E, P>,
    env: &EnvTarget,
    deployment: EntryId,
    services: &[ServiceTarget],
    known: &BTreeMap<String, ServiceOutcome>,
    options: &Options,
    progress: Progress<'_>,
) -> Outcome {
    let deployment_tag = deployment.to_hex();
    let mut attempts: Vec<Attempt> = futures_util::stream::iter(services)
        .map(|target| {
            let known = known.get(&target.service);
            observe_one(clients.ecs, env, target, known, &deployment_tag, options, progress)
        })
        .buffered(options.parallel.max(1))
        .collect()
        .await;
    write_parameters(clients.parameters, env, services, &mut attempts, options, progress).await;
    conclude(services, attempts, true, false)
}

async fn roll_out<E: Ecs>(
    ecs: &E,
    env: &EnvTarget,
    target: &ServiceTarget,
    deployment_tag: &str,
    options: &Options,
    progress: Progress<'_>,
) -> Attempt {
    let (cluster, name) = (env.cluster.as_str(), target.ecs_service.as_str());
    let backoff = &options.backoff;
    let service = match backoff.retry(async || ecs.describe_service(cluster, name).await).await {
        Ok(service) if service.status == "ACTIVE" => service,
        Ok(service) => {
            return Attempt::failed(format!("ECS service {name} is {}, not ACTIVE", service.status));
        }
        Err(error) => return Attempt::failed(error.to_string()),
    };
    let current =
        match backoff.retry(async || ecs.describe_task_definition(&service.task_definition).await).await {
            Ok(current) => current,
            Err(error) => return Attempt::failed(error.to_string()),
        };
    let revised = match revise(&current, &target.container, &target.image, deployment_tag) {
        Ok(revised) => revised,
        Err(message) => return Attempt::failed(message),
    };
    let arn = match backoff.retry(async || ecs.register_task_definition(&revised).await).await {
        Ok(arn) => arn,
        Err(error) => return Attempt::failed(error.to_string()),
    };
    let mut registered = revised;
    registered.definition.task_definition_arn = Some(arn.clone());
    progress(&target.service, &format!("registered {}", short_arn(&arn)));

    let mut attempt = Attempt::failed("");
    attempt.outcome.task_definition = Some(arn.clone());
    attempt.registered = Some(registered);
    let updated = match backoff.retry(async || ecs.update_service(cluster, name, &arn).await).await {
        Ok(updated) => updated,
        Err(error) => {
            attempt.outcome.detail =
                format!("{error} (the new revision was registered; the service was not changed)");
            return attempt;
        }
    };
    attempt.updated = true;
    let ours = updated.primary().filter(|p| p.task_definition == arn).map(|p| p.id.clone());
    attempt.outcome.ecs_deployment = ours.clone();
    progress(&target.service, &format!("updated {name}; ECS deployment {}", ours.as_deref().unwrap_or("?")));
    if !options.wait {
        attempt.outcome.result = DeployResult::Submitted;
        attempt.outcome.detail = "submitted; not waited for (`ledger wait` observes it)".into();
        return attempt;
    }
    let watch = Watch {
        cluster,
        name,
        ours: &arn,
        ecs_deployment: ours.as_deref(),
        previous: Some(&service.task_definition),
    };
    let ending = watch.wait(ecs, env, backoff, &target.service, progress).await;
    attempt.outcome.result = ending.result;
    attempt.outcome.running = match ending.running {
        Running::Ours => Some(target.change.to),
        Running::Previous => target.change.from,
        Running::Unknown => None,
    };
    attempt.outcome.detail = ending.detail;
    attempt
}

async fn observe_one<E: Ecs>(
    ecs: &E,
    env: &EnvTarget,
    target: &ServiceTarget,
    known: Option<&ServiceOutcome>,
    deployment_tag: &str,
    options: &Options,
    progress: Progress<'_>,
) -> Attempt {
    let (cluster, name) = (env.cluster.as_str(), target.ecs_service.as_str());
    let backoff = &options.backoff;
    let (arn, ecs_deployment) = match known.and_then(|k| k.task_definition.clone()) {
        Some(arn) => (arn, known.and_then(|k| k.ecs_deployment.clone())),
        None => {
            let service = match backoff.retry(async || ecs.describe_service(cluster, name).await).await {
                Ok(service) => service,
                Err(error) => return Attempt::failed(error.to_string()),
            };
            let running = service.task_definition.clone();
            let definition = match backoff.retry(async || ecs.describe_task_definition(&running).await).await
            {
                Ok(definition) => definition,
                Err(error) => return Attempt::failed(error.to_string()),
            };
            if deployment_of(&definition) != Some(deployment_tag) {
                return Attempt::failed(format!(
                    "not deployed: {name} runs {}, which this deployment did not register (it stopped before updating the service)",
                    short_arn(&running)
                ));
            }
            let primary = service.primary().filter(|p| p.task_definition == running).map(|p| p.id.clone());
            (running, primary)
        }
    };
    let watch =
        Watch { cluster, name, ours: &arn, ecs_deployment: ecs_deployment.as_deref(), previous: None };
    let ending = watch.wait(ecs, env, backoff, &target.service, progress).await;
    let running = (ending.running == Running::Ours).then_some(target.change.to);
    let mut outcome = service_outcome(ending.result, running, ending.detail);
    outcome.task_definition = Some(arn);
    outcome.ecs_deployment = ecs_deployment;
    Attempt { outcome, registered: None, updated: true }
}

/// Puts a service that changed back to its previous release, with a new revision made from the
/// one this deployment registered.
async fn roll_back<E: Ecs>(
    ecs: &E,
    env: &EnvTarget,
    target: &ServiceTarget,
    attempt: &mut Attempt,
    deployment_tag: &str,
    options: &Options,
    progress: Progress<'_>,
) {
    let outcome = &mut attempt.outcome;
    if outcome.result == DeployResult::Failed
        && outcome.running.is_some()
        && outcome.running == target.change.from
    {
        // ECS's circuit breaker already put the previous revision back.
        outcome.result = DeployResult::RolledBack;
        return;
    }
    let (Some(previous_image), Some(registered)) = (&target.previous_image, &attempt.registered) else {
        outcome.result = DeployResult::Failed;
        outcome.detail =
            join(&outcome.detail, "not rolled back: no earlier release of this service ran here");
        return;
    };
    progress(&target.service, "rolling back");
    let (cluster, name) = (env.cluster.as_str(), target.ecs_service.as_str());
    let backoff = &options.backoff;
    let step = async || -> Result<Ending, String> {
        let restore = revise(registered, &target.container, previous_image, deployment_tag)?;
        let register = backoff.retry(async || ecs.register_task_definition(&restore).await).await;
        let arn = register.map_err(|e| e.to_string())?;
        let update = backoff.retry(async || ecs.update_service(cluster, name, &arn).await).await;
        let updated = update.map_err(|e| e.to_string())?;
        let id = updated.primary().filter(|p| p.task_definition == arn).map(|p| p.id.clone());
        let watch = Watch { cluster, name, ours: &arn, ecs_deployment: id.as_deref(), previous: None };
        Ok(watch.wait(ecs, env, backoff, &target.service, progress).await)
    };
    match step().await {
        Ok(ending) if ending.result == DeployResult::Succeeded => {
            outcome.result = DeployResult::RolledBack;
            outcome.running = target.change.from;
            outcome.detail = join(&outcome.detail, "rolled back to the previous release");
        }
        Ok(ending) => {
            outcome.result = DeployResult::Failed;
            outcome.running = None;
            outcome.detail = join(&outcome.detail, &format!("rollback failed: {}", ending.detail));
        }
        Err(error) => {
            outcome.result = DeployResult::Failed;
            outcome.detail = join(&outcome.detail, &format!("rollback failed: {error}"));
        }
    }
}

/// Writes `<prefix>/<service>` for every service that succeeded. A service whose parameter
/// cannot be written is a failure: it runs, but what reads SSM does not know it.
async fn write_parameters<P: Parameters>(
    parameters: &P,
    env: &EnvTarget,
    services: &[ServiceTarget],
    attempts: &mut [Attempt],
    options: &Options,
    progress: Progress<'_>,
) {
    for (target, attempt) in services.iter().zip(attempts) {
        if attempt.outcome.result != DeployResult::Succeeded {
            continue;
        }
        let name = parameter_name(&env.ssm_prefix, &target.service);
        match options.backoff.retry(async || parameters.put(&name, &target.image).await).await {
            Ok(version) => progress(&target.service, &format!("wrote {name} (version {version})")),
            Err(error) => {
                attempt.outcome.result = DeployResult::Failed;
                attempt.outcome.detail = join(
                    &attempt.outcome.detail,
                    &format!("ECS runs it, but {name} was not written: {error}"),
                );
            }
        }
    }
}

/// The deployment's result from its services'.
fn conclude(services: &[ServiceTarget], attempts: Vec<Attempt>, waited: bool, rolled_back: bool) -> Outcome {
    let results: Vec<DeployResult> = attempts.iter().map(|a| a.outcome.result).collect();
    let all = |wanted: DeployResult| results.iter().all(|r| *r == wanted);
    let result = if !waited && all(DeployResult::Submitted) {
        DeployResult::Submitted
    } else if all(DeployResult::Succeeded) {
        DeployResult::Succeeded
    } else if rolled_back
        && attempts.iter().all(|a| a.outcome.result == DeployResult::RolledBack || !a.updated)
    {
        DeployResult::RolledBack
    } else {
        DeployResult::Failed
    };
    let services = services.iter().zip(attempts).map(|(t, a)| (t.service.clone(), a.outcome)).collect();
    Outcome { result, services }
}

/// Which release a service runs once its rollout ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Running {
    Ours,
    Previous,
    Unknown,
}

struct Ending {
    result: DeployResult,
    running: Running,
    detail: String,
}

/// A rollout being waited for: service `name` should end up with PRIMARY deployment
/// `ecs_deployment` running revision `ours`, replacing `previous`.
struct Watch<'a> {
    cluster: &'a str,
    name: &'a str,
    ours: &'a str,
    ecs_deployment: Option<&'a str>,
    previous: Option<&'a str>,
}

impl Watch<'_> {
    async fn wait<E: Ecs>(
        &self,
        ecs: &E,
        env: &EnvTarget,
        backoff: &Backoff,
        service: &str,
        progress: Progress<'_>,
    ) -> Ending {
        let deadline = Instant::now() + env.timeout;
        let mut last_seen = String::new();
        loop {
            let view = match backoff.retry(async || ecs.describe_service(self.cluster, self.name).await).await
            {
                Ok(view) => view,
                Err(error) => {
                    return Ending {
                        result: DeployResult::Failed,
                        running: Running::Unknown,
                        detail: format!("lost sight of the rollout: {error}"),
                    };
                }
            };
            if let Some(ending) = self.judge(&view) {
                return ending;
            }
            let seen = match view.primary() {
                Some(p) => {
                    format!("rollout {}, {}/{} tasks running", p.rollout_state, p.running, p.desired)
                }
                None => "no PRIMARY deployment yet".into(),
            };
            if seen != last_seen {
                progress(service, &seen);
                last_seen = seen;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ending {
                    result: DeployResult::Failed,
                    running: Running::Unknown,
                    detail: format!(
                        "timed out after {}: {last_seen}; latest events: {}",
                        humanize(env.timeout),
                        or_none(view.latest_events(EVENTS_QUOTED))
                    ),
                };
            }
            tokio::time::sleep(env.poll_interval.min(deadline - now)).await;
        }
    }

    /// How the rollout ended, if it has.
    fn judge(&self, view: &ServiceView) -> Option<Ending> {
        let events = || or_none(view.latest_events(EVENTS_QUOTED));
        let primary = view.primary()?;
        let is_ours = |d: &RolloutView| {
            d.task_definition == self.ours && self.ecs_deployment.is_none_or(|id| id == d.id)
        };
        if !is_ours(primary) {
            let running = if Some(primary.task_definition.as_str()) == self.previous {
                Running::Previous
            } else {
                Running::Unknown
            };
            // The circuit breaker returns to the last deployment that completed, which need not
            // be the revision this one replaced; ours stays listed, FAILED.
            let ours_failed =
                view.deployments.iter().any(|d| is_ours(d) && d.rollout_state == RolloutState::Failed);
            let why = if ours_failed || running == Running::Previous {
                "ECS rolled the deployment back (circuit breaker)"
            } else {
                "another deployment replaced this one"
            };
            return Some(Ending {
                result: DeployResult::Failed,
                running,
                detail: format!(
                    "{why}: the PRIMARY deployment runs {}; latest events: {}",
                    short_arn(&primary.task_definition),
                    events()
                ),
            });
        }
        let steady = primary.running == primary.desired && view.deployments.len() == 1;
        match primary.rollout_state {
            RolloutState::Completed => Some(Ending {
                result: DeployResult::Succeeded,
                running: Running::Ours,
                detail: format!("rollout COMPLETED, {}/{} tasks running", primary.running, primary.desired),
            }),
            RolloutState::Unknown if steady => Some(Ending {
                result: DeployResult::Succeeded,
                running: Running::Ours,
                detail: format!("steady: {}/{} tasks running", primary.running, primary.desired),
            }),
            RolloutState::Failed => Some(Ending {
                result: DeployResult::Failed,
                running: Running::Unknown,
                detail: format!(
                    "rollout FAILED: {}; latest events: {}",
                    or_none(primary.reason.clone()),
                    events()
                ),
            }),
            RolloutState::InProgress | RolloutState::Unknown => None,
        }
    }
}

/// `family:revision` of a task definition ARN.
pub fn short_arn(arn: &str) -> &str {
    arn.rsplit_once('/').map_or(arn, |(_, tail)| tail)
}

fn join(first: &str, second: &str) -> String {
    if first.is_empty() { second.to_string() } else { format!("{first}; {second}") }
}

fn or_none(text: String) -> String {
    if text.is_empty() { "none".into() } else { text }
}

/// `90s`, `10m`, `1h30m`.
pub fn humanize(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if duration.subsec_millis() != 0 || seconds == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut text = String::new();
    for (value, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if value > 0 {
            text.push_str(&format!("{value}{unit}"));
        }
    }
    text
}
