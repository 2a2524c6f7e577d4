//! The fault matrix, against the scripted fake: for every fault, the outcome tells the truth
//! about what ECS runs, and SSM is written only for services that succeeded.

use std::collections::BTreeMap;
use std::time::Duration;

use ledger::{Change, DeployResult, EntryId, Outcome};

use crate::ecs::{Ecs, TaskDefinitionWithTags, deployment_of, describe_service};
use crate::error::ErrorKind;
use crate::fake::{FakeAws, Rollout};
use crate::retry::Backoff;
use crate::rollout::{Clients, EnvTarget, Options, PollSchedule, ServiceTarget, apply, observe};
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
    Options { wait: true, rollback_on_failure: false, backoff: Backoff::default(), parallel: 4 }
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
            }
        })
        .collect()
}

async fn run(fake: &FakeAws, env: &EnvTarget, targets: &[ServiceTarget], options: &Options) -> Outcome {
    let clients = Clients { ecs: fake, parameters: fake };
    apply(clients, env, DEPLOYMENT, targets, options, &NoHooks, &|_, _| {}).await
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
        assert!(service.ecs_deployment.as_deref().unwrap().starts_with("ecs-svc/"));
        assert!(service.detail.contains("COMPLETED"), "{}", service.detail);
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
            api.detail.contains("ecs:UpdateService") && api.detail.contains("gave up after 6 attempts"),
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
    assert!(outcome.services["api"].detail.contains("must allow `ecs:RegisterTaskDefinition`"));
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
    assert!(outcome.services["api"].detail.contains("ClusterNotFoundException"), "{outcome:?}");

    let ghost = vec![ServiceTarget { ecs_service: "ghost".into(), ..targets[0].clone() }];
    let outcome = run(&fake, &env(), &ghost, &options()).await;
    assert!(outcome.services["api"].detail.contains("\"ghost\" not found"), "{outcome:?}");

    let sidecar = vec![ServiceTarget { container: "sidecar".into(), ..targets[0].clone() }];
    let outcome = run(&fake, &env(), &sidecar, &options()).await;
    let detail = &outcome.services["api"].detail;
    assert!(detail.contains("no container \"sidecar\" (it has: api)"), "{detail}");

    assert_eq!(outcome.result, DeployResult::Failed);
    assert_eq!(fake.calls("ecs:UpdateService"), 0);
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn a_failed_rollout_is_a_failure_quoting_the_events() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.set_rollout(CLUSTER, "api", Rollout::Fail);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Failed);
    let api = &outcome.services["api"];
    assert!(api.detail.contains("rollout FAILED") && api.detail.contains("tasks failed to start"), "{api:?}");
    assert_eq!(api.running, None, "what runs after a failed rollout is not known");
    assert_truthful(&fake, &targets, &outcome);
}

#[tokio::test(start_paused = true)]
async fn a_circuit_breaker_rollback_is_a_failure_and_the_previous_release_runs() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api"]);
    fake.set_rollout(CLUSTER, "api", Rollout::CircuitBreaker);
    let outcome = run(&fake, &env(), &targets, &options()).await;
    assert_eq!(outcome.result, DeployResult::Failed);
    let api = &outcome.services["api"];
    assert!(api.detail.contains("circuit breaker") && api.detail.contains("rolling back"), "{api:?}");
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
    assert!(api.detail.contains("circuit breaker") && api.detail.contains("api:1"), "{api:?}");
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
    assert!(outcome.services["api"].detail.starts_with("timed out after 1m"), "{outcome:?}");
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
    assert!(outcome.services["search"].detail.contains("not rolled back: no earlier release"));
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

    let clients = Clients { ecs: &fake, parameters: &fake };
    let observed =
        observe(clients, &env(), DEPLOYMENT, &targets, &submitted.services, &options(), &|_, _| {}).await;
    assert_eq!(observed.result, DeployResult::Failed);
    assert_eq!(observed.services["mailer"].result, DeployResult::Failed);
    assert_eq!(observed.services["api"].result, DeployResult::Succeeded);
    assert_truthful(&fake, &targets, &observed);
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_apply_is_reconciled_by_its_tag() {
    let fake = FakeAws::new(&[CLUSTER]);
    let targets = setup(&fake, &["api", "search"]);
    // The apply updated `api` and was killed before it touched `search` or recorded anything.
    let no_wait = Options { wait: false, ..options() };
    run(&fake, &env(), &targets[..1], &no_wait).await;

    let clients = Clients { ecs: &fake, parameters: &fake };
    let nothing_known = BTreeMap::new();
    let observed =
        observe(clients, &env(), DEPLOYMENT, &targets, &nothing_known, &options(), &|_, _| {}).await;
    assert_eq!(observed.services["api"].result, DeployResult::Succeeded, "{observed:#?}");
    let search = &observed.services["search"];
    assert_eq!(search.result, DeployResult::Failed);
    assert!(search.detail.starts_with("not deployed: search runs search:1"), "{search:?}");
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
    // Per service: describe the task definition, register, update and one SSM write; for the
    // five together, one DescribeServices before the updates and two polls (in progress, then
    // completed).
    assert_eq!(small.total_calls(), 5 * 4 + 3);
    let (one, targets) = count(0, &["api"]);
    run(&one, &env(), &targets, &options()).await;
    assert_eq!(one.total_calls(), 7);
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
    let rich = TaskDefinitionWithTags { definition, tags: original.tags.clone(), uncopied: Vec::new() };
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
            assert_eq!(fake.total_calls(), 4 * count + LOOKS * per_look, "{case}");
            if clusters.len() == 1 {
                // The bound: ≤ 4 per service + 1 per 10 services per look (the fake
                // has no STS call).
                assert!(fake.total_calls() <= 4 * count + count.div_ceil(10) * LOOKS, "{case}");
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
    assert_eq!(fake.calls("ecs:DescribeServices"), 1 + 3);
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
    assert_eq!(fake.calls("ecs:DescribeServices"), 1 + 12);
}

#[tokio::test(start_paused = true)]
async fn a_service_gone_from_the_answer_while_waiting_fails_alone() {
    let fake = FakeAws::new(&[CLUSTER]);
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
        worker.detail.starts_with("lost sight of the rollout:")
            && worker.detail.contains("\"worker\" not found"),
        "{worker:?}"
    );
    let others = FIVE.iter().filter(|name| **name != "worker");
    assert!(others.map(|name| &outcome.services[*name]).all(|s| s.result == DeployResult::Succeeded));
}

#[tokio::test(start_paused = true)]
async fn throttling_while_waiting_is_retried_and_persistent_throttling_fails_the_batch() {
    for (times, expected) in [(3, DeployResult::Succeeded), (100, DeployResult::Failed)] {
        let fake = FakeAws::new(&[CLUSTER]);
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
                assert!(service.detail.contains("lost sight of the rollout"), "{service:?}");
                assert!(service.detail.contains("gave up after 6 attempts"), "{service:?}");
            }
        }
        assert_truthful(&fake, &targets, &outcome);
    }
}
