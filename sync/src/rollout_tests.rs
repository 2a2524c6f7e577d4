//! The fault matrix, against the scripted fake: for every fault, the outcome tells the truth
//! about what ECS runs, and SSM is written only for services that succeeded.

use std::collections::BTreeMap;
use std::time::Duration;

use ledger::{Change, DeployResult, EntryId, Outcome, ServiceOutcome};

use crate::codedeploy::{DeploymentGroup, appspec};
use crate::ecs::{Ecs, Strategy, TaskDefinitionWithTags, deployment_of, describe_service};
use crate::error::ErrorKind;
use crate::fake::{CodeDeployEnd, FakeAws, Rollout};
use crate::retry::Backoff;
use crate::rollout::{
    Clients, EnvTarget, Options, PollSchedule, ServiceTarget, Unfinished, apply, observe, short_arn,
};
use crate::task::NoHooks;

const CLUSTER: &str = "catalogue-stage";
const PREFIX: &str = "/catalogue/images/stage";
const FIVE: [&str; 5] = ["api", "search", "worker", "billing", "mailer"];

fn env() -> EnvTarget {
    EnvTarget {
        ssm_prefix: PREFIX.into(),
        timeout: Duration::from_secs(60),
        poll_interval: Duration::from_secs(5),
    }
}

fn options() -> Options {
    Options {
        wait: true,
        rollback_on_failure: false,
        backoff: Backoff::default(),
        parallel: 4,
        described: Default::default(),
    }
}

fn image(service: &str, version: &str) -> String {
    format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/{service}:{version}")
}

fn release(n: u8) -> EntryId {
    EntryId([n; 32])
}

const DEPLOYMENT: EntryId = EntryId([9; 32]);

/// `names` running v1 in the fake's cluster [`CLUSTER`], and targets taking each to v2.
fn setup(fake: &FakeAws, names: &[&str]) -> Vec<ServiceTarget> {
    let placed: Vec<(&str, &str)> = names.iter().map(|name| (CLUSTER, *name)).collect();
    setup_in(fake, &placed)
}

/// Services `(cluster, name)` running v1 in the fake, and targets taking each to v2.
fn setup_in(fake: &FakeAws, services: &[(&str, &str)]) -> Vec<ServiceTarget> {
    services
        .iter()
        .map(|&(cluster, name)| {
            fake.add_service(cluster, name, &image(name, "v1"));
            ServiceTarget {
                service: name.to_string(),
                cluster: cluster.to_string(),
                ecs_service: name.to_string(),
                container: name.to_string(),
                change: Change { from: Some(release(1)), to: release(2) },
                image: image(name, "v2"),
                previous_image: Some(image(name, "v1")),
                codedeploy: None,
            }
        })
        .collect()
}

fn unfinished<'a>(
    targets: &'a [ServiceTarget],
    known: &'a BTreeMap<String, ServiceOutcome>,
) -> Unfinished<'a> {
    Unfinished { deployment: DEPLOYMENT, services: targets, known }
}

async fn run(fake: &FakeAws, env: &EnvTarget, targets: &[ServiceTarget], options: &Options) -> Outcome {
    let clients = Clients { ecs: fake, parameters: fake, codedeploy: fake };
    apply(clients, env, DEPLOYMENT, targets, options, &NoHooks, &|_, _| {}).await
}

/// [`run`], with the progress lines it printed (`service: line`).
async fn run_logged(fake: &FakeAws, targets: &[ServiceTarget], options: &Options) -> (Outcome, Vec<String>) {
    let lines = std::cell::RefCell::new(Vec::new());
    let clients = Clients { ecs: fake, parameters: fake, codedeploy: fake };
    let progress = |service: &str, line: &str| lines.borrow_mut().push(format!("{service}: {line}"));
    let outcome = apply(clients, &env(), DEPLOYMENT, targets, options, &NoHooks, &progress).await;
    (outcome, lines.into_inner())
}

/// A blue/green strategy with a 5-minute bake time and two deployment alarms.
fn blue_green() -> Strategy {
    Strategy {
        strategy: "BLUE_GREEN".into(),
        bake_time_minutes: Some(5),
        alarms: vec!["api-5xx".into(), "api-latency".into()],
        ..Strategy::default()
    }
}

/// ECS without service deployments (an older API, or an IAM policy without
/// ecs:ListServiceDeployments): every ListServiceDeployments is refused.
fn without_service_deployments(fake: &FakeAws) {
    fake.fail("ecs:ListServiceDeployments", ErrorKind::AccessDenied, u32::MAX);
}

fn parameter(service: &str) -> String {
    format!("{PREFIX}/{service}")
}

/// The outcome agrees with what the fake runs, and SSM holds only what succeeded.
fn assert_truthful(fake: &FakeAws, targets: &[ServiceTarget], outcome: &Outcome) {
    for target in targets {
        let recorded = &outcome.services[&target.service];
        let running = fake.image_running(&target.cluster, &target.ecs_service);
        if recorded.running == Some(target.change.to) {
            assert_eq!(running, target.image, "{}: {recorded:?}", target.service);
        }
        if recorded.running.is_some() && recorded.running == target.change.from {
            assert_eq!(Some(&running), target.previous_image.as_ref(), "{}: {recorded:?}", target.service);
        }
        let written = fake.parameter_history(&parameter(&target.service));
        if recorded.result == DeployResult::Succeeded {
            assert_eq!(written, std::slice::from_ref(&target.image), "{}", target.service);
            assert_eq!(recorded.running, Some(target.change.to));
        } else {
            assert!(written.is_empty(), "{}: SSM written for a service that did not succeed", target.service);
        }
    }
    let all_succeeded = outcome.services.values().all(|s| s.result == DeployResult::Succeeded);
    assert_eq!(outcome.result == DeployResult::Succeeded, all_succeeded);
}

#[tokio::test(start_paused = true)]
async fn five_services_succeed_and_ssm_is_written() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &FIVE);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");
    assert_truthful(&fake, &targets, &outcome);
    for target in &targets {
        let service = &outcome.services[&target.service];
        assert!(service.task_definition.as_deref().unwrap().ends_with(&format!("{}:2", target.service)));
        let arn = service.ecs_deployment.as_deref().unwrap();
        assert!(arn.starts_with("arn:aws:ecs:eu-west-1:123456789012:service-deployment/catalogue-stage/"));
        assert_eq!(fake.latest_service_deployment(CLUSTER, &target.service).unwrap().arn, arn);
        assert_eq!(service.said(), "ECS service deployment SUCCESSFUL (rolling), 2/2 tasks running");
    }
}

#[tokio::test(start_paused = true)]
async fn transient_throttling_and_5xx_are_retried() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &FIVE);
    fake.fail("ecs:DescribeServices", ErrorKind::Throttled, 4);
    fake.fail("ecs:RegisterTaskDefinition", ErrorKind::ServerError, 3);
    fake.fail("ssm:PutParameter", ErrorKind::Transport, 2);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");
    assert_truthful(&fake, &targets, &outcome);
    assert_eq!(fake.calls("ecs:RegisterTaskDefinition"), 5 + 3);
}

#[tokio::test(start_paused = true)]
async fn persistent_throttling_and_5xx_fail_the_service_they_hit() {
    for kind in [ErrorKind::Throttled, ErrorKind::ServerError] {
        let fake = FakeAws::new(&[CLUSTER]);
        let targets = setup(&fake, &["api"]);
        fake.fail("ecs:UpdateService", kind, 100);
        let outcome = run(&fake, &env(), &targets, &options()).await;
        assert_eq!(outcome.result, DeployResult::Failed);
        let api = &outcome.services["api"];
        assert!(
            api.said().contains("ecs:UpdateService") && api.said().contains("gave up after 6 attempts"),
            "{api:?}"
        );
        assert_eq!(api.running, None);
        assert_eq!(fake.image_running(CLUSTER, "api"), image("api", "v1"));
        assert_truthful(&fake, &targets, &outcome);
    }
}

#[tokio::test(start_paused = true)]
async fn access_denied_is_not_retried_and_names_the_action() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.fail("ecs:RegisterTaskDefinition", ErrorKind::AccessDenied, 100);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Failed);
    assert!(outcome.services["api"].said().contains("must allow `ecs:RegisterTaskDefinition`"));
    assert_eq!(fake.calls("ecs:RegisterTaskDefinition"), 1);
    assert_eq!(fake.calls("ecs:UpdateService"), 0);
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn missing_cluster_service_or_container_fail_with_what_is_missing() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    let elsewhere = vec![ServiceTarget { cluster: "no-such-cluster".into(), ..targets[0].clone() }];
    let outcome = run(&fake, &env(), &elsewhere, &options()).await;
    assert!(outcome.services["api"].said().contains("ClusterNotFoundException"), "{outcome:?}");

    let ghost = vec![ServiceTarget { ecs_service: "ghost".into(), ..targets[0].clone() }];
    let outcome = run(&fake, &env(), &ghost, &options()).await;
    assert!(outcome.services["api"].said().contains("\"ghost\" not found"), "{outcome:?}");

    let sidecar = vec![ServiceTarget { container: "sidecar".into(), ..targets[0].clone() }];
    let outcome = run(&fake, &env(), &sidecar, &options()).await;
    let detail = &outcome.services["api"].said();
    assert!(detail.contains("no container \"sidecar\" (it has: api)"), "{detail}");

    assert_eq!(outcome.result, DeployResult::Failed);
    assert_eq!(fake.calls("ecs:UpdateService"), 0);
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn a_failed_rollout_is_a_failure_quoting_the_events() {
    let fake = FakeAws::new(&[CLUSTER]);
    without_service_deployments(&fake);
    let targets = setup(&fake, &["api"]);
    fake.set_rollout(CLUSTER, "api", Rollout::Fail);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Failed);
    let api = &outcome.services["api"];
    assert!(api.said().contains("rollout FAILED") && api.said().contains("tasks failed to start"), "{api:?}");
    assert_eq!(api.running, None, "what runs after a failed rollout is not known");
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn a_circuit_breaker_rollback_is_a_failure_and_the_previous_release_runs() {
    let fake = FakeAws::new(&[CLUSTER]);
    without_service_deployments(&fake);
    let targets = setup(&fake, &["api"]);
    fake.set_rollout(CLUSTER, "api", Rollout::CircuitBreaker);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Failed);
    let api = &outcome.services["api"];
    assert!(api.said().contains("circuit breaker") && api.said().contains("rolling back"), "{api:?}");
    assert_eq!(api.running, Some(release(1)));
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn a_circuit_breaker_return_to_an_older_revision_is_still_named() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.set_rollout(CLUSTER, "api", Rollout::Fail);
    assert_eq!(run(&fake, &env(), &targets, &options()).await.result, DeployResult::Failed);

    // The failed revision 2 is what the service is set to; the breaker returns to revision 1,
    // the last one that completed, so the revision replaced (2) is not what runs.
    fake.set_rollout(CLUSTER, "api", Rollout::CircuitBreaker);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    let api = &outcome.services["api"];
    assert_eq!(api.result, DeployResult::Failed);
    assert!(api.said().contains("circuit breaker") && api.said().contains("api:1"), "{api:?}");
    assert_eq!(api.running, None, "the ledger does not claim to know what runs");
    assert_eq!(fake.image_running(CLUSTER, "api"), image("api", "v1"));
}

#[tokio::test(start_paused = true)]
async fn a_rollout_that_never_ends_times_out() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.set_rollout(CLUSTER, "api", Rollout::Never);
    let started = tokio::time::Instant::now();
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Failed);
    assert!(outcome.services["api"].said().starts_with("timed out after 1m"), "{outcome:?}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(60) && waited < Duration::from_secs(66), "{waited:?}");
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn one_of_five_failing_fails_the_deployment_and_only_it() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &FIVE);
    fake.set_rollout(CLUSTER, "worker", Rollout::Fail);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Failed);
    let results: BTreeMap<_, _> = outcome.services.iter().map(|(s, o)| (s.as_str(), o.result)).collect();
    for name in FIVE {
        let expected = if name == "worker" { DeployResult::Failed } else { DeployResult::Succeeded };
        assert_eq!(results[name], expected, "{name}");
    }
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn rollback_on_failure_puts_every_changed_service_back() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &FIVE);
    fake.set_rollout(CLUSTER, "worker", Rollout::Fail);
    let rollback = Options { rollback_on_failure: true, ..options() };
    let outcome = run(&fake, &env(), &targets, &rollback).await;
    assert_eq!(outcome.result, DeployResult::RolledBack, "{outcome:#?}");
    for target in &targets {
        let service = &outcome.services[&target.service];
        assert_eq!(service.result, DeployResult::RolledBack, "{service:?}");
        assert_eq!(service.running, Some(release(1)));
        assert_eq!(fake.image_running(CLUSTER, &target.service), image(&target.service, "v1"));
        // Rolled back from the revision the deployment registered (2), not from revision 1.
        assert_eq!(fake.calls("ecs:RegisterTaskDefinition"), 10);
    }
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn rollback_works_when_the_previous_revision_is_gone_and_says_when_it_cannot() {
    let fake = FakeAws::new(&[CLUSTER]);
    let mut targets = setup(&fake, &["api", "search"]);
    // `search` is new to this environment: there is nothing to go back to.
    targets[1].change.from = None;
    targets[1].previous_image = None;
    fake.deregister("arn:aws:ecs:eu-west-1:123456789012:task-definition/api:1");
    fake.set_rollout(CLUSTER, "api", Rollout::Fail);
    fake.set_rollout(CLUSTER, "search", Rollout::Fail);
    let rollback = Options { rollback_on_failure: true, ..options() };
    let outcome = run(&fake, &env(), &targets, &rollback).await;
    assert_eq!(outcome.result, DeployResult::Failed);
    assert_eq!(outcome.services["api"].result, DeployResult::RolledBack);
    assert!(outcome.services["search"].said().contains("not rolled back: no earlier release"));
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn no_wait_submits_and_observing_later_records_the_truth() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &FIVE);
    fake.set_rollout(CLUSTER, "mailer", Rollout::Fail);
    let no_wait = Options { wait: false, ..options() };
    let submitted = run(&fake, &env(), &targets, &no_wait).await;
    assert_eq!(submitted.result, DeployResult::Submitted, "{submitted:#?}");
    assert!(submitted.services.values().all(|s| s.running.is_none() && s.task_definition.is_some()));
    assert!(targets.iter().all(|t| fake.parameter_history(&parameter(&t.service)).is_empty()));

    let clients = Clients { ecs: &fake, parameters: &fake, codedeploy: &fake };
    let observed =
        observe(clients, &env(), unfinished(&targets, &submitted.services), &options(), &NoHooks, &|_, _| {})
            .await;
    assert_eq!(observed.result, DeployResult::Failed);
    assert_eq!(observed.services["mailer"].result, DeployResult::Failed);
    assert_eq!(observed.services["api"].result, DeployResult::Succeeded);
    assert_truthful(&fake, &targets, &observed);
    // The digest of what was registered, recorded when it was submitted, is kept.
    let digest = submitted.services["api"].task_definition_digest();
    assert!(digest.is_some(), "{submitted:#?}");
    assert_eq!(observed.services["api"].task_definition_digest(), digest);
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_apply_is_reconciled_by_its_tag() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api", "search"]);
    // The apply updated `api` and was killed before it touched `search` or recorded anything.
    let no_wait = Options { wait: false, ..options() };
    run(&fake, &env(), &targets[..1], &no_wait).await;

    let clients = Clients { ecs: &fake, parameters: &fake, codedeploy: &fake };
    let nothing_known = BTreeMap::new();
    let observed =
        observe(clients, &env(), unfinished(&targets, &nothing_known), &options(), &NoHooks, &|_, _| {})
            .await;
    assert_eq!(observed.services["api"].result, DeployResult::Succeeded, "{observed:#?}");
    let search = &observed.services["search"];
    assert_eq!(search.result, DeployResult::Failed);
    assert!(search.said().starts_with("not deployed: search runs search:1"), "{search:?}");
    assert_eq!(search.running, None);
    assert_eq!(observed.result, DeployResult::Failed);
    assert_truthful(&fake, &targets, &observed);
}

#[tokio::test(start_paused = true)]
async fn calls_grow_with_services_and_polls_not_with_the_account() {
    let count = |unrelated: usize, services: &[&str]| {
        let fake = FakeAws::new(&[CLUSTER]);
        let targets = setup(&fake, services);
        for n in 0..unrelated {
            fake.add_service(CLUSTER, &format!("other-{n}"), "nginx:1");
        }
        (fake, targets)
    };
    let (small, targets) = count(0, &FIVE);
    run(&small, &env(), &targets, &options()).await;
    let (large, targets) = count(500, &FIVE);
    run(&large, &env(), &targets, &options()).await;
    assert_eq!(small.total_calls(), large.total_calls());
    // Per service: describe the task definition, register, update, find the service deployment
    // and one SSM write; for the five together, one DescribeServices before the updates and two
    // polls of their service deployments (in progress, then successful).
    assert_eq!(small.total_calls(), 5 * 5 + 1 + 2);
    let (one, targets) = count(0, &["api"]);
    run(&one, &env(), &targets, &options()).await;
    assert_eq!(one.total_calls(), 8);
}

#[tokio::test(start_paused = true)]
async fn the_new_revision_differs_from_the_old_only_by_image_and_tag() {
    use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair, NetworkMode, TaskDefinition};
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    let original = fake
        .describe_task_definition("arn:aws:ecs:eu-west-1:123456789012:task-definition/api:1")
        .await
        .unwrap();
    // A richer definition than `setup` made: a sidecar, environment, network mode.
    let sidecar = ContainerDefinition::builder().name("envoy").image("envoy:1.30").build();
    let api = ContainerDefinition::builder()
        .name("api")
        .image(image("api", "v1"))
        .environment(KeyValuePair::builder().name("MODE").value("live").build())
        .build();
    let definition = TaskDefinition::builder()
        .family("api")
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(api)
        .container_definitions(sidecar)
        .build();
    let rich = TaskDefinitionWithTags {
        definition,
        tags: original.tags.clone(),
        uncopied: Vec::new(),
        json: Default::default(),
    };
    let arn = fake.register_task_definition(&rich).await.unwrap();
    fake.update_service(CLUSTER, "api", &arn).await.unwrap();
    for _ in 0..3 {
        describe_service(&fake, &Backoff::default(), CLUSTER, "api").await.unwrap();
    }
    let outcome = run(&fake, &env(), &targets, &options()).await;
    let new_arn = outcome.services["api"].task_definition.clone().unwrap();
    let before = fake.describe_task_definition(&arn).await.unwrap();
    let after = fake.describe_task_definition(&new_arn).await.unwrap();
    assert_eq!(deployment_of(&after), Some(DEPLOYMENT.to_hex().as_str()));
    let mut expected = before.definition.clone();
    expected.container_definitions.as_mut().unwrap()[0].image = Some(image("api", "v2"));
    expected.task_definition_arn = after.definition.task_definition_arn.clone();
    expected.revision = after.definition.revision;
    assert_eq!(after.definition, expected);
}

/// How many times the fake's rollouts are looked at: once before the updates, then two polls
/// (in progress, then ended).
const LOOKS: usize = 3;

#[tokio::test(start_paused = true)]
async fn calls_per_action_follow_the_formula_for_5_10_11_and_20_services_on_one_or_two_clusters() {
    const OTHER: &str = "catalogue-batch";
    for count in [5, 10, 11, 20] {
        let names: Vec<String> = (1..=count).map(|n| format!("svc-{n}")).collect();
        // All on one cluster; then every other one on a second cluster.
        for clusters in [&[CLUSTER][..], &[CLUSTER, OTHER][..]] {
            let fake = FakeAws::new(clusters);
            without_service_deployments(&fake);
            let placed: Vec<(&str, &str)> = names
                .iter()
                .enumerate()
                .map(|(i, name)| (clusters[i % clusters.len()], name.as_str()))
                .collect();
            let targets = setup_in(&fake, &placed);
            let outcome = run(&fake, &env(), &targets, &options()).await;
            assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");
            assert_truthful(&fake, &targets, &outcome);

            // One DescribeServices per cluster per 10 services, each time the services are
            // looked at; 4 calls per service.
            let per_look: usize = clusters
                .iter()
                .map(|cluster| placed.iter().filter(|(c, _)| c == cluster).count().div_ceil(10))
                .sum();
            let case = format!("{count} services on {} cluster(s)", clusters.len());
            assert_eq!(fake.calls("ecs:DescribeServices"), LOOKS * per_look, "{case}");
            for action in [
                "ecs:DescribeTaskDefinition",
                "ecs:RegisterTaskDefinition",
                "ecs:UpdateService",
                "ssm:PutParameter",
            ] {
                assert_eq!(fake.calls(action), count, "{case}: {action}");
            }
            // The one ListServiceDeployments that found service deployments refused.
            assert_eq!(fake.calls("ecs:ListServiceDeployments"), 1, "{case}");
            assert_eq!(fake.total_calls(), 4 * count + LOOKS * per_look + 1, "{case}");
            if clusters.len() == 1 {
                // The bound: ≤ 4 per service + 1 per 10 services per look (the fake
                // has no STS call), and the one refused look for service deployments.
                assert!(fake.total_calls() <= 4 * count + count.div_ceil(10) * LOOKS + 1, "{case}");
            }
        }
    }
}

#[test]
fn polls_back_off_from_half_a_second_to_the_poll_interval() {
    let waits: Vec<u128> = PollSchedule::new(Duration::from_secs(5)).take(9).map(|d| d.as_micros()).collect();
    assert_eq!(
        waits,
        [500_000, 750_000, 1_125_000, 1_687_500, 2_531_250, 3_796_875, 5_000_000, 5_000_000, 5_000_000]
    );
    // A poll interval shorter than the first wait is every wait.
    let short = Duration::from_millis(20);
    assert!(PollSchedule::new(short).take(5).all(|wait| wait == short));
}

#[tokio::test(start_paused = true)]
async fn a_rollout_done_in_two_seconds_is_seen_in_about_two_seconds() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &FIVE);
    for name in FIVE {
        fake.set_rollout(CLUSTER, name, Rollout::CompleteAfter(Duration::from_secs(2)));
    }
    let started = tokio::time::Instant::now();
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");
    // Polls after 0.5, 1.25 and 2.375 s, not after the 5 s poll interval.
    assert_eq!(started.elapsed(), Duration::from_millis(2375));
    assert_eq!(fake.calls("ecs:DescribeServices"), 1);
    assert_eq!(fake.calls("ecs:DescribeServiceDeployments"), 3);
}

#[tokio::test(start_paused = true)]
async fn a_long_rollout_is_polled_every_poll_interval_once_backed_off() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    let lasts = Duration::from_secs(40);
    fake.set_rollout(CLUSTER, "api", Rollout::CompleteAfter(lasts));
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");
    // 0.5 + 0.75 + … + 3.8 s (6 polls, 10.4 s), then one every 5 s until 40 s have passed.
    let mut waited = Duration::ZERO;
    let polls = PollSchedule::new(env().poll_interval).take_while(|wait| {
        let before = waited;
        waited += *wait;
        before < lasts
    });
    assert_eq!(polls.count(), 12);
    assert_eq!(fake.calls("ecs:DescribeServices"), 1);
    assert_eq!(fake.calls("ecs:DescribeServiceDeployments"), 12);
}

#[tokio::test(start_paused = true)]
async fn a_service_gone_from_the_answer_while_waiting_fails_alone() {
    let fake = FakeAws::new(&[CLUSTER]);
    without_service_deployments(&fake);
    let targets = setup(&fake, &FIVE);
    for name in FIVE {
        fake.set_rollout(CLUSTER, name, Rollout::CompleteAfter(Duration::from_secs(10)));
    }
    let vanish = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        fake.remove_service(CLUSTER, "worker");
    };
    let (env, options) = (env(), options());
    let (outcome, ()) = tokio::join!(run(&fake, &env, &targets, &options), vanish);
    let worker = &outcome.services["worker"];
    assert_eq!(worker.result, DeployResult::Failed);
    assert!(
        worker.said().starts_with("lost sight of the rollout:")
            && worker.said().contains("\"worker\" not found"),
        "{worker:?}"
    );
    let others = FIVE.iter().filter(|name| **name != "worker");
    assert!(others.map(|name| &outcome.services[*name]).all(|s| s.result == DeployResult::Succeeded));
}

#[tokio::test(start_paused = true)]
async fn throttling_while_waiting_is_retried_and_persistent_throttling_fails_the_batch() {
    for (times, expected) in [(3, DeployResult::Succeeded), (100, DeployResult::Failed)] {
        let fake = FakeAws::new(&[CLUSTER]);
        without_service_deployments(&fake);
        let targets = setup(&fake, &["api", "search"]);
        let throttle = async {
            // After the look before the updates: the polls are throttled.
            tokio::time::sleep(Duration::from_millis(100)).await;
            fake.fail("ecs:DescribeServices", ErrorKind::Throttled, times);
        };
        let (env, options) = (env(), options());
        let (outcome, ()) = tokio::join!(run(&fake, &env, &targets, &options), throttle);
        for service in outcome.services.values() {
            assert_eq!(service.result, expected, "{service:?}");
            if expected == DeployResult::Failed {
                assert!(service.said().contains("lost sight of the rollout"), "{service:?}");
                assert!(service.said().contains("gave up after 6 attempts"), "{service:?}");
            }
        }
        assert_truthful(&fake, &targets, &outcome);
    }
}

// --- ECS's service deployments ------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn blue_green_succeeds_when_its_service_deployment_is_successful_after_the_bake() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.set_strategy(CLUSTER, "api", blue_green());
    let (outcome, lines) = run_logged(&fake, &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");
    let api = &outcome.services["api"];
    assert_eq!(
        api.said(),
        "ECS service deployment SUCCESSFUL (blue/green, bake time 5m; alarms api-5xx, api-latency), 2/2 tasks running"
    );
    let arn = api.ecs_deployment.as_deref().unwrap();
    // The newest of the service's deployments, though the fake lists the oldest first.
    assert!(arn.ends_with("/0000000000000000004"), "{arn}");
    assert!(lines.contains(&format!("api: following ECS service deployment {arn}")), "{lines:#?}");
    assert!(
        lines.contains(
            &"api: ECS service deployment IN_PROGRESS, stage BAKE_TIME, 0/2 tasks running".to_string()
        ),
        "{lines:#?}"
    );
    assert_eq!(fake.calls("ecs:DescribeServices"), 1, "the services are not polled");
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn an_alarm_during_bake_time_fails_naming_the_alarm_and_ecs_put_the_previous_release_back() {
    for rollback_on_failure in [false, true] {
        let fake = FakeAws::new(&[CLUSTER]);
        let targets = setup(&fake, &["api", "search"]);
        fake.set_strategy(CLUSTER, "api", blue_green());
        fake.set_rollout(CLUSTER, "api", Rollout::Alarm("api-5xx"));
        let (outcome, lines) =
            run_logged(&fake, &targets, &Options { rollback_on_failure, ..options() }).await;
        let api = &outcome.services["api"];
        assert_eq!(
            api.said().split("; the PRIMARY").next().unwrap(),
            "ECS service deployment ROLLBACK_SUCCESSFUL: alarm \"api-5xx\" fired during bake time; \
             ECS says \"ECS deployment alarm api-5xx is in ALARM state.\"; \
             ECS rolled back to the last deployment that completed",
        );
        assert!(api.said().ends_with("the PRIMARY deployment runs api:1"), "{api:?}");
        assert!(lines.iter().any(|l| l.contains("ROLLBACK_IN_PROGRESS")), "not an end: {lines:#?}");
        assert_eq!(api.running, Some(release(1)));
        if rollback_on_failure {
            // ECS put api back already; search is put back by the ledger.
            assert_eq!(outcome.result, DeployResult::RolledBack, "{outcome:#?}");
            assert_eq!(api.result, DeployResult::RolledBack);
            assert_eq!(fake.calls("ecs:UpdateService"), 3, "api is not rolled back a second time");
            assert_eq!(fake.image_running(CLUSTER, "search"), image("search", "v1"));
        } else {
            assert_eq!(outcome.result, DeployResult::Failed);
            assert_eq!(api.result, DeployResult::Failed);
            assert_truthful(&fake, &targets, &outcome);
        }
        assert!(fake.parameter_history(&parameter("api")).is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_lifecycle_hook_fails_with_its_stage() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.set_strategy(CLUSTER, "api", blue_green());
    fake.set_rollout(CLUSTER, "api", Rollout::HookFails("POST_TEST_TRAFFIC_SHIFT"));
    let outcome = run(&fake, &env(), &targets, &options()).await;
    let api = &outcome.services["api"];
    assert_eq!(api.result, DeployResult::Failed);
    assert!(
        api.said().starts_with(
            "ECS service deployment ROLLBACK_SUCCESSFUL: at lifecycle stage POST_TEST_TRAFFIC_SHIFT; \
             ECS says \"ECS deployment lifecycle hook arn:aws:lambda:eu-west-1:123456789012:function:smoke failed"
        ),
        "{api:?}"
    );
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn a_stop_request_and_a_circuit_breaker_without_rollback_are_stopped_deployments() {
    for (rollout, cause) in [
        (Rollout::Stop, "ECS says \"ECS deployment stopped: a StopServiceDeployment request stopped it.\""),
        (
            Rollout::Fail,
            "the circuit breaker tripped (3 failed tasks, threshold 3); ECS says \"ECS deployment circuit breaker",
        ),
    ] {
        let fake = FakeAws::new(&[CLUSTER]);
        let targets = setup(&fake, &["api"]);
        fake.set_rollout(CLUSTER, "api", rollout);
        let outcome = run(&fake, &env(), &targets, &options()).await;
        let api = &outcome.services["api"];
        assert_eq!(api.result, DeployResult::Failed);
        assert!(api.said().starts_with(&format!("ECS service deployment STOPPED: {cause}")), "{api:?}");
        assert_eq!(api.running, None, "what runs after a stopped deployment is not known");
        assert_truthful(&fake, &targets, &outcome);
    }
}

#[tokio::test(start_paused = true)]
async fn a_rollback_that_fails_is_a_failure_whose_running_release_is_not_known() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.set_rollout(CLUSTER, "api", Rollout::RollbackFails);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    let api = &outcome.services["api"];
    assert_eq!(api.result, DeployResult::Failed);
    assert_eq!(
        api.said(),
        "ECS service deployment ROLLBACK_FAILED: the circuit breaker tripped (3 failed tasks, threshold 3); \
         ECS says \"ECS deployment circuit breaker: tasks failed to start.\"; ECS could not roll back"
    );
    assert_eq!(api.running, None);
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn the_deployment_the_update_replaced_is_never_taken_for_ours() {
    // ECS does not list the update's service deployment (yet): the only one listed since just
    // before the update is the service's earlier one, SUCCESSFUL, which must not count.
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api", "search"]);
    fake.unlist_next_service_deployment(CLUSTER, "api");
    fake.set_rollout(CLUSTER, "api", Rollout::Fail);
    let (outcome, lines) = run_logged(&fake, &targets, &options()).await;
    let api = &outcome.services["api"];
    assert_eq!(api.result, DeployResult::Failed, "{api:?}");
    assert!(api.said().starts_with("rollout FAILED"), "followed through its deployments: {api:?}");
    assert!(api.ecs_deployment.as_deref().unwrap().starts_with("ecs-svc/"), "{api:?}");
    let said = "api: ECS lists no service deployment for the update: following the service's deployments";
    assert!(lines.iter().any(|line| line == said), "{lines:#?}");
    assert_eq!(outcome.services["search"].result, DeployResult::Succeeded);
    assert!(outcome.services["search"].ecs_deployment.as_deref().unwrap().contains(":service-deployment/"));
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn a_circuit_breaker_rollback_is_read_from_the_service_deployment() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.set_rollout(CLUSTER, "api", Rollout::CircuitBreaker);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    let api = &outcome.services["api"];
    assert_eq!(api.result, DeployResult::Failed);
    assert_eq!(
        api.said(),
        "ECS service deployment ROLLBACK_SUCCESSFUL: the circuit breaker tripped (3 failed tasks, threshold 3); \
         ECS says \"ECS deployment circuit breaker: tasks failed to start.\"; \
         ECS rolled back to the last deployment that completed; \
         the PRIMARY deployment runs api:1"
    );
    assert_eq!(api.running, Some(release(1)));
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn without_service_deployments_the_services_deployments_are_followed_and_asked_once() {
    let fake = FakeAws::new(&[CLUSTER]);
    without_service_deployments(&fake);
    let targets = setup(&fake, &FIVE);
    let (outcome, lines) = run_logged(&fake, &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");
    assert_eq!(fake.calls("ecs:ListServiceDeployments"), 1, "decided once for the apply");
    assert_eq!(fake.calls("ecs:DescribeServiceDeployments"), 0);
    let fallbacks: Vec<&String> =
        lines.iter().filter(|l| l.contains("service deployments not available")).collect();
    assert_eq!(fallbacks.len(), 1, "{lines:#?}");
    assert!(fallbacks[0].contains("ecs:ListServiceDeployments"), "{fallbacks:?}");
    for service in outcome.services.values() {
        assert!(service.ecs_deployment.as_deref().unwrap().starts_with("ecs-svc/"), "{service:?}");
        assert!(service.said().starts_with("rollout COMPLETED"), "{service:?}");
    }
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn service_deployments_are_described_twenty_at_a_time() {
    let fake = FakeAws::new(&[CLUSTER]);
    let names: Vec<String> = (1..=45).map(|n| format!("svc-{n}")).collect();
    let targets = setup(&fake, &names.iter().map(String::as_str).collect::<Vec<_>>());
    let outcome = run(&fake, &env(), &targets, &Options { parallel: 8, ..options() }).await;
    assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");
    // Two polls (in progress, then successful) of ⌈45/20⌉ = 3 calls; one look for each service.
    assert_eq!(fake.calls("ecs:DescribeServiceDeployments"), 2 * 3);
    assert_eq!(fake.calls("ecs:ListServiceDeployments"), 45);
    assert_eq!(fake.calls("ecs:DescribeServices"), 45_usize.div_ceil(10));
}

#[tokio::test(start_paused = true)]
async fn service_deployments_that_cannot_be_described_are_followed_through_the_services() {
    // Throttled 3 times then answered, then the second poll; or given up after 6 attempts.
    for (times, described) in [(3, 3 + 2), (100, 6)] {
        let fake = FakeAws::new(&[CLUSTER]);
        let targets = setup(&fake, &["api", "search"]);
        fake.fail("ecs:DescribeServiceDeployments", ErrorKind::Throttled, times);
        let (outcome, lines) = run_logged(&fake, &targets, &options()).await;
        // Throttling a few times is retried; for good, the services' deployments take over.
        assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");
        assert_eq!(fake.calls("ecs:DescribeServiceDeployments"), described, "{lines:#?}");
        let switched = lines.iter().filter(|l| l.contains("following the service's deployments")).count();
        assert_eq!(switched, if times == 100 { 2 } else { 0 }, "{lines:#?}");
        assert_truthful(&fake, &targets, &outcome);
    }
}

#[tokio::test(start_paused = true)]
async fn no_wait_records_the_service_deployment_and_observing_waits_for_it_across_the_bake() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api", "search"]);
    fake.set_strategy(CLUSTER, "api", blue_green());
    fake.set_strategy(CLUSTER, "search", blue_green());
    fake.set_rollout(CLUSTER, "search", Rollout::Alarm("search-5xx"));
    let submitted = run(&fake, &env(), &targets, &Options { wait: false, ..options() }).await;
    assert_eq!(submitted.result, DeployResult::Submitted, "{submitted:#?}");
    for service in submitted.services.values() {
        assert!(service.ecs_deployment.as_deref().unwrap().contains(":service-deployment/"), "{service:?}");
    }
    let clients = Clients { ecs: &fake, parameters: &fake, codedeploy: &fake };
    let before = fake.calls("ecs:DescribeServiceDeployments");
    let observed =
        observe(clients, &env(), unfinished(&targets, &submitted.services), &options(), &NoHooks, &|_, _| {})
            .await;
    assert!(fake.calls("ecs:DescribeServiceDeployments") > before);
    assert_eq!(fake.calls("ecs:ListServiceDeployments"), 2, "observing finds nothing again");
    assert_eq!(observed.services["api"].result, DeployResult::Succeeded, "{observed:#?}");
    assert_eq!(observed.services["api"].ecs_deployment, submitted.services["api"].ecs_deployment);
    let search = &observed.services["search"];
    assert_eq!(search.result, DeployResult::Failed);
    assert!(search.said().contains("alarm \"search-5xx\" fired during bake time"), "{search:?}");
    assert_eq!(observed.result, DeployResult::Failed);
    assert_truthful(&fake, &targets, &observed);
}

#[tokio::test(start_paused = true)]
async fn an_external_service_is_refused_before_anything_is_registered() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api", "search"]);
    let external = Strategy { controller: "EXTERNAL".into(), ..Strategy::default() };
    fake.set_strategy(CLUSTER, "api", external);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    let api = &outcome.services["api"];
    assert_eq!(api.result, DeployResult::Failed);
    assert_eq!(
        api.said(),
        "ECS service api has deployment controller EXTERNAL: ledger does not start its deployments; \
         nothing was registered or changed"
    );
    assert_eq!((api.task_definition.as_deref(), api.running), (None, None));
    assert_eq!(fake.calls("ecs:RegisterTaskDefinition"), 1, "search's only");
    assert_eq!(outcome.services["search"].result, DeployResult::Succeeded);
    assert_truthful(&fake, &targets, &outcome);
}

fn group(service: &str) -> DeploymentGroup {
    DeploymentGroup {
        application: format!("AppECS-{service}"),
        deployment_group: format!("DgpECS-{service}"),
    }
}

/// `names` as in [`setup`], each deployed by CodeDeploy through its own deployment group, named
/// in its target.
fn setup_codedeploy(fake: &FakeAws, names: &[&str]) -> Vec<ServiceTarget> {
    let mut targets = setup(fake, names);
    for target in &mut targets {
        fake.deploy_by_codedeploy(CLUSTER, &target.ecs_service, &group(&target.service));
        target.codedeploy = Some(group(&target.service));
    }
    targets
}

#[tokio::test(start_paused = true)]
async fn codedeploy_services_are_deployed_by_codedeploy_with_an_appspec_for_the_new_revision() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup_codedeploy(&fake, &FIVE);
    let (outcome, lines) = run_logged(&fake, &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");
    assert_truthful(&fake, &targets, &outcome);
    let started = fake.codedeploy_deployments();
    assert_eq!(started.len(), 5);
    for (id, task_definition) in &started {
        let (service, recorded) = outcome
            .services
            .iter()
            .find(|(_, s)| s.ecs_deployment.as_deref() == Some(id.as_str()))
            .expect("each CodeDeploy deployment recorded");
        assert_eq!(recorded.task_definition.as_ref(), Some(task_definition));
        assert_eq!(fake.image_in(task_definition, service), image(service, "v2"));
        assert_eq!(recorded.said(), format!("CodeDeploy deployment {id} Succeeded"));
    }
    assert!(
        lines.contains(&"api: created CodeDeploy deployment d-1 (AppECS-api/DgpECS-api)".to_string()),
        "{lines:#?}"
    );
    assert_eq!(fake.calls("ecs:UpdateService"), 0);
    assert_eq!(fake.calls("ecs:ListServiceDeployments"), 0);
    // Each poll is one BatchGetDeployments for the five: InProgress twice, then Succeeded.
    assert_eq!(fake.calls("codedeploy:BatchGetDeployments"), 3);
    assert_eq!(fake.calls("codedeploy:CreateDeployment"), 5);
}

#[test]
fn the_appspec_names_the_revision_and_the_load_balancer_target() {
    let spec: serde_json::Value =
        serde_json::from_str(&appspec("arn:aws:ecs:eu-west-1:1:task-definition/api:7", "api", 8080)).unwrap();
    assert_eq!(
        spec,
        serde_json::json!({
            "version": "0.0",
            "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
                "TaskDefinition": "arn:aws:ecs:eu-west-1:1:task-definition/api:7",
                "LoadBalancerInfo": {"ContainerName": "api", "ContainerPort": 8080}
            }}}]
        })
    );
}

#[tokio::test(start_paused = true)]
async fn codedeploy_deployments_are_read_twenty_five_at_a_time() {
    let fake = FakeAws::new(&[CLUSTER]);
    let names: Vec<String> = (0..30).map(|n| format!("svc{n:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let targets = setup_codedeploy(&fake, &names);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Succeeded, "{outcome:#?}");
    // Three polls (InProgress, InProgress, Succeeded), each 25 + 5.
    assert_eq!(fake.calls("codedeploy:BatchGetDeployments"), 6);
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn a_failed_codedeploy_deployment_is_a_failure_with_codedeploys_error() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup_codedeploy(&fake, &["api", "search"]);
    fake.set_codedeploy_end(CLUSTER, "api", CodeDeployEnd::Fail);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Failed);
    let api = &outcome.services["api"];
    assert_eq!((api.result, api.running), (DeployResult::Failed, None));
    assert_eq!(
        api.said(),
        "CodeDeploy deployment d-1 Failed: HEALTH_CONSTRAINTS: The overall deployment failed because too \
         many individual instances failed deployment"
    );
    assert_eq!(api.ecs_deployment.as_deref(), Some("d-1"));
    assert_eq!(outcome.services["search"].result, DeployResult::Succeeded);
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn a_codedeploy_rollback_is_recorded_and_not_redone() {
    for rollback_on_failure in [false, true] {
        let fake = FakeAws::new(&[CLUSTER]);
        let targets = setup_codedeploy(&fake, &["api"]);
        fake.set_codedeploy_end(CLUSTER, "api", CodeDeployEnd::RolledBack);
        let outcome = run(&fake, &env(), &targets, &Options { rollback_on_failure, ..options() }).await;
        let api = &outcome.services["api"];
        assert_eq!(api.running, Some(release(1)), "{api:?}");
        assert_eq!(
            api.said(),
            "CodeDeploy deployment d-1 Stopped: ALARM_ACTIVE: One or more alarms have been activated: api-5xx; \
             CodeDeploy rolled back: Deployment d-1 was rolled back: alarm api-5xx fired; the service runs api:1"
        );
        let expected = if rollback_on_failure { DeployResult::RolledBack } else { DeployResult::Failed };
        assert_eq!((api.result, outcome.result), (expected, expected));
        assert_eq!(fake.calls("codedeploy:CreateDeployment"), 1, "not rolled back again");
        assert_truthful(&fake, &targets, &outcome);
    }
}

#[tokio::test(start_paused = true)]
async fn rollback_on_failure_rolls_a_codedeploy_service_back_through_codedeploy() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup_codedeploy(&fake, &["api", "search"]);
    fake.set_codedeploy_end(CLUSTER, "search", CodeDeployEnd::Fail);
    let rollback = Options { rollback_on_failure: true, ..options() };
    let outcome = run(&fake, &env(), &targets, &rollback).await;
    assert_eq!(outcome.result, DeployResult::RolledBack, "{outcome:#?}");
    for service in ["api", "search"] {
        let recorded = &outcome.services[service];
        assert_eq!((recorded.result, recorded.running), (DeployResult::RolledBack, Some(release(1))));
        assert!(recorded.said().ends_with("rolled back to the previous release"), "{recorded:?}");
        assert_eq!(fake.image_running(CLUSTER, service), image(service, "v1"));
    }
    // api's and search's deployments, then a deployment of a revision with the previous image
    // for each: search's failed, but the revision it registered could have been taken halfway.
    let started = fake.codedeploy_deployments();
    assert_eq!(started.len(), 4, "{started:?}");
    for (_, task_definition) in &started[2..] {
        let family = short_arn(task_definition).split(':').next().unwrap().to_string();
        assert_eq!(fake.image_in(task_definition, &family), image(&family, "v1"));
    }
    assert_eq!(fake.calls("ecs:UpdateService"), 0);
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn a_codedeploy_deployment_waiting_in_ready_times_out() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup_codedeploy(&fake, &["api"]);
    fake.set_codedeploy_end(CLUSTER, "api", CodeDeployEnd::Ready);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    let api = &outcome.services["api"];
    assert_eq!((api.result, api.running), (DeployResult::Failed, None));
    assert_eq!(api.said(), "timed out after 1m: CodeDeploy deployment d-1 Ready");
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn a_codedeploy_service_without_its_deployment_group_is_refused_before_anything_is_registered() {
    let fake = FakeAws::new(&[CLUSTER]);
    let mut targets = setup_codedeploy(&fake, &["api", "search"]);
    targets[0].codedeploy = None;
    let outcome = run(&fake, &env(), &targets, &options()).await;
    let api = &outcome.services["api"];
    assert_eq!((api.result, api.task_definition.as_deref()), (DeployResult::Failed, None));
    assert_eq!(
        api.said(),
        "ECS service api is deployed by CodeDeploy (deployment controller CODE_DEPLOY): set \
         `codedeploy = { application = \"…\", deployment_group = \"…\" }` for service api in ledger.toml; \
         nothing was registered or changed"
    );
    assert_eq!(fake.calls("ecs:RegisterTaskDefinition"), 1, "search's only");
    assert_eq!(outcome.services["search"].result, DeployResult::Succeeded);
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn a_codedeploy_service_without_a_load_balancer_for_its_container_is_refused() {
    let fake = FakeAws::new(&[CLUSTER]);
    let mut targets = setup(&fake, &["api"]);
    fake.set_strategy(CLUSTER, "api", Strategy { controller: "CODE_DEPLOY".into(), ..Strategy::default() });
    targets[0].codedeploy = Some(group("api"));
    let outcome = run(&fake, &env(), &targets, &options()).await;
    let api = &outcome.services["api"];
    assert_eq!((api.result, api.task_definition.as_deref()), (DeployResult::Failed, None));
    assert_eq!(
        api.said(),
        "ECS service api has no load balancer for container api: a CodeDeploy deployment needs one; \
         nothing was registered or changed"
    );
    assert_eq!(fake.calls("ecs:RegisterTaskDefinition") + fake.calls("codedeploy:CreateDeployment"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_deployment_codedeploy_refuses_fails_the_service_with_codedeploys_error() {
    let fake = FakeAws::new(&[CLUSTER]);
    let mut targets = setup_codedeploy(&fake, &["api"]);
    targets[0].codedeploy = Some(group("elsewhere"));
    let outcome = run(&fake, &env(), &targets, &options()).await;
    let api = &outcome.services["api"];
    assert_eq!((api.result, api.running, api.ecs_deployment.as_deref()), (DeployResult::Failed, None, None));
    assert!(api.task_definition.is_some(), "registered: {api:?}");
    assert!(api.said().contains("codedeploy:CreateDeployment"), "{api:?}");
    assert!(api.said().contains("DeploymentGroupDoesNotExistException"), "{api:?}");
    assert!(
        api.said().ends_with("(the new revision was registered; the service was not changed)"),
        "{api:?}"
    );
    assert_eq!(fake.image_running(CLUSTER, "api"), image("api", "v1"));
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn no_wait_records_the_codedeploy_deployment_and_observing_follows_it() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup_codedeploy(&fake, &["api", "search"]);
    fake.set_codedeploy_end(CLUSTER, "search", CodeDeployEnd::Fail);
    let no_wait = Options { wait: false, ..options() };
    let submitted = run(&fake, &env(), &targets, &no_wait).await;
    assert_eq!(submitted.result, DeployResult::Submitted, "{submitted:#?}");
    assert_eq!(submitted.services["api"].ecs_deployment.as_deref(), Some("d-1"));
    assert_eq!(fake.calls("codedeploy:BatchGetDeployments"), 0);

    let clients = Clients { ecs: &fake, parameters: &fake, codedeploy: &fake };
    let observed =
        observe(clients, &env(), unfinished(&targets, &submitted.services), &options(), &NoHooks, &|_, _| {})
            .await;
    assert_eq!(observed.services["api"].result, DeployResult::Succeeded, "{observed:#?}");
    assert_eq!(observed.services["api"].ecs_deployment.as_deref(), Some("d-1"));
    let search = &observed.services["search"];
    assert!(
        search.said().starts_with("CodeDeploy deployment d-2 Failed: HEALTH_CONSTRAINTS: "),
        "{search:?}"
    );
    assert_eq!(observed.result, DeployResult::Failed);
    assert_truthful(&fake, &targets, &observed);
}

#[test]
fn strategies_read_as_the_plan_shows_them() {
    assert_eq!(Strategy::default().to_string(), "rolling");
    assert_eq!(blue_green().to_string(), "blue/green, bake time 5m; alarms api-5xx, api-latency");
    let canary = Strategy { strategy: "CANARY".into(), bake_time_minutes: Some(10), ..Strategy::default() };
    assert_eq!(canary.to_string(), "canary, bake time 10m");
    let linear = Strategy { strategy: "LINEAR".into(), ..Strategy::default() };
    assert_eq!(linear.to_string(), "linear, bake time 0m");
    let code_deploy = Strategy { controller: "CODE_DEPLOY".into(), ..Strategy::default() };
    assert_eq!(code_deploy.to_string(), "CodeDeploy");
}
