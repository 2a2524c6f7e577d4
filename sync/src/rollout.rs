//! Rolling a deployment out to ECS and observing how it ends.
//!
//! One DescribeServices per cluster per ten services (the most it takes) looks at every service
//! first; then per service, bounded in parallel: DescribeTaskDefinition → RegisterTaskDefinition
//! (a copy with only the container's image replaced) → UpdateService. Every updated service is
//! then waited for together, on the [`PollSchedule`]. Where ECS offers service deployments, each
//! updated service's is found (ListServiceDeployments, once per service) and each poll is one
//! DescribeServiceDeployments per twenty still rolling out: a service succeeds only when its
//! service deployment is SUCCESSFUL (for blue/green, linear and canary, after the bake time);
//! any other end is a failure with ECS's status and reason (the alarms that fired, the circuit
//! breaker, the lifecycle stage, a stop request). Where ECS does not offer them (the first
//! ListServiceDeployments of an apply is refused), each poll is one DescribeServices per cluster
//! per ten services: a service succeeds only when its PRIMARY deployment is ours and its rollout
//! is COMPLETED; anything else is a failure with the service's latest events. A service whose
//! deployment controller is CODE_DEPLOY gets a CodeDeploy deployment (CreateDeployment with an
//! AppSpec naming the new revision) instead of UpdateService, and each poll is one
//! BatchGetDeployments per twenty-five of those: it succeeds only when CodeDeploy says
//! `Succeeded`; `Failed` and `Stopped` are failures with CodeDeploy's error (and its rollback).
//! SSM is written only for services that succeeded, and only once no rollback is going to undo
//! them. The result is an [`Outcome`] that tells what happened to every service, whatever
//! happened.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use ledger::{Change, DeployResult, EntryId, Outcome, ServiceOutcome};
use tokio::time::Instant;

use crate::codedeploy::{
    BATCH_GET_DEPLOYMENTS_MAX, CodeDeploy, CodeDeployView, DeploymentGroup, DescribedCodeDeployment, appspec,
    is_codedeploy_id,
};
use crate::ecs::{
    DESCRIBE_SERVICE_DEPLOYMENTS_MAX, Described, DescribedDeployment, Ecs, RolloutState, RolloutView,
    ServiceDeploymentBrief, ServiceDeploymentView, ServiceView, Strategy, TaskDefinitionWithTags,
    deployment_of, describe_all, is_service_deployment_arn, revise,
};
use crate::live::{Registered, changed_since};
use crate::retry::Backoff;
use crate::ssm::{Parameters, parameter_name};
use crate::task::Hooks;
use crate::task_json::{self, FieldChange};

/// How many events of a service a failure quotes.
const EVENTS_QUOTED: usize = 3;

/// How far before UpdateService ListServiceDeployments looks for the deployment it started:
/// room for this machine's clock to be ahead of ECS's.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The environment's SSM prefix, and how long to wait.
#[derive(Clone, Debug)]
pub struct EnvTarget {
    pub ssm_prefix: String,
    pub timeout: Duration,
    /// The longest wait between two polls (see [`PollSchedule`]).
    pub poll_interval: Duration,
}

/// One service of the deployment, with the ECS names and the images involved.
#[derive(Clone, Debug)]
pub struct ServiceTarget {
    /// The service's id in ledger.toml.
    pub service: String,
    /// The ECS cluster the service runs in; the services of one deployment may be in several.
    pub cluster: String,
    pub ecs_service: String,
    pub container: String,
    pub change: Change,
    /// The image to run: digest-pinned when the release has a digest.
    pub image: String,
    /// The image of the release it replaces, for `--rollback-on-failure`.
    pub previous_image: Option<String>,
    /// Where CodeDeploy deploys it, for a service whose deployment controller is CODE_DEPLOY.
    pub codedeploy: Option<DeploymentGroup>,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Wait for the rollouts to end; otherwise the outcome is `Submitted`.
    pub wait: bool,
    pub rollback_on_failure: bool,
    pub backoff: Backoff,
    /// Services registered and updated at once (every updated service is waited for together).
    pub parallel: usize,
    /// Task definitions already described (by the plan), by ARN: not described again, as a
    /// revision never changes.
    pub described: BTreeMap<String, TaskDefinitionWithTags>,
}

/// Where each phase of a service is reported as it happens (the CLI prints it).
pub type Progress<'a> = &'a dyn Fn(&str, &str);

/// The clients of one environment.
pub struct Clients<'a, E, P, C> {
    pub ecs: &'a E,
    pub parameters: &'a P,
    /// Deploys the services whose deployment controller is CODE_DEPLOY.
    pub codedeploy: &'a C,
}

/// The waits between the polls of a rollout: they start short and grow by half each time, up
/// to the environment's `poll_interval`, so a rollout that is done in 2 s is seen after 2.4 s
/// (0.5 + 0.75 + 1.125), one that takes minutes costs a poll every `poll_interval`.
///
/// Within ECS's rate limits: ECS throttles each account per Region with token buckets; the
/// documented example for cluster reads is a bucket of 50 calls refilled at 20 a second, and
/// the service reads (DescribeServices, ListServices) refill at 20 a second too (ECS API
/// Reference, "Request throttling for the Amazon ECS API"). A poll is one DescribeServices per
/// cluster per ten services, so at the fastest (2 polls in the first second) 16 services on one
/// cluster cost 4 calls a second, a fifth of the sustained rate, for one second; from 5 s on at
/// most 2 calls per `poll_interval`. Throttling that still happens (other callers share the
/// account's bucket) is retried with the apply's [`Backoff`].
#[derive(Clone, Debug)]
pub struct PollSchedule {
    next: Duration,
    ceiling: Duration,
}

impl PollSchedule {
    /// The first wait, when `poll_interval` is longer.
    pub const FIRST: Duration = Duration::from_millis(500);

    pub fn new(poll_interval: Duration) -> PollSchedule {
        PollSchedule { next: PollSchedule::FIRST.min(poll_interval), ceiling: poll_interval }
    }
}

impl Iterator for PollSchedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.next;
        self.next = (wait + wait / 2).min(self.ceiling);
        Some(wait)
    }
}

/// What happened to one service.
struct Attempt {
    outcome: ServiceOutcome,
    /// The revision we registered, once registered: a rollback is made from it, so it never
    /// needs the old revision to be ACTIVE.
    registered: Option<TaskDefinitionWithTags>,
    /// UpdateService (or CodeDeploy's CreateDeployment) was called: ECS may be running something new.
    updated: bool,
    /// Deployed through CodeDeploy: the port its load balancer sends traffic to on the
    /// service's container (a rollback's AppSpec names it too).
    codedeploy_port: Option<i32>,
}

impl Attempt {
    fn failed(detail: impl Into<String>) -> Attempt {
        Attempt {
            outcome: service_outcome(DeployResult::Failed, None, detail),
            registered: None,
            updated: false,
            codedeploy_port: None,
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

/// Every service of `targets`, described in batches.
async fn describe_targets<E: Ecs>(ecs: &E, backoff: &Backoff, targets: &[&ServiceTarget]) -> Vec<Described> {
    let wanted: Vec<(&str, &str)> =
        targets.iter().map(|t| (t.cluster.as_str(), t.ecs_service.as_str())).collect();
    describe_all(ecs, backoff, &wanted).await
}

/// Rolls `services` out for deployment `deployment`; `hooks` run its one-off tasks (see
/// [`crate::task`]) before the first service is updated and once every service succeeded.
pub async fn apply<E: Ecs, P: Parameters, C: CodeDeploy>(
    clients: Clients<'_, E, P, C>,
    env: &EnvTarget,
    deployment: EntryId,
    services: &[ServiceTarget],
    options: &Options,
    hooks: &impl Hooks,
    progress: Progress<'_>,
) -> Outcome {
    let deployment_tag = deployment.to_hex();
    let (ecs, codedeploy) = (clients.ecs, clients.codedeploy);
    // Hook point 1: a failed `before` task stops the deployment before any service changes.
    if let Err(why) = hooks.before().await {
        let attempts = services.iter().map(|_| Attempt::failed(format!("not deployed: {why}"))).collect();
        return conclude(services, attempts, options.wait, false);
    }
    let described = describe_targets(ecs, &options.backoff, &services.iter().collect::<Vec<_>>()).await;
    let updates: Vec<(Attempt, Option<Watch>)> = futures_util::stream::iter(services.iter().zip(described))
        .map(|(target, described)| {
            update(ecs, codedeploy, target, described, &deployment_tag, options, progress)
        })
        .buffered(options.parallel.max(1))
        .collect()
        .await;
    let (mut attempts, mut watches): (Vec<Attempt>, Vec<Option<Watch>>) = updates.into_iter().unzip();
    follow(ecs, services, &mut attempts, &mut watches, options, progress).await;
    if options.wait {
        let endings = wait_all(ecs, codedeploy, env, &options.backoff, services, watches, progress).await;
        for ((target, attempt), ending) in services.iter().zip(&mut attempts).zip(endings) {
            let Some(ending) = ending else { continue };
            attempt.outcome.result = ending.result;
            attempt.outcome.running = ending.running.release(target);
            attempt.outcome.detail = ending.detail;
        }
    }

    // Hook point 2: once every service succeeded, the verification decides.
    if options.wait {
        verify_when_all_succeeded(hooks, &mut attempts).await;
    }

    let failed = attempts.iter().any(|a| a.outcome.result == DeployResult::Failed);
    let rolled_back = failed && options.rollback_on_failure;
    if rolled_back {
        let clients = (ecs, codedeploy);
        roll_back(clients, env, services, &mut attempts, &deployment_tag, options, progress).await;
    } else {
        write_parameters(clients.parameters, env, services, &mut attempts, options, progress).await;
    }
    conclude(services, attempts, options.wait, rolled_back)
}

/// Runs `hooks`' verification once every service of `attempts` succeeded: a failure fails them
/// all.
async fn verify_when_all_succeeded(hooks: &impl Hooks, attempts: &mut [Attempt]) {
    if attempts.iter().all(|a| a.outcome.result == DeployResult::Succeeded)
        && let Err(why) = hooks.verify().await
    {
        for attempt in attempts {
            attempt.outcome.result = DeployResult::Failed;
            attempt.outcome.detail = join(&attempt.outcome.detail, &format!("rolled out, but {why}"));
        }
    }
}

/// A deployment that was submitted (`--no-wait`) or interrupted, for [`observe`].
pub struct Unfinished<'a> {
    pub deployment: EntryId,
    pub services: &'a [ServiceTarget],
    /// What an earlier outcome recorded (task definition and ECS deployment per service);
    /// without it, ledger's revision is recognised by its deployment tag.
    pub known: &'a BTreeMap<String, ServiceOutcome>,
}

/// Observes `unfinished`, waits for what is still rolling out, and tells how it ended: once
/// every service succeeded, `hooks` verify the environment (an interrupted apply may have
/// stopped before its verification ended).
pub async fn observe<E: Ecs, P: Parameters, C: CodeDeploy>(
    clients: Clients<'_, E, P, C>,
    env: &EnvTarget,
    unfinished: Unfinished<'_>,
    options: &Options,
    hooks: &impl Hooks,
    progress: Progress<'_>,
) -> Outcome {
    let Unfinished { deployment, services, known } = unfinished;
    let deployment_tag = deployment.to_hex();
    let (ecs, codedeploy, backoff) = (clients.ecs, clients.codedeploy, &options.backoff);
    let recorded = |target: &ServiceTarget| {
        let known = known.get(&target.service)?;
        Some((known.task_definition.clone()?, known.ecs_deployment.clone()))
    };
    let unknown: Vec<&ServiceTarget> = services.iter().filter(|t| recorded(t).is_none()).collect();
    let mut described = describe_targets(ecs, backoff, &unknown).await.into_iter();
    let mut found = Vec::new();
    for target in services {
        found.push(match recorded(target) {
            Some(known) => Found::Recorded(known),
            None => Found::Described(described.next().expect("one answer per unknown service")),
        });
    }
    let deployment_tag = deployment_tag.as_str();
    let watches: Vec<Result<Watch, String>> = futures_util::stream::iter(services.iter().zip(found))
        .map(|(target, found)| async move {
            match found {
                Found::Recorded((ours, recorded)) => Ok(Watch::recorded(ours, recorded)),
                Found::Described(described) => {
                    recognise(ecs, backoff, target, described, deployment_tag).await
                }
            }
        })
        .buffered(options.parallel.max(1))
        .collect()
        .await;
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut to_wait = Vec::new();
    for watch in watches {
        match watch {
            Ok(watch) => {
                let mut outcome = service_outcome(DeployResult::Failed, None, "");
                outcome.task_definition = Some(watch.ours.clone());
                outcome.ecs_deployment = watch
                    .service_deployment
                    .clone()
                    .or_else(|| watch.codedeploy.clone())
                    .or_else(|| watch.ecs_deployment.clone());
                attempts.push(Attempt { outcome, registered: None, updated: true, codedeploy_port: None });
                to_wait.push(Some(watch));
            }
            Err(detail) => {
                attempts.push(Attempt::failed(detail));
                to_wait.push(None);
            }
        }
    }
    let endings = wait_all(ecs, codedeploy, env, backoff, services, to_wait, progress).await;
    for ((target, attempt), ending) in services.iter().zip(&mut attempts).zip(endings) {
        let Some(ending) = ending else { continue };
        attempt.outcome.result = ending.result;
        attempt.outcome.running = ending.running.release(target);
        attempt.outcome.detail = ending.detail;
    }
    verify_when_all_succeeded(hooks, &mut attempts).await;
    write_parameters(clients.parameters, env, services, &mut attempts, options, progress).await;
    // The digest of what was registered, as the earlier outcome recorded it, is kept.
    for (target, attempt) in services.iter().zip(&mut attempts) {
        let earlier =
            known.get(&target.service).filter(|k| k.task_definition == attempt.outcome.task_definition);
        if let Some(digest) = earlier.and_then(ServiceOutcome::task_definition_digest) {
            attempt.outcome.record_task_definition_digest(digest);
        }
    }
    conclude(services, attempts, true, false)
}

/// What `observe` starts from for a service: the revision and ECS deployment an earlier outcome
/// recorded, or what DescribeServices says it runs now.
enum Found {
    Recorded((String, Option<String>)),
    Described(Described),
}

/// The rollout to wait for, when the revision service `target` runs is one this deployment
/// registered (by its tag); otherwise why it is not deployed.
async fn recognise<E: Ecs>(
    ecs: &E,
    backoff: &Backoff,
    target: &ServiceTarget,
    described: Described,
    deployment_tag: &str,
) -> Result<Watch, String> {
    let service = described.map_err(|error| error.to_string())?;
    let running = service.task_definition.clone();
    let definition = backoff
        .retry(async || ecs.describe_task_definition(&running).await)
        .await
        .map_err(|error| error.to_string())?;
    if deployment_of(&definition) != Some(deployment_tag) {
        return Err(format!(
            "not deployed: {} runs {}, which this deployment did not register (it stopped before updating the service)",
            target.ecs_service,
            short_arn(&running)
        ));
    }
    let primary = service.primary().filter(|p| p.task_definition == running).map(|p| p.id.clone());
    Ok(Watch::new(running, primary, None, None))
}

/// Registers the new revision of `target` and points the service at it; with what
/// DescribeServices said of it beforehand. The rollout to wait for, once the service is updated.
async fn update<E: Ecs, C: CodeDeploy>(
    ecs: &E,
    codedeploy: &C,
    target: &ServiceTarget,
    described: Described,
    deployment_tag: &str,
    options: &Options,
    progress: Progress<'_>,
) -> (Attempt, Option<Watch>) {
    let (cluster, name) = (target.cluster.as_str(), target.ecs_service.as_str());
    let backoff = &options.backoff;
    let service = match described {
        Ok(service) if service.status == "ACTIVE" => service,
        Ok(service) => {
            let detail = format!("ECS service {name} is {}, not ACTIVE", service.status);
            return (Attempt::failed(detail), None);
        }
        Err(error) => return (Attempt::failed(error.to_string()), None),
    };
    // ECS refuses a new task definition for a service it does not deploy itself (CODE_DEPLOY:
    // "Use AWS CodeDeploy to trigger a new deployment"): CodeDeploy is asked instead, and nothing
    // is registered for a deployment that cannot happen.
    let through_codedeploy = match service.strategy.controller.as_str() {
        "ECS" => None,
        "CODE_DEPLOY" => match (&target.codedeploy, service.load_balancer_port(&target.container)) {
            (Some(group), Some(port)) => Some((group, port)),
            (None, _) => {
                let detail = format!(
                    "ECS service {name} is deployed by CodeDeploy (deployment controller CODE_DEPLOY): set \
                     `codedeploy = {{ application = \"…\", deployment_group = \"…\" }}` for service {} in \
                     ledger.toml; nothing was registered or changed",
                    target.service
                );
                return (Attempt::failed(detail), None);
            }
            (Some(_), None) => {
                let detail = format!(
                    "ECS service {name} has no load balancer for container {}: a CodeDeploy deployment \
                     needs one; nothing was registered or changed",
                    target.container
                );
                return (Attempt::failed(detail), None);
            }
        },
        controller => {
            let detail = format!(
                "ECS service {name} has deployment controller {controller}: ledger does not start its \
                 deployments; nothing was registered or changed"
            );
            return (Attempt::failed(detail), None);
        }
    };
    let running = service.task_definition.as_str();
    let revised = match next_revision(ecs, backoff, target, running, &options.described, deployment_tag).await
    {
        Ok((_, revised)) => revised,
        Err(message) => return (Attempt::failed(message), None),
    };
    let arn = match backoff.retry(async || ecs.register_task_definition(&revised).await).await {
        Ok(arn) => arn,
        Err(error) => return (Attempt::failed(error.to_string()), None),
    };
    let mut registered = revised;
    registered.definition.task_definition_arn = Some(arn.clone());
    progress(&target.service, &format!("registered {}", short_arn(&arn)));

    let mut attempt = Attempt::failed("");
    attempt.outcome.task_definition = Some(arn.clone());
    attempt.registered = Some(registered);
    if let Some((group, port)) = through_codedeploy {
        let id =
            match start_codedeploy(codedeploy, backoff, group, &arn, &target.container, port, deployment_tag)
                .await
            {
                Ok(id) => id,
                Err(error) => {
                    attempt.outcome.detail =
                        format!("{error} (the new revision was registered; the service was not changed)");
                    return (attempt, None);
                }
            };
        attempt.updated = true;
        attempt.codedeploy_port = Some(port);
        attempt.outcome.ecs_deployment = Some(id.clone());
        progress(&target.service, &format!("created CodeDeploy deployment {id} ({})", group_name(group)));
        if !options.wait {
            attempt.outcome.result = DeployResult::Submitted;
            attempt.outcome.detail = "submitted; not waited for (`ledger wait` observes it)".into();
        }
        let mut watch = Watch::new(arn, None, Some(service.task_definition), None);
        watch.codedeploy = Some(id);
        return (attempt, Some(watch));
    }
    let updated_after = SystemTime::now() - CLOCK_SKEW;
    let updated = match backoff.retry(async || ecs.update_service(cluster, name, &arn).await).await {
        Ok(updated) => updated,
        Err(error) => {
            attempt.outcome.detail =
                format!("{error} (the new revision was registered; the service was not changed)");
            return (attempt, None);
        }
    };
    attempt.updated = true;
    let ours = updated.primary().filter(|p| p.task_definition == arn).map(|p| p.id.clone());
    attempt.outcome.ecs_deployment = ours.clone();
    progress(&target.service, &format!("updated {name}; ECS deployment {}", ours.as_deref().unwrap_or("?")));
    if !options.wait {
        attempt.outcome.result = DeployResult::Submitted;
        attempt.outcome.detail = "submitted; not waited for (`ledger wait` observes it)".into();
    }
    let mut watch = Watch::new(arn, ours, Some(service.task_definition), Some(updated_after));
    watch.strategy = Some(service.strategy);
    watch.replaced_record = service.current_service_deployment;
    (attempt, Some(watch))
}

/// The revision service `target` runs (`running`), described, and the copy of it the rollout
/// registers: the container's image replaced, tagged with `deployment_tag`. One call,
/// DescribeTaskDefinition, unless `described` has it; the plan shows the difference with
/// [`preview`].
async fn next_revision<E: Ecs>(
    ecs: &E,
    backoff: &Backoff,
    target: &ServiceTarget,
    running: &str,
    described: &BTreeMap<String, TaskDefinitionWithTags>,
    deployment_tag: &str,
) -> Result<(TaskDefinitionWithTags, TaskDefinitionWithTags), String> {
    let current = match described.get(running) {
        Some(known) => known.clone(),
        None => backoff
            .retry(async || ecs.describe_task_definition(running).await)
            .await
            .map_err(|error| error.to_string())?,
    };
    let revised = revise(&current, &target.container, &target.image, deployment_tag)?;
    Ok((current, revised))
}

/// What a rollout of one service would register, against what the service runs: for a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    /// The revision the service runs now.
    pub running: String,
    /// The fields that change (the image among them), in path order.
    pub changes: Vec<FieldChange>,
    /// The unified diff of the two definitions, normalised (empty when nothing changes).
    pub diff: String,
    /// The fields in which the running revision differs from the one ledger last registered for
    /// the service (changed behind its back; the new revision carries them), when known.
    pub drift: Vec<FieldChange>,
    /// Why the drift is not known, when it could not be read.
    pub drift_unknown: Option<String>,
    /// The running revision as described: the rollout that follows the plan reuses it
    /// ([`Options::described`]).
    pub described: TaskDefinitionWithTags,
}

/// For each of `services` (a target, what DescribeServices said of it, and the revision ledger
/// last registered for it), the task definition the rollout would register against the one it
/// runs: one DescribeTaskDefinition per service, `parallel` at once, and one more of the
/// registered revision when the running one is another with other contents. The new revision is
/// made locally by the rollout's own copy ([`next_revision`]), so the plan shows exactly what
/// would be registered. `Err`: why it cannot be shown (and the rollout would fail the service
/// for the same reason).
pub async fn preview<E: Ecs>(
    ecs: &E,
    backoff: &Backoff,
    services: &[(&ServiceTarget, &ServiceView, Option<&Registered>)],
    parallel: usize,
) -> Vec<Result<Preview, String>> {
    futures_util::stream::iter(services)
        .map(|(target, service, registered)| async move {
            let running = service.task_definition.as_str();
            let (current, revised) =
                next_revision(ecs, backoff, target, running, &BTreeMap::new(), "").await?;
            let (old, new) = (current.normalised(), revised.normalised());
            let after = format!("{} (new revision)", current.definition.family().unwrap_or("?"));
            let drift = match registered {
                Some(registered) => changed_since(ecs, backoff, running, &old, registered).await,
                None => Ok(Vec::new()),
            };
            Ok(Preview {
                running: running.to_string(),
                changes: task_json::changes(&old, &new),
                diff: task_json::unified_diff(&old, &new, short_arn(running), &after),
                drift_unknown: drift.as_ref().err().map(|error| error.to_string()),
                drift: drift.unwrap_or_default(),
                described: current,
            })
        })
        .buffered(parallel.max(1))
        .collect()
        .await
}

/// Starts a CodeDeploy deployment of `group` to revision `task_definition`, its load balancer
/// sending traffic to `container` on `port`: the deployment's id.
async fn start_codedeploy<C: CodeDeploy>(
    codedeploy: &C,
    backoff: &Backoff,
    group: &DeploymentGroup,
    task_definition: &str,
    container: &str,
    port: i32,
    deployment_tag: &str,
) -> Result<String, crate::AwsError> {
    let appspec = appspec(task_definition, container, port);
    let description = format!("ledger deployment {deployment_tag}");
    backoff.retry(async || codedeploy.create_deployment(group, &appspec, &description).await).await
}

/// `application/deployment group`.
pub fn group_name(group: &DeploymentGroup) -> String {
    format!("{}/{}", group.application, group.deployment_group)
}

/// Puts every service that changed back to its previous release, with a new revision made from
/// the one this deployment registered (deployed by CodeDeploy where it deployed the service),
/// and waits for those rollouts together; with the ECS and CodeDeploy clients.
async fn roll_back<E: Ecs, C: CodeDeploy>(
    (ecs, codedeploy): (&E, &C),
    env: &EnvTarget,
    services: &[ServiceTarget],
    attempts: &mut [Attempt],
    deployment_tag: &str,
    options: &Options,
    progress: Progress<'_>,
) {
    let backoff = &options.backoff;
    // ECS offered service deployments for this apply: the rollbacks are followed through theirs.
    let offered =
        attempts.iter().any(|a| a.outcome.ecs_deployment.as_deref().is_some_and(is_service_deployment_arn));
    // Each changed service: what to go back to, or how the attempt ends without a rollback.
    let mut restores = Vec::new();
    for (target, attempt) in services.iter().zip(attempts.iter_mut()) {
        let outcome = &mut attempt.outcome;
        if !attempt.updated {
            restores.push(None);
        } else if outcome.result == DeployResult::Failed
            && outcome.running.is_some()
            && outcome.running == target.change.from
        {
            // ECS's circuit breaker (or CodeDeploy) already put the previous revision back.
            outcome.result = DeployResult::RolledBack;
            restores.push(None);
        } else if let (Some(previous_image), Some(registered)) = (&target.previous_image, &attempt.registered)
        {
            restores.push(Some((previous_image.clone(), registered.clone(), attempt.codedeploy_port)));
        } else {
            outcome.result = DeployResult::Failed;
            outcome.detail =
                join(&outcome.detail, "not rolled back: no earlier release of this service ran here");
            restores.push(None);
        }
    }
    let started: Vec<Option<Result<Watch, String>>> =
        futures_util::stream::iter(services.iter().zip(restores))
            .map(|(target, restore_to)| async move {
                match restore_to {
                    Some((image, registered, port)) => {
                        progress(&target.service, "rolling back");
                        let restore_with =
                            Restore { image: &image, registered: &registered, codedeploy_port: port };
                        Some(restore(ecs, codedeploy, backoff, target, restore_with, deployment_tag).await)
                    }
                    None => None,
                }
            })
            .buffered(options.parallel.max(1))
            .collect()
            .await;
    let mut watches: Vec<Option<Watch>> = Vec::new();
    for (attempt, started) in attempts.iter_mut().zip(started) {
        let outcome = &mut attempt.outcome;
        match started {
            Some(Ok(mut watch)) => {
                // The deployment being undone is not the rollback's.
                watch.replaced_record = outcome.ecs_deployment.clone();
                watches.push(Some(watch));
            }
            Some(Err(error)) => {
                outcome.result = DeployResult::Failed;
                outcome.detail = join(&outcome.detail, &format!("rollback failed: {error}"));
                watches.push(None);
            }
            None => watches.push(None),
        }
    }
    if offered {
        find_service_deployments(ecs, backoff, services, &mut watches, options.parallel, progress).await;
    }
    let endings = wait_all(ecs, codedeploy, env, backoff, services, watches, progress).await;
    for ((target, attempt), ending) in services.iter().zip(attempts.iter_mut()).zip(endings) {
        let Some(ending) = ending else { continue };
        let outcome = &mut attempt.outcome;
        if ending.result == DeployResult::Succeeded {
            outcome.result = DeployResult::RolledBack;
            outcome.running = target.change.from;
            outcome.detail = join(&outcome.detail, "rolled back to the previous release");
        } else {
            outcome.result = DeployResult::Failed;
            outcome.running = None;
            outcome.detail = join(&outcome.detail, &format!("rollback failed: {}", ending.detail));
        }
    }
}

/// What a service is put back to: a new revision made from `registered` with `image`, deployed
/// by CodeDeploy (to this port of the container) when it deployed the release being undone.
struct Restore<'a> {
    image: &'a str,
    registered: &'a TaskDefinitionWithTags,
    codedeploy_port: Option<i32>,
}

/// Points service `target` at the revision `restore_with` makes: the rollout to wait for.
async fn restore<E: Ecs, C: CodeDeploy>(
    ecs: &E,
    codedeploy: &C,
    backoff: &Backoff,
    target: &ServiceTarget,
    restore_with: Restore<'_>,
    deployment_tag: &str,
) -> Result<Watch, String> {
    let (cluster, name) = (target.cluster.as_str(), target.ecs_service.as_str());
    let restore = revise(restore_with.registered, &target.container, restore_with.image, deployment_tag)?;
    let register = backoff.retry(async || ecs.register_task_definition(&restore).await).await;
    let arn = register.map_err(|e| e.to_string())?;
    if let (Some(group), Some(port)) = (&target.codedeploy, restore_with.codedeploy_port) {
        let started =
            start_codedeploy(codedeploy, backoff, group, &arn, &target.container, port, deployment_tag);
        let id = started.await.map_err(|e| e.to_string())?;
        let mut watch = Watch::new(arn, None, None, None);
        watch.codedeploy = Some(id);
        return Ok(watch);
    }
    let updated_after = SystemTime::now() - CLOCK_SKEW;
    let update = backoff.retry(async || ecs.update_service(cluster, name, &arn).await).await;
    let updated = update.map_err(|e| e.to_string())?;
    let id = updated.primary().filter(|p| p.task_definition == arn).map(|p| p.id.clone());
    Ok(Watch::new(arn, id, None, Some(updated_after)))
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
/// Each service registered for records the digest of what was registered, for drift.
fn conclude(
    services: &[ServiceTarget],
    mut attempts: Vec<Attempt>,
    waited: bool,
    rolled_back: bool,
) -> Outcome {
    for attempt in &mut attempts {
        if let Some(registered) = &attempt.registered {
            attempt.outcome.record_task_definition_digest(&task_json::digest(&registered.normalised()));
        }
    }
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

impl Running {
    /// The release of `target` this is.
    fn release(self, target: &ServiceTarget) -> Option<EntryId> {
        match self {
            Running::Ours => Some(target.change.to),
            Running::Previous => target.change.from,
            Running::Unknown => None,
        }
    }
}

struct Ending {
    result: DeployResult,
    running: Running,
    detail: String,
}

/// A rollout being waited for: the service should end up with PRIMARY deployment
/// `ecs_deployment` running revision `ours`, replacing `previous`; or, when ECS's record of it
/// is known, with service deployment `service_deployment` SUCCESSFUL; or, for a service
/// CodeDeploy deploys, with CodeDeploy deployment `codedeploy` Succeeded.
struct Watch {
    ours: String,
    ecs_deployment: Option<String>,
    previous: Option<String>,
    service_deployment: Option<String>,
    /// Just before UpdateService (less [`CLOCK_SKEW`]): where to look for its service deployment.
    updated_after: Option<SystemTime>,
    /// The service deployment the service had before UpdateService: listed too (within the clock
    /// skew, or when ECS does not list ours yet), and never ours.
    replaced_record: Option<String>,
    /// The service's strategy, when it was described before the update.
    strategy: Option<Strategy>,
    /// The CodeDeploy deployment (`d-…`) that deploys `ours`.
    codedeploy: Option<String>,
}

impl Watch {
    fn new(
        ours: String,
        ecs_deployment: Option<String>,
        previous: Option<String>,
        updated_after: Option<SystemTime>,
    ) -> Watch {
        Watch {
            ours,
            ecs_deployment,
            previous,
            service_deployment: None,
            updated_after,
            replaced_record: None,
            strategy: None,
            codedeploy: None,
        }
    }

    /// The rollout an earlier outcome recorded: its revision, and the service deployment's ARN,
    /// the CodeDeploy deployment's id or the deployment's id.
    fn recorded(ours: String, recorded: Option<String>) -> Watch {
        let mut watch = Watch::new(ours, None, None, None);
        match recorded {
            Some(arn) if is_service_deployment_arn(&arn) => watch.service_deployment = Some(arn),
            Some(id) if is_codedeploy_id(&id) => watch.codedeploy = Some(id),
            id => watch.ecs_deployment = id,
        }
        watch
    }
}

/// Finds the service deployment each updated service's UpdateService started, and records its
/// ARN as the service's `ecs_deployment`: its rollout is read from it.
async fn follow<E: Ecs>(
    ecs: &E,
    services: &[ServiceTarget],
    attempts: &mut [Attempt],
    watches: &mut [Option<Watch>],
    options: &Options,
    progress: Progress<'_>,
) {
    find_service_deployments(ecs, &options.backoff, services, watches, options.parallel, progress).await;
    for (attempt, watch) in attempts.iter_mut().zip(watches.iter()) {
        if let Some(arn) = watch.as_ref().and_then(|w| w.service_deployment.clone()) {
            attempt.outcome.ecs_deployment = Some(arn);
        }
    }
}

/// For every watch with `updated_after`: the newest service deployment ListServiceDeployments
/// lists for its service since then, other than the one the update replaced: the one its
/// UpdateService started. The first service asked decides, once for all, whether ECS offers
/// service deployments: if that call fails, every rollout is followed through the services'
/// `deployments` (and no other service is asked); a later service with none listed (or whose
/// call fails) is followed so alone. Each choice is a progress line.
async fn find_service_deployments<E: Ecs>(
    ecs: &E,
    backoff: &Backoff,
    services: &[ServiceTarget],
    watches: &mut [Option<Watch>],
    parallel: usize,
    progress: Progress<'_>,
) {
    let asks: Vec<(usize, SystemTime, Option<String>)> = watches
        .iter()
        .enumerate()
        .filter_map(|(i, watch)| {
            let watch = watch.as_ref()?;
            Some((i, watch.updated_after?, watch.replaced_record.clone()))
        })
        .collect();
    let find = |(i, since, replaced): (usize, SystemTime, Option<String>)| async move {
        let target = &services[i];
        let (cluster, name) = (target.cluster.as_str(), target.ecs_service.as_str());
        let listed = backoff.retry(async || ecs.list_service_deployments(cluster, name, since).await).await;
        (i, listed.map(|listed| newest(listed, replaced.as_deref())))
    };
    let Some((first, rest)) = asks.split_first() else { return };
    let (i, answer) = find(first.clone()).await;
    if let Err(error) = &answer {
        progress(
            &services[i].service,
            &format!("ECS service deployments not available ({error}): following the services' deployments"),
        );
        return;
    }
    let mut answers = vec![(i, answer)];
    answers.extend(
        futures_util::stream::iter(rest.iter().cloned())
            .map(find)
            .buffered(parallel.max(1))
            .collect::<Vec<_>>()
            .await,
    );
    for (i, answer) in answers {
        let service = &services[i].service;
        let watch = watches[i].as_mut().expect("asked for watched services");
        match answer {
            Ok(Some(arn)) => {
                progress(service, &format!("following ECS service deployment {arn}"));
                watch.service_deployment = Some(arn);
            }
            Ok(None) => progress(
                service,
                "ECS lists no service deployment for the update: following the service's deployments",
            ),
            Err(error) => progress(service, &format!("{error}: following the service's deployments")),
        }
    }
}

/// The ARN of the newest of `listed` other than `replaced`, whatever order ECS listed them in.
fn newest(listed: Vec<ServiceDeploymentBrief>, replaced: Option<&str>) -> Option<String> {
    let candidates = listed.into_iter().enumerate().filter(|(_, brief)| Some(brief.arn.as_str()) != replaced);
    candidates.max_by_key(|(order, brief)| (brief.created_at, *order)).map(|(_, brief)| brief.arn)
}

/// Service deployments `arns`, described in batches of [`DESCRIBE_SERVICE_DEPLOYMENTS_MAX`], each
/// retried by `backoff`: one answer per ARN, in their order; a batch that fails for good fails
/// each ARN it asked for.
async fn describe_service_deployments<E: Ecs>(
    ecs: &E,
    backoff: &Backoff,
    arns: &[&str],
) -> Vec<DescribedDeployment> {
    let answers = futures_util::future::join_all(arns.chunks(DESCRIBE_SERVICE_DEPLOYMENTS_MAX).map(
        |batch| async move {
            match backoff.retry(async || ecs.describe_service_deployments(batch).await).await {
                Ok(described) if described.len() == batch.len() => described,
                Ok(_) => {
                    batch.iter().map(|arn| Err(crate::ecs::service_deployment_not_found(arn, None))).collect()
                }
                Err(error) => batch.iter().map(|_| Err(error.clone())).collect(),
            }
        },
    ))
    .await;
    answers.into_iter().flatten().collect()
}

/// Waits for the rollouts of `watches` (one per service of `services`, `None` for a service
/// not to wait for) together, until each has ended or the environment's timeout has passed:
/// the ending of each, in their order. Each poll describes the service deployments still in
/// progress, the CodeDeploy deployments still in progress (BatchGetDeployments, per
/// [`BATCH_GET_DEPLOYMENTS_MAX`]) and the services still rolling out without either, after a
/// wait of the [`PollSchedule`] (UpdateService's answer was the first look). A service
/// deployment that can no longer be described is followed through its service's `deployments`
/// from then on.
async fn wait_all<E: Ecs, C: CodeDeploy>(
    ecs: &E,
    codedeploy: &C,
    env: &EnvTarget,
    backoff: &Backoff,
    services: &[ServiceTarget],
    mut watches: Vec<Option<Watch>>,
    progress: Progress<'_>,
) -> Vec<Option<Ending>> {
    let deadline = Instant::now() + env.timeout;
    let mut endings: Vec<Option<Ending>> = watches.iter().map(|_| None).collect();
    // What each was last seen doing, and what to quote with it (its latest events, or ECS's reason).
    let mut last_seen: Vec<(String, String)> = watches.iter().map(|_| Default::default()).collect();
    let mut schedule = PollSchedule::new(env.poll_interval);
    loop {
        let pending: Vec<usize> =
            (0..watches.len()).filter(|&i| watches[i].is_some() && endings[i].is_none()).collect();
        if pending.is_empty() {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            for i in pending {
                let (seen, quoted) = &last_seen[i];
                endings[i] = Some(Ending {
                    result: DeployResult::Failed,
                    running: Running::Unknown,
                    detail: join(&format!("timed out after {}: {seen}", humanize(env.timeout)), quoted),
                });
            }
            break;
        }
        let wait = schedule.next().unwrap_or(env.poll_interval);
        tokio::time::sleep(wait.min(deadline - now)).await;
        let (by_codedeploy, pending): (Vec<usize>, Vec<usize>) =
            pending.into_iter().partition(|&i| watches[i].as_ref().is_some_and(|w| w.codedeploy.is_some()));
        let (by_record, by_service): (Vec<usize>, Vec<usize>) = pending
            .into_iter()
            .partition(|&i| watches[i].as_ref().is_some_and(|w| w.service_deployment.is_some()));
        let targets: Vec<&ServiceTarget> = by_service.iter().map(|&i| &services[i]).collect();
        let arns: Vec<&str> =
            by_record.iter().filter_map(|&i| watches[i].as_ref()?.service_deployment.as_deref()).collect();
        let ids: Vec<&str> =
            by_codedeploy.iter().filter_map(|&i| watches[i].as_ref()?.codedeploy.as_deref()).collect();
        let (described, records, codedeploys) = futures_util::future::join3(
            describe_targets(ecs, backoff, &targets),
            describe_service_deployments(ecs, backoff, &arns),
            batch_get_deployments(codedeploy, backoff, &ids),
        )
        .await;
        let mut seen_now: Vec<(usize, String, String)> = Vec::new();
        let mut rolled_back = Vec::new();
        for (i, described) in by_codedeploy.into_iter().zip(codedeploys) {
            match described {
                Ok(view) => match judge_codedeploy(&view) {
                    Some(ending) => {
                        if ending.running == Running::Previous {
                            rolled_back.push(i);
                        }
                        endings[i] = Some(ending);
                    }
                    None => seen_now.push((
                        i,
                        format!("CodeDeploy deployment {} {}", view.id, view.status),
                        String::new(),
                    )),
                },
                Err(error) => {
                    endings[i] = Some(Ending {
                        result: DeployResult::Failed,
                        running: Running::Unknown,
                        detail: format!("lost sight of the rollout: {error}"),
                    });
                }
            }
        }
        for (i, record) in by_record.into_iter().zip(records) {
            let watch = watches[i].as_mut().expect("pending services are watched");
            match record {
                Ok(record) => match watch.judge_record(&record) {
                    Some(ending) => {
                        if ending.running == Running::Previous {
                            rolled_back.push(i);
                        }
                        endings[i] = Some(ending);
                    }
                    None => seen_now.push((i, record_progress(&record), ecs_says(&record))),
                },
                Err(error) => {
                    progress(&services[i].service, &format!("{error}: following the service's deployments"));
                    watch.service_deployment = None;
                }
            }
        }
        for (i, described) in by_service.into_iter().zip(described) {
            let watch = watches[i].as_ref().expect("pending services are watched");
            let view = match described {
                Ok(view) => view,
                Err(error) => {
                    endings[i] = Some(Ending {
                        result: DeployResult::Failed,
                        running: Running::Unknown,
                        detail: format!("lost sight of the rollout: {error}"),
                    });
                    continue;
                }
            };
            if let Some(ending) = watch.judge(&view) {
                endings[i] = Some(ending);
                continue;
            }
            let seen = match view.primary() {
                Some(p) => {
                    format!("rollout {}, {}/{} tasks running", p.rollout_state, p.running, p.desired)
                }
                None => "no PRIMARY deployment yet".into(),
            };
            seen_now.push((
                i,
                seen,
                format!("latest events: {}", or_none(view.latest_events(EVENTS_QUOTED))),
            ));
        }
        confirm_rollbacks(ecs, backoff, services, &watches, &mut endings, &rolled_back).await;
        for (i, seen, quoted) in seen_now {
            if seen != last_seen[i].0 {
                progress(&services[i].service, &seen);
            }
            last_seen[i] = (seen, quoted);
        }
    }
    endings
}

/// ECS rolled services `indexes` back to the last revision that completed, which need not be
/// the one the deployment replaced: one look at the services tells which runs. The ending says
/// `Previous` only when it is the revision replaced, and names what runs.
async fn confirm_rollbacks<E: Ecs>(
    ecs: &E,
    backoff: &Backoff,
    services: &[ServiceTarget],
    watches: &[Option<Watch>],
    endings: &mut [Option<Ending>],
    indexes: &[usize],
) {
    if indexes.is_empty() {
        return;
    }
    let targets: Vec<&ServiceTarget> = indexes.iter().map(|&i| &services[i]).collect();
    let described = describe_targets(ecs, backoff, &targets).await;
    for (&i, described) in indexes.iter().zip(described) {
        let watch = watches[i].as_ref();
        let previous = watch.and_then(|w| w.previous.as_deref());
        let ending = endings[i].as_mut().expect("a rollback that ended");
        // CodeDeploy moves the service between task sets: the service's task definition is the
        // one serving traffic.
        let by_codedeploy = watch.is_some_and(|w| w.codedeploy.is_some());
        let runs = described.as_ref().ok().and_then(|view| match by_codedeploy {
            true => Some(view.task_definition.clone()).filter(|arn| !arn.is_empty()),
            false => view.primary().map(|p| p.task_definition.clone()),
        });
        ending.running = match (&runs, previous) {
            (Some(runs), Some(previous)) if runs == previous => Running::Previous,
            _ => Running::Unknown,
        };
        if let Some(runs) = runs {
            let what = if by_codedeploy { "the service" } else { "the PRIMARY deployment" };
            ending.detail = join(&ending.detail, &format!("{what} runs {}", short_arn(&runs)));
        }
    }
}

/// CodeDeploy deployments `ids`, in batches of [`BATCH_GET_DEPLOYMENTS_MAX`], each retried by
/// `backoff`: one answer per id, in their order; a batch that fails for good fails each id it
/// asked for.
async fn batch_get_deployments<C: CodeDeploy>(
    codedeploy: &C,
    backoff: &Backoff,
    ids: &[&str],
) -> Vec<DescribedCodeDeployment> {
    let answers =
        futures_util::future::join_all(ids.chunks(BATCH_GET_DEPLOYMENTS_MAX).map(|batch| async move {
            match backoff.retry(async || codedeploy.batch_get_deployments(batch).await).await {
                Ok(described) if described.len() == batch.len() => described,
                Ok(_) => batch.iter().map(|id| Err(crate::codedeploy::codedeploy_not_found(id))).collect(),
                Err(error) => batch.iter().map(|_| Err(error.clone())).collect(),
            }
        }))
        .await;
    answers.into_iter().flatten().collect()
}

/// How a CodeDeploy deployment ended, if it has: `Succeeded` is a success; `Failed` and
/// `Stopped` are failures, in the fixed form `CodeDeploy deployment <id> <Status>: <code>:
/// <message>[; CodeDeploy rolled back: <rollbackMessage>]`. `Ready` (waiting for the traffic to
/// be rerouted by hand) and the other statuses are waited for.
fn judge_codedeploy(view: &CodeDeployView) -> Option<Ending> {
    if !view.is_terminal() {
        return None;
    }
    let (id, status) = (&view.id, &view.status);
    if status == "Succeeded" {
        return Some(Ending {
            result: DeployResult::Succeeded,
            running: Running::Ours,
            detail: format!("CodeDeploy deployment {id} Succeeded"),
        });
    }
    let code = view.error_code.as_deref().filter(|c| !c.is_empty()).unwrap_or("no error code");
    let message = view.error_message.as_deref().filter(|m| !m.is_empty()).unwrap_or("no message");
    let mut detail = format!("CodeDeploy deployment {id} {status}: {code}: {message}");
    // Which revision runs after CodeDeploy's rollback is confirmed by looking at the service.
    let running = match &view.rollback {
        Some(rollback) => {
            detail = join(&detail, &format!("CodeDeploy rolled back: {rollback}"));
            Running::Previous
        }
        None => Running::Unknown,
    };
    Some(Ending { result: DeployResult::Failed, running, detail })
}

/// A service deployment still in progress, for a progress line.
fn record_progress(record: &ServiceDeploymentView) -> String {
    let stage = record.lifecycle_stage.as_ref().map(|s| format!(", stage {s}")).unwrap_or_default();
    format!(
        "ECS service deployment {}{stage}, {}/{} tasks running",
        record.status, record.running, record.requested
    )
}

fn ecs_says(record: &ServiceDeploymentView) -> String {
    if record.status_reason.is_empty() {
        "ECS gives no reason".into()
    } else {
        format!("ECS says {:?}", record.status_reason)
    }
}

/// What a service deployment that ended says, in a fixed form:
/// `ECS service deployment <STATUS>: <cause>; …; ECS says "<statusReason>"[; …]`, the causes
/// being the alarms that fired (and whether during the bake time), the circuit breaker, the
/// lifecycle stage it stopped at.
fn record_detail(record: &ServiceDeploymentView, strategy: Option<&Strategy>) -> String {
    let status = &record.status;
    if status == "SUCCESSFUL" {
        let how = strategy.map(|s| format!(" ({s})")).unwrap_or_default();
        return format!(
            "ECS service deployment SUCCESSFUL{how}, {}/{} tasks running",
            record.running, record.requested
        );
    }
    let mut causes = Vec::new();
    let in_bake = record.lifecycle_stage.as_deref() == Some("BAKE_TIME");
    if !record.triggered_alarms.is_empty() {
        let names: Vec<String> = record.triggered_alarms.iter().map(|name| format!("{name:?}")).collect();
        let noun = if names.len() == 1 { "alarm" } else { "alarms" };
        let when = if in_bake { " during bake time" } else { "" };
        causes.push(format!("{noun} {} fired{when}", names.join(", ")));
    }
    if let Some((failed, threshold)) = record.circuit_breaker {
        causes.push(format!("the circuit breaker tripped ({failed} failed tasks, threshold {threshold})"));
    }
    if let Some(stage) =
        record.lifecycle_stage.as_ref().filter(|_| !in_bake || record.triggered_alarms.is_empty())
    {
        causes.push(format!("at lifecycle stage {stage}"));
    }
    causes.push(ecs_says(record));
    match status.as_str() {
        "ROLLBACK_SUCCESSFUL" => causes.push("ECS rolled back to the last deployment that completed".into()),
        "ROLLBACK_FAILED" => causes.push("ECS could not roll back".into()),
        _ => {}
    }
    format!("ECS service deployment {status}: {}", causes.join("; "))
}

impl Watch {
    /// How the rollout ended, if its service deployment has.
    fn judge_record(&self, record: &ServiceDeploymentView) -> Option<Ending> {
        if !record.is_terminal() {
            return None;
        }
        let (result, running) = match record.status.as_str() {
            "SUCCESSFUL" => (DeployResult::Succeeded, Running::Ours),
            // ECS put back the revision the service ran before this deployment.
            "ROLLBACK_SUCCESSFUL" => (DeployResult::Failed, Running::Previous),
            _ => (DeployResult::Failed, Running::Unknown),
        };
        Some(Ending { result, running, detail: record_detail(record, self.strategy.as_ref()) })
    }
}

impl Watch {
    /// How the rollout ended, if it has.
    fn judge(&self, view: &ServiceView) -> Option<Ending> {
        let events = || or_none(view.latest_events(EVENTS_QUOTED));
        let primary = view.primary()?;
        let is_ours = |d: &RolloutView| {
            d.task_definition == self.ours && self.ecs_deployment.as_ref().is_none_or(|id| *id == d.id)
        };
        if !is_ours(primary) {
            let running = if Some(&primary.task_definition) == self.previous.as_ref() {
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
    match (first.is_empty(), second.is_empty()) {
        (true, _) => second.to_string(),
        (false, true) => first.to_string(),
        (false, false) => format!("{first}; {second}"),
    }
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
