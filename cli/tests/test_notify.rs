//! Events (`[[notify]]`): every entry recorded reaches the sinks that take it, at least once and
//! signed, whatever happens to the receiver or the process in between.

use std::collections::BTreeMap;

use insta::assert_snapshot;
use ledger_testutil::process::{Project, SAMPLE_MANIFEST};
use ledger_testutil::receiver::{Receiver, Request};
use serde_json::Value;

const SECRET: &str = "a shared secret";

/// The sample project with `sinks` (TOML) appended, initialised, with the webhook secret set.
fn project_with(sinks: &str) -> Project {
    let env = Project::new(&format!("{SAMPLE_MANIFEST}\n{sinks}"))
        .with_fixed_clock()
        .with_env(vec![("LEDGER_WEBHOOK_SECRET", SECRET.into()), ("SLACK_URL", String::new())]);
    env.ok(&["init"]);
    env
}

fn webhook(name: &str, url: &str, filters: &str) -> String {
    format!(
        "[[notify]]\nname = \"{name}\"\ntype = \"webhook\"\nurl = \"{url}\"\nsecret = {{ env = \"LEDGER_WEBHOOK_SECRET\" }}\n{filters}\n"
    )
}

/// Each request's event id, checked: signed with the secret, the id in both headers.
fn delivered_ids(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|request| {
            assert!(request.signed_with("X-Ledger-Signature-256", SECRET), "unsigned: {:?}", request.headers);
            let event = request.json();
            let id = event["id"].as_str().unwrap().to_string();
            assert_eq!(request.headers["x-ledger-delivery"], id);
            assert_eq!(request.headers["idempotency-key"], id);
            assert_eq!(request.headers["x-ledger-event"], event["kind"].as_str().unwrap());
            id
        })
        .collect()
}

/// A scripted session: releases, a release set, deployments to stage and prod, a freeze.
fn session(env: &Project) {
    env.register_all("1.0");
    env.ok(&["apply", "latest", "stage", "--yes"]);
    env.ok(&["promote", "stage", "prod", "--yes"]);
    env.ok(&["freeze", "prod", "-m", "release week"]);
    env.ok(&["unfreeze", "prod", "-m", "done"]);
}

#[test]
fn every_entry_arrives_once_signed() {
    let receiver = Receiver::start();
    let env = project_with(&webhook("team", &receiver.url(), ""));
    session(&env);
    let ids = delivered_ids(&receiver.requests());
    assert_eq!(ids.len(), env.entry_count(), "one event per entry");
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "each entry once: {ids:?}");
    // Each event carries the entry exactly as `show` prints it, and a deployment's environment.
    for request in receiver.requests() {
        let event = request.json();
        let id = event["id"].as_str().unwrap();
        assert_eq!(event["entry"], env.json(&["show", id]), "{id}");
        assert_eq!(event["project"], "catalogue");
        match event["kind"].as_str().unwrap() {
            "deployment" | "outcome" => assert!(event["environment"]["state"].is_object(), "{event}"),
            _ => assert!(event["environment"].is_null(), "{event}"),
        }
    }
    assert_eq!(env.json(&["notify"])["pending"], 0);
    assert_snapshot!(env.run(&["notify"]).render());
    assert_snapshot!("without_sinks", Project::sample().run(&["notify"]).render());
}

#[test]
fn a_receiver_that_is_down_fails_nothing_and_gets_everything_later() {
    let mut receiver = Receiver::start();
    let env = project_with(&webhook("team", &receiver.url(), ""));
    receiver.stop();
    env.register_all("1.0");
    let applied = env.run(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.render());
    assert!(applied.stderr.contains("could not deliver"), "{}", applied.stderr);
    assert!(applied.stderr.contains("ledger notify --flush"), "{}", applied.stderr);

    let waiting = env.json(&["notify"]);
    assert_eq!(waiting["pending"], env.entry_count(), "{waiting}");
    assert_eq!(waiting["failing"], env.entry_count(), "{waiting}");
    assert!(waiting["events"][0]["error"].as_str().unwrap().contains("onnection refused"), "{waiting}");
    let status = env.json(&["status"]);
    assert_eq!(status["notify"]["pending"], env.entry_count());
    assert!(env.run(&["status"]).stdout.contains("event(s) wait in the outbox"));
    let flushed_while_down = env.run(&["notify", "--flush"]);
    assert_eq!(flushed_while_down.code, 3, "{}", flushed_while_down.render());

    receiver.restart();
    let flushed = env.json(&["notify", "--flush"]);
    assert_eq!(flushed["delivered"], env.entry_count(), "{flushed}");
    assert_eq!(flushed["left"], 0);
    let ids = delivered_ids(&receiver.requests());
    assert_eq!(ids.len(), env.entry_count(), "each once, in recording order: {ids:?}");
    assert_eq!(env.json(&["notify"])["pending"], 0);
}

#[test]
fn a_refused_delivery_is_tried_again_within_the_command() {
    let receiver = Receiver::start();
    let env = project_with(&webhook("team", &receiver.url(), ""));
    receiver.refuse_next(2);
    let registered = env.run(&["register", "api", &format!("{}:1.0", ledger_testutil::process::API)]);
    assert_eq!(registered.code, 0, "{}", registered.render());
    assert!(
        !registered.stderr.contains("could not deliver"),
        "delivered on the third attempt: {}",
        registered.stderr
    );
    let ids = delivered_ids(&receiver.requests());
    assert_eq!(ids.len(), 3, "two refused attempts and the one taken: {ids:?}");
    assert!(ids.iter().all(|id| id == &ids[0]));
    assert_eq!(env.json(&["notify"])["pending"], 0);
}

#[test]
fn an_event_survives_a_kill_between_its_entry_and_its_delivery() {
    let receiver = Receiver::start();
    let env = project_with(&webhook("team", &receiver.url(), ""));
    receiver.hang();
    let api = ledger_testutil::process::API;
    let mut register = env.command(&["register", "api", &format!("{api}:1.0")]).spawn().unwrap();
    receiver.wait_for(1);
    // The entry is recorded and its delivery under way: kill -9.
    register.kill().unwrap();
    register.wait().unwrap();
    let recorded = receiver.requests()[0].json()["id"].as_str().unwrap().to_string();
    assert_eq!(env.json(&["show", &recorded])["kind"], "release");
    assert_eq!(env.json(&["notify"])["pending"], 1);

    // The next command delivers it, with its own.
    receiver.answer(200);
    env.ok(&["register", "search", &format!("{}:1.0", ledger_testutil::process::SEARCH)]);
    let ids = delivered_ids(&receiver.requests());
    assert_eq!(ids.len(), 3, "the unanswered attempt, then both events: {ids:?}");
    assert_eq!(ids[0], recorded);
    assert_eq!(ids[1], recorded, "delivered again: at least once");
    assert_eq!(env.json(&["notify"])["pending"], 0);
}

#[test]
fn filters_select_what_they_say() {
    let receiver = Receiver::start();
    let sinks = [
        webhook("prod-outcomes", &receiver.url(), "kinds = [\"outcome\"]\nenvironments = [\"prod\"]"),
        webhook(
            "prod-failures",
            &receiver.url(),
            "environments = [\"prod\"]\nresults = [\"failed\", \"rolled_back\"]",
        ),
        webhook("releases", &receiver.url(), "kinds = [\"release\", \"release_set\"]"),
        webhook("stage", &receiver.url(), "environments = [\"stage\"]"),
    ];
    let env = project_with(&sinks.concat());
    session(&env);
    // Which sink got what: the events name no sink, so each request is matched by its kind.
    let mut kinds: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
    for request in receiver.requests() {
        let event = request.json();
        let env_name =
            event["entry"]["env"].as_str().or(event["environment"]["env"].as_str()).map(String::from);
        kinds
            .entry(event["kind"].as_str().unwrap().to_string())
            .or_default()
            .push((event["id"].to_string(), env_name));
    }
    let count = |kind: &str, env_name: Option<&str>| {
        kinds.get(kind).map_or(0, |events| events.iter().filter(|(_, e)| e.as_deref() == env_name).count())
    };
    assert_eq!(count("release", None), 3, "{kinds:?}");
    assert_eq!(count("release_set", None), 1, "{kinds:?}");
    assert_eq!(count("outcome", Some("prod")), 1, "prod's outcome succeeded: only prod-outcomes: {kinds:?}");
    assert_eq!(count("deployment", Some("prod")), 0, "{kinds:?}");
    assert_eq!(count("freeze", Some("prod")), 0, "{kinds:?}");
    assert_eq!(count("deployment", Some("stage")), 1, "{kinds:?}");
    assert_eq!(count("outcome", Some("stage")), 1, "{kinds:?}");
    assert_eq!(receiver.requests().len(), 3 + 1 + 1 + 2, "{kinds:?}");
}

/// Slack's incoming webhooks take `text` and `blocks` (https://api.slack.com/messaging/webhooks,
/// https://api.slack.com/reference/block-kit/blocks): section blocks with a text object of at
/// most 3000 characters, context blocks with up to 10 text elements.
fn assert_slack_shape(payload: &Value) {
    assert!(payload["text"].as_str().is_some_and(|text| !text.is_empty()), "{payload}");
    let blocks = payload["blocks"].as_array().expect("blocks");
    assert!(!blocks.is_empty() && blocks.len() <= 50, "{payload}");
    for block in blocks {
        match block["type"].as_str().unwrap() {
            "section" => {
                assert!(["mrkdwn", "plain_text"].contains(&block["text"]["type"].as_str().unwrap()));
                let text = block["text"]["text"].as_str().unwrap();
                assert!(!text.is_empty() && text.chars().count() <= 3000, "{text}");
            }
            "context" => {
                let elements = block["elements"].as_array().unwrap();
                assert!(!elements.is_empty() && elements.len() <= 10);
                for element in elements {
                    assert_eq!(element["type"], "mrkdwn");
                    assert!(element["text"].as_str().is_some_and(|text| !text.is_empty()));
                }
            }
            other => panic!("a block Slack would refuse here: {other}"),
        }
        let keys: Vec<&String> = block.as_object().unwrap().keys().collect();
        assert!(keys.iter().all(|key| ["type", "text", "elements"].contains(&key.as_str())), "{block}");
    }
}

#[test]
fn slack_gets_a_readable_summary_in_its_documented_shape() {
    let receiver = Receiver::start();
    let sink = "[[notify]]\nname = \"chat\"\ntype = \"slack\"\nurl = { env = \"SLACK_URL\" }\nkinds = [\"deployment\", \"outcome\"]\n";
    let manifest = SAMPLE_MANIFEST.replace(
        "name = \"Catalogue\"\n",
        "name = \"Catalogue\"\ndashboard_url = \"https://ledger.example.com/\"\n",
    );
    let env = Project::new(&format!("{manifest}\n{sink}"))
        .with_fixed_clock()
        .with_env(vec![("SLACK_URL", receiver.url())]);
    env.ok(&["init"]);
    env.register_all("1.0");
    env.ok(&["apply", "latest", "stage", "--yes", "-m", "<!channel> ship it & <https://evil.example|click>"]);
    let payloads: Vec<Value> = receiver.requests().iter().map(Request::json).collect();
    assert_eq!(payloads.len(), 2, "the deployment and its outcome");
    for payload in &payloads {
        assert_slack_shape(payload);
        let text = payload.to_string();
        assert!(!text.contains("<!channel>") && !text.contains("<https://evil"), "escaped: {text}");
        assert!(text.contains("&lt;!channel&gt; ship it &amp;"), "{text}");
        assert!(text.contains("<https://ledger.example.com/entry/"), "a dashboard link: {text}");
    }
    let headlines: Vec<&str> = payloads.iter().map(|p| p["text"].as_str().unwrap()).collect();
    assert_snapshot!(headlines.join("\n"));
    assert_snapshot!("slack_deployment_section", payloads[0]["blocks"][0]["text"]["text"].as_str().unwrap());
}

#[test]
fn sinks_are_checked_in_the_manifest() {
    let cases = [
        ("[[notify]]\nname = \"x\"\ntype = \"pager\"\nurl = \"https://x\"\n", "unknown type"),
        (
            "[[notify]]\nname = \"x\"\ntype = \"slack\"\nurl = \"https://hooks.slack.com/services/T/B/secret\"\n",
            "slack literal url",
        ),
        ("[[notify]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"ftp://x\"\n", "webhook bad url"),
        (
            "[[notify]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"https://x\"\nsecret = \"inline\"\n",
            "inline secret",
        ),
        (
            "[[notify]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"https://x\"\nenvironments = [\"qa\"]\n",
            "unknown environment",
        ),
        (
            "[[notify]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"https://x\"\nresults = [\"ok\"]\n",
            "unknown result",
        ),
        ("[[notify]]\nname = \"x\"\ntype = \"eventbridge\"\n", "eventbridge without bus"),
        ("[[notify]]\nname = \"../x\"\ntype = \"eventbridge\"\nbus = \"b\"\n", "escaping name"),
    ];
    let mut shown = String::new();
    for (sink, what) in cases {
        let env = Project::new(&format!("{SAMPLE_MANIFEST}\n{sink}"));
        let run = env.run(&["status"]);
        assert_eq!(run.code, 2, "{what}: {}", run.render());
        shown.push_str(&format!("# {what}\n{}\n", run.stderr.trim()));
    }
    assert_snapshot!(shown);
}

#[test]
fn with_a_remote_each_entry_is_announced_once_by_the_ledger_that_recorded_it() {
    let receiver = Receiver::start();
    let shared = tempfile::tempdir().unwrap();
    let sinks = format!(
        "{}\n[remote]\nurl = \"file://{}\"\n",
        webhook("team", &receiver.url(), ""),
        shared.path().display()
    );
    let ours = project_with(&sinks);
    ours.ok(&["remote", "init", "origin"]);
    let theirs = project_with(&sinks);
    // Ours appends releases and a set to the remote, and deploys; theirs takes that in with its
    // pull, then records a release of its own.
    session(&ours);
    theirs.ok(&["pull"]);
    theirs.ok(&["register", "api", &format!("{}:2.0", ledger_testutil::process::API)]);
    ours.ok(&["pull"]);

    let ids = delivered_ids(&receiver.requests());
    assert_eq!(ids.len(), ours.entry_count(), "one event per entry of the shared history: {ids:?}");
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "none announced twice: {ids:?}");
    assert_eq!(theirs.json(&["notify"])["pending"], 0);
}
