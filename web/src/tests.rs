//! Every route against a ledger built in a temporary directory: what each page shows (signature
//! marks under a signing policy too), the shapes of the JSON answers, escaping, and 404/400
//! (never 500) for bad requests; the `Host` check, paths kept out of answers, and a served
//! socket that sends nothing being closed.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ledger_app::ledger::deploy::{Plan, SetSource, record_intent, record_only};
use ledger_app::ledger::entry::{Approval, Freeze};
use ledger_app::ledger::manifest::Manifest;
use ledger_app::ledger::{
    Body as EntryBody, DeployResult, EntryId, Outcome, Release, ReleaseSet, ServiceOutcome, Stamp, Store,
    StoredEntry, Timestamp, Trigger,
};
use tower::ServiceExt;

use super::hosts::AllowedHosts;
use super::{Dashboard, Limits, env_log::PAGE_SIZE, router};
use ledger_app::{Settings, Workspace};

const MANIFEST: &str = r#"
[project]
id = "shop"
name = "Shop"
[environments.stage]
[environments.prod]
[services.api]
image_repository = "registry.example.com/shop/api"
[services.web]
image_repository = "registry.example.com/shop/web"
"#;

/// Deployments to prod beyond the first: enough for two pages.
const MORE_PROD: usize = PAGE_SIZE + 3;

struct Fixture {
    _dir: tempfile::TempDir,
    dashboard: Arc<Dashboard>,
    api_v1: EntryId,
    api_v2: EntryId,
    /// prod's first deployment.
    first_prod: EntryId,
}

/// stage runs api v2 (released with a `<script>` message) and is deploying api v3; prod runs
/// api v1, and its last deployment (of web) failed.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let manifest = Manifest::parse(&dir.path().join("ledger.toml"), MANIFEST).unwrap();
    let store = Store::init(&dir.path().join(".ledger")).unwrap();
    let start = Timestamp::now().plus_seconds(-86_400);
    let mut tick = 0;
    let mut stamp = |message: &str| {
        tick += 1;
        Stamp {
            at: start.plus_seconds(tick * 60),
            actor: "Ana <ana@example.com>".into(),
            message: message.into(),
        }
    };
    let mut register = |service: &str, tag: &str, message: &str| {
        let release = Release {
            service: service.into(),
            image: format!("registry.example.com/shop/{service}:{tag}"),
            digest: None,
            revision: Some(format!("{:0>40}", tag.replace('.', ""))),
            revision_at: Some(start),
        };
        let stamp = stamp(message);
        store.write(|w| w.record_release(stamp, release)).unwrap().id
    };
    let api_v1 = register("api", "v1", "api one");
    let api_v2 = register("api", "v2", "<script>alert(1)</script>");
    let api_v3 = register("api", "v3", "api three");
    let web = [register("web", "w1", "web one"), register("web", "w2", "web two")];

    let plan = |env: &str, target: &[(&str, EntryId)]| {
        let target = target.iter().map(|(s, id)| (s.to_string(), *id)).collect();
        Plan::towards(&store.read().unwrap(), env, SetSource::None, Trigger::Apply, &target).unwrap()
    };
    let mut deploy = |env: &str, target: &[(&str, EntryId)]| {
        let plan = plan(env, target);
        let stamp = stamp(&format!("deploy to {env}"));
        store.write(|w| record_only(w, &stamp, &plan)).unwrap().deployment.id
    };
    deploy("stage", &[("api", api_v2), ("web", web[0])]);
    let first_prod = deploy("prod", &[("api", api_v1), ("web", web[0])]);
    for n in 1..MORE_PROD {
        deploy("prod", &[("web", web[n % 2])]);
    }
    // prod: a deployment of web that failed.
    let failing = plan("prod", &[("web", web[MORE_PROD % 2])]);
    let (at, ended) = (stamp("web again"), stamp(""));
    store
        .write(|w| {
            let deployment = record_intent(w, &at, &failing)?;
            let service = ServiceOutcome {
                result: DeployResult::Failed,
                running: None,
                task_definition: None,
                ecs_deployment: None,
                detail: "circuit breaker".into(),
            };
            let outcome =
                Outcome { result: DeployResult::Failed, services: BTreeMap::from([("web".into(), service)]) };
            w.record_outcome(ended, deployment.id, outcome)
        })
        .unwrap();
    // stage: api v3 in flight.
    let in_flight = plan("stage", &[("api", api_v3)]);
    let at = stamp("api three to stage");
    store.write(|w| record_intent(w, &at, &in_flight)).unwrap();

    let dashboard = dashboard_over(manifest, dir.path(), store);
    Fixture { _dir: dir, dashboard, api_v1, api_v2, first_prod }
}

/// The dashboard of the project `manifest` in `dir`, over `store`.
fn dashboard_over(manifest: Manifest, dir: &std::path::Path, store: Store) -> Arc<Dashboard> {
    let workspace = Workspace {
        trust: manifest.trust(),
        manifest,
        ledger_dir: dir.join(".ledger"),
        settings: Settings::default(),
    };
    Arc::new(Dashboard { workspace, store })
}

/// A dashboard over a ledger built for a test, asked as a browser would.
trait Served {
    fn dashboard(&self) -> &Arc<Dashboard>;

    /// GETs `uri` as a browser on localhost:8080 would: the status and the body.
    fn get(&self, uri: &str) -> (StatusCode, String) {
        self.get_from(uri, Some("localhost:8080"))
    }

    /// GETs `uri` with this `Host` header, of a dashboard served on port 8080 that also answers
    /// to ledger.example.com.
    fn get_from(&self, uri: &str, host: Option<&str>) -> (StatusCode, String) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut request = Request::get(uri);
            if let Some(host) = host {
                request = request.header("host", host);
            }
            let request = request.body(Body::empty()).unwrap();
            let hosts = AllowedHosts::new(&["ledger.example.com".into()]).unwrap().on_port(8080);
            let response = router(self.dashboard().clone(), hosts).oneshot(request).await.unwrap();
            if response.status() == StatusCode::MISDIRECTED_REQUEST {
                let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
                return (StatusCode::MISDIRECTED_REQUEST, String::from_utf8(body.to_vec()).unwrap());
            }
            let status = response.status();
            let csp =
                response.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_string());
            assert!(csp.is_some_and(|csp| csp.starts_with("default-src 'none'")), "{uri}: no CSP");
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            (status, String::from_utf8(body.to_vec()).unwrap())
        })
    }

    fn page(&self, uri: &str) -> String {
        let (status, body) = self.get(uri);
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        body
    }

    fn json(&self, uri: &str) -> serde_json::Value {
        serde_json::from_str(&self.page(uri)).unwrap()
    }
}

impl Served for Fixture {
    fn dashboard(&self) -> &Arc<Dashboard> {
        &self.dashboard
    }
}

/// The opening tag of the element with `attributes` (e.g. `data-env="prod" data-service="api"`).
fn tag_with<'a>(body: &'a str, attributes: &str) -> &'a str {
    let at = body.find(attributes).unwrap_or_else(|| panic!("no element with {attributes}"));
    let start = body[..at].rfind('<').unwrap();
    &body[start..at + body[at..].find('>').unwrap()]
}

#[test]
fn overview_marks_differing_in_flight_and_failed_cells() {
    let f = fixture();
    let body = f.page("/");
    // Columns in the manifest's order, not alphabetical.
    assert!(body.find(r#"<th data-env="stage">"#).unwrap() < body.find(r#"<th data-env="prod">"#).unwrap());
    let prod_api = tag_with(&body, r#"data-env="prod" data-service="api""#);
    assert!(prod_api.contains("differs"), "{prod_api}");
    let stage_api = tag_with(&body, r#"data-env="stage" data-service="api""#);
    assert!(stage_api.contains("in-flight") && !stage_api.contains("differs"), "{stage_api}");
    let prod_web = tag_with(&body, r#"data-env="prod" data-service="web""#);
    assert!(prod_web.contains("failed"), "{prod_web}");
    assert!(body.contains(&format!("/entry/{}", f.api_v1.to_hex())));
    assert!(body.contains("v2 0000000"), "the tag and the short revision");
}

/// The href of the link with `rel` on a page.
fn link<'a>(body: &'a str, rel: &str) -> Option<&'a str> {
    let after = &body[body.find(&format!(r#"rel="{rel}" href=""#))? + rel.len() + 13..];
    Some(&after[..after.find('"')?])
}

#[test]
fn environment_page_paginates_by_cursor_and_filters() {
    let f = fixture();
    let first = f.page("/env/prod");
    assert_eq!(first.matches("data-deployment=").count(), PAGE_SIZE);
    assert!(!first.contains(r#"rel="prev""#));
    assert!(first.contains("circuit breaker"), "the failed deployment's detail, newest first");
    // The older link carries a cursor: the position of the oldest deployment shown.
    let older = link(&first, "next").unwrap();
    assert!(older.starts_with("/env/prod?before="), "{older}");
    let second = f.page(older);
    // MORE_PROD deployments plus the first and the failed one.
    assert_eq!(second.matches("data-deployment=").count(), MORE_PROD + 1 - PAGE_SIZE);
    assert!(second.contains(&f.first_prod.to_hex()));
    assert!(!second.contains(r#"rel="next""#));
    assert_eq!(link(&second, "prev"), Some("/env/prod"), "the newer page of the second is the first");
    // A numbered page is the same page, found in the ordinal index.
    let numbered = f.page("/env/prod?page=2");
    let deployments =
        |body: &str| body.split("data-deployment=").skip(1).map(|d| d[..66].to_string()).collect::<Vec<_>>();
    assert_eq!(deployments(&numbered), deployments(&second));
    assert_eq!(link(&numbered, "prev"), Some("/env/prod"));
    let api_only = f.page("/env/prod?service=api");
    assert_eq!(api_only.matches("data-deployment=").count(), 1);
    assert!(api_only.contains(r#"<option value="api" selected>"#));
    assert_eq!(f.get("/env/prod?page=3").0, StatusCode::NOT_FOUND);
    assert_eq!(f.get("/env/prod?before=1").0, StatusCode::NOT_FOUND);
}

#[test]
fn a_cursor_anywhere_in_the_log_pages_from_there_and_links_both_ways() {
    let f = fixture();
    let first = f.page("/env/prod");
    let cursor: u64 = link(&first, "next").unwrap().trim_start_matches("/env/prod?before=").parse().unwrap();
    // One position newer than the older link's cursor: the first page's oldest deployment too.
    let shifted = f.page(&format!("/env/prod?before={}", cursor + 1));
    assert_eq!(shifted.matches("data-deployment=").count(), MORE_PROD + 2 - PAGE_SIZE);
    assert!(shifted.contains(r#"id="position">Recorded before #"#));
    assert_eq!(link(&shifted, "prev"), Some("/env/prod"), "fewer than a page is newer: the first page");
    assert!(!shifted.contains(r#"rel="next""#), "it reaches the first deployment");
    // A page from the oldest deployment on: only it.
    let oldest =
        f.page(&format!("/env/prod?before={}", cursor - (MORE_PROD as u64 + 1 - PAGE_SIZE as u64) * 2 + 1));
    assert!(oldest.contains(&f.first_prod.to_hex()));
}

#[test]
fn entry_pages_link_parents_and_say_where_a_release_runs() {
    let f = fixture();
    let release = f.page(&format!("/entry/{}", &f.api_v2.to_hex()[..8]));
    assert!(release.contains(&f.api_v2.to_hex()));
    assert!(release.contains(&format!(r#"href="/entry/{}""#, f.api_v1.to_hex())), "the parent, linked");
    let now = &release[release.find(r#"id="deployed-now""#).unwrap()..];
    assert!(now[..now.find("</p>").unwrap()].contains(r#"href="/env/stage""#));
    assert!(release.contains(r#"id="deployed""#));
    let deployment = f.page(&format!("/entry/{}", f.first_prod.to_hex()));
    assert!(deployment.contains(r#"href="/env/prod""#) && deployment.contains("data-deployment="));
}

#[test]
fn diff_page_lists_the_changed_services() {
    let f = fixture();
    let body = f.page("/diff?from=stage&to=prod");
    assert!(tag_with(&body, r#"data-service="api""#).contains(r#"data-change="changed""#));
    assert!(tag_with(&body, r#"data-service="web""#).contains(r#"data-change="unchanged""#));
    assert!(f.page("/diff").contains(r#"<form method="get" action="/diff">"#));
}

#[test]
fn metrics_page_draws_a_chart_per_metric_and_environment() {
    let f = fixture();
    let body = f.page("/metrics?weeks=4");
    assert_eq!(body.matches("<svg").count(), 8);
    for chart in ["frequency", "failure-rate", "restore", "lead-time"] {
        assert!(body.contains(&format!(r#"data-chart="{chart}""#)));
    }
    // prod: MORE_PROD + 1 deployments ended, one of them failed.
    let prod = &body[body.find(r#"data-env="prod""#).unwrap()..];
    assert!(prod.contains(&format!(r#"data-metric="deployments">{}<"#, MORE_PROD + 1)));
    assert!(prod.contains(r#"data-metric="change failure rate">4%<"#));
    // What was counted, said on the page: every deployment, none left out.
    assert!(body.contains("none left out"));
    assert!(prod.contains(&format!(
        "Counted {} of the {} deployments prod has",
        MORE_PROD + 1,
        MORE_PROD + 1
    )));
}

#[test]
fn api_answers_with_the_cli_json_fields() {
    let f = fixture();
    let status = f.json("/api/status");
    let envs: Vec<&str> =
        status["environments"].as_array().unwrap().iter().map(|e| e["env"].as_str().unwrap()).collect();
    assert_eq!(envs, ["prod", "stage"]);
    assert_eq!(status["environments"][1]["in_flight"], true);
    assert_eq!(status["environments"][0]["last_result"], "failed");
    assert_eq!(status["environments"][0]["state"]["api"]["release"], f.api_v1.to_hex());

    let log = f.json("/api/log/prod?limit=2&service=web");
    assert_eq!(log["env"], "prod");
    assert_eq!(log["deployments"].as_array().unwrap().len(), 2);
    assert_eq!(log["deployments"][0]["result"], "failed");
    assert!(log["deployments"][0]["outcome"]["services"]["web"]["detail"] == "circuit breaker");

    let entry = f.json(&format!("/api/entry/{}", f.api_v2.to_hex()));
    assert_eq!((entry["kind"].as_str(), entry["service"].as_str()), (Some("release"), Some("api")));
    assert_eq!(entry["message"], "<script>alert(1)</script>", "JSON keeps the text as it is");

    let diff = f.json("/api/diff?from=stage&to=prod");
    assert_eq!((diff["from"].as_str(), diff["to"].as_str()), (Some("stage"), Some("prod")));
    assert_eq!(diff["changes"][0]["service"], "api");
    assert_eq!(diff["changes"][0]["change"], "changed");
    assert!(diff["changes"][0].get("commits").is_none(), "only with commits=true, as with --commits");
    assert!(f.json("/api/diff?from=stage&to=prod&commits=true")["changes"][0].get("commits").is_some());
}

#[test]
fn strings_from_the_ledger_are_escaped() {
    let f = fixture();
    let body = f.page(&format!("/entry/{}", f.api_v2.to_hex()));
    assert!(
        body.contains("&#60;script&#62;alert(1)&#60;/script&#62;") || body.contains("&lt;script&gt;"),
        "{body}"
    );
    assert!(!body.contains("<script"));
}

#[test]
fn unknown_names_and_malformed_parameters_are_404_and_400_never_500() {
    let f = fixture();
    let not_found = [
        "/nope",
        "/env/qa",
        "/env/..%2Fetc",
        "/entry/ffffffffffff",
        "/entry/%3Cscript%3E",
        "/entry/env%2Fqa",
        "/diff?from=stage&to=qa",
        "/api/log/qa",
        "/api/approvals/qa",
        "/api/entry/ffffffffffff",
        "/api/diff?from=nope&to=prod",
        "/env/prod?page=999",
    ];
    let bad_request = [
        "/entry/ab",
        "/env/prod?page=0",
        "/env/prod?page=abc",
        "/env/prod?page=99999999999999999999999",
        "/env/prod?before=abc",
        "/env/prod?before=0",
        "/env/prod?before=5&page=2",
        "/env/prod?service=api&before=5",
        "/env/prod?service=nope",
        "/diff?from=stage",
        "/metrics?weeks=0",
        "/metrics?weeks=many",
        "/api/log/prod?limit=-1",
        "/api/log/prod?service=%3Cb%3E",
        "/api/diff?to=prod",
        "/api/diff?from=stage&to=prod&commits=maybe",
    ];
    for (uris, expected) in
        [(&not_found[..], StatusCode::NOT_FOUND), (&bad_request[..], StatusCode::BAD_REQUEST)]
    {
        for uri in uris {
            let (status, body) = f.get(uri);
            assert_eq!(status, expected, "{uri}: {body}");
            if !uri.starts_with("/api/") {
                assert!(!body.contains("<script") && !body.contains("<b>"), "{uri} echoes markup: {body}");
            }
        }
    }
    let (_, api_error) = f.get("/api/entry/ffffffffffff");
    let api_error: serde_json::Value = serde_json::from_str(&api_error).unwrap();
    assert_eq!(api_error["status"], 404);
    assert!(api_error["error"].as_str().unwrap().contains("ffffffffffff"));
}

#[test]
fn only_the_served_host_names_are_answered() {
    let f = fixture();
    for host in ["localhost:8080", "127.0.0.1:8080", "[::1]:8080", "ledger.example.com"] {
        assert_eq!(f.get_from("/api/status", Some(host)).0, StatusCode::OK, "{host}");
    }
    // A page of attacker.example whose name was rebound to 127.0.0.1 sends its own name.
    for host in [Some("attacker.example:8080"), Some("localhost:9999"), None] {
        for uri in ["/api/status", "/", "/api/nope"] {
            let (status, body) = f.get_from(uri, host);
            assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{host:?} {uri}: {body}");
            assert!(!body.contains("ana@example.com") && body.contains("--allow-host"), "{body}");
        }
    }
}

#[test]
fn unknown_api_routes_answer_json_404() {
    let f = fixture();
    for uri in ["/api/nope", "/api", "/api/log", "/api/entry/a/b"] {
        let (status, body) = f.get(uri);
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
        let error: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{uri}: {body}"));
        assert_eq!(error["status"], 404, "{uri}");
    }
    assert!(f.get("/nope").1.contains("<html"));
}

#[test]
fn answers_never_show_the_machine_s_paths() {
    let f = fixture();
    let dir = f.dashboard.workspace.ledger_dir.parent().unwrap().display().to_string();
    for uri in ["/api/log/qa", "/env/qa", "/api/log/prod?service=nope", "/env/prod?service=nope"] {
        let (status, body) = f.get(uri);
        assert!(status.is_client_error(), "{uri}: {body}");
        assert!(!body.contains(&dir), "{uri} shows {dir}: {body}");
        assert!(body.contains("ledger.toml"), "{uri}: {body}");
    }
    assert_eq!(
        super::without_paths(
            "cannot open the ledger file /home/ana/shop/.ledger/ledger.redb: denied (\"/tmp/x/\")"
        ),
        "cannot open the ledger file ledger.redb: denied (\"x\")"
    );
    assert_eq!(super::without_paths("give ?from=a/b and 1/2, or /"), "give ?from=a/b and 1/2, or /");
}

#[test]
fn a_connection_that_sends_nothing_is_closed_by_the_server() {
    use std::io::{Read, Write};

    let f = fixture();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dashboard = Arc::try_unwrap(f.dashboard).ok().expect("the only reference");
    let limits = Limits { request_headers: std::time::Duration::from_millis(200), ..Limits::default() };
    let hosts = AllowedHosts::new(&[]).unwrap();
    std::thread::spawn(move || super::serve(listener, dashboard, None, hosts, limits));

    // Silent from the start, and idle after an answer: both are closed (read sees the end).
    // The read timeout only keeps a broken server from hanging the test.
    let connect = || {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(120))).unwrap();
        stream
    };
    let mut silent = connect();
    let mut byte = [0u8; 1];
    assert_eq!(silent.read(&mut byte).expect("closed, not timed out"), 0);

    let mut idle = connect();
    write!(idle, "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    idle.read_to_end(&mut answer).expect("closed, not timed out");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}

/// Query strings from outside, fuzzed: every route that reads its query answers 200, 400 or
/// 404 — never 500, never a panic — whatever the names, values, encodings and repetitions.
#[test]
fn fuzzed_query_strings_never_fail_a_route() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    const ROUTES: [&str; 6] = ["/env/prod", "/diff", "/metrics", "/api/log/stage", "/api/diff", "/"];
    const NAMES: [&str; 8] = ["service", "limit", "page", "weeks", "from", "to", "commits", "x"];
    let f = fixture();
    let value = prop_oneof![
        Just(String::new()),
        "-?[0-9]{1,25}",
        prop::sample::select(vec!["true", "false", "1", "0", "stage", "prod", "api", "latest"])
            .prop_map(String::from),
        "\\PC{0,20}",
    ];
    let name = prop_oneof![prop::sample::select(NAMES.to_vec()).prop_map(String::from), "\\PC{0,8}"];
    let encoded = prop::collection::vec((name, value), 0..5)
        .prop_map(|pairs| form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish());
    // Raw text a client may send as it is: broken escapes, stray separators, repeated names.
    let raw = "[A-Za-z0-9%&=+;._~!$'()*,/?:@-]{0,60}";
    let query = prop_oneof![encoded, raw];
    let mut runner = TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
    runner
        .run(&(prop::sample::select(ROUTES.to_vec()), query), |(route, query)| {
            let uri = format!("{route}?{query}");
            let (status, body) = f.get(&uri);
            prop_assert!(
                [StatusCode::OK, StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND].contains(&status),
                "{uri}: {status} {body}"
            );
            Ok(())
        })
        .unwrap();
}

const GOVERNED_MANIFEST: &str = r#"
[project]
id = "shop"
name = "Shop"
[environments.stage]
[environments.prod]
requires = ["stage"]
approvals = 2
[services.api]
image_repository = "registry.example.com/shop/api"
"#;

/// A ledger under a policy: prod requires stage and two approvals.
struct Governed {
    _dir: tempfile::TempDir,
    dashboard: Arc<Dashboard>,
    /// Release set {api v1}: forced into prod past its approvals.
    first_set: EntryId,
    /// Release set {api v2}: succeeded in stage, approved for prod by Bob (and by Ana, who
    /// released it, which does not count); waits for prod.
    second_set: EntryId,
    forced: EntryId,
}

/// stage runs api v2 (set two), prod api v1 (set one, forced past its approvals with a reason
/// carrying markup); prod is frozen by hand by Carol; set two is approved for prod by Bob and Ana.
fn governed() -> Governed {
    let dir = tempfile::tempdir().unwrap();
    let manifest = Manifest::parse(&dir.path().join("ledger.toml"), GOVERNED_MANIFEST).unwrap();
    let store = Store::init(&dir.path().join(".ledger")).unwrap();
    let start = Timestamp::now().plus_seconds(-86_400);
    let mut tick = 0;
    let mut stamp = |actor: &str, message: &str| {
        tick += 1;
        Stamp { at: start.plus_seconds(tick * 60), actor: actor.into(), message: message.into() }
    };
    let ana = "Ana <ana@example.com>";
    let mut sets = Vec::new();
    for tag in ["v1", "v2"] {
        let release = Release {
            service: "api".into(),
            image: format!("registry.example.com/shop/api:{tag}"),
            digest: None,
            revision: None,
            revision_at: None,
        };
        let at = stamp(ana, "");
        let release = store.write(|w| w.record_release(at, release)).unwrap().id;
        let set = ReleaseSet { service_set: None, releases: BTreeMap::from([("api".into(), release)]) };
        let at = stamp(ana, "");
        sets.push(store.write(|w| w.record_release_set(at, set)).unwrap());
    }
    let deploy = |env: &str, set: &StoredEntry, trigger: Trigger, stamp: Stamp| {
        let target = set.entry.as_release_set().unwrap().releases.clone();
        let plan = Plan::towards(&store.read().unwrap(), env, SetSource::Existing(set.id), trigger, &target)
            .unwrap();
        store.write(|w| record_only(w, &stamp, &plan)).unwrap().deployment.id
    };
    deploy("stage", &sets[0], Trigger::Apply, stamp(ana, "v1 to stage"));
    let forced = Trigger::Forced { trigger: Box::new(Trigger::Apply), gates: vec!["approvals".into()] };
    let forced = deploy("prod", &sets[0], forced, stamp(ana, "hotfix <i>now</i>"));
    deploy("stage", &sets[1], Trigger::Apply, stamp(ana, "v2 to stage"));
    let record = |stamp: Stamp, body: EntryBody| {
        store
            .write(|w| {
                let (stored, bytes) = w.seal_new(stamp, body)?;
                w.receive(stored.id, &bytes)
            })
            .unwrap()
    };
    for actor in ["Bob <bob@example.com>", ana] {
        let approval = Approval { env: "prod".into(), release_set: sets[1].id };
        record(stamp(actor, "looks good"), EntryBody::Approval(approval));
    }
    record(
        stamp("Carol <carol@example.com>", "incident <b>4711</b>"),
        EntryBody::Freeze(Freeze { env: "prod".into() }),
    );

    let dashboard = dashboard_over(manifest, dir.path(), store);
    Governed { _dir: dir, dashboard, first_set: sets[0].id, second_set: sets[1].id, forced }
}

impl Served for Governed {
    fn dashboard(&self) -> &Arc<Dashboard> {
        &self.dashboard
    }
}

/// The text of the element that starts at the tag with `attributes`, up to `end`.
fn section<'a>(body: &'a str, attributes: &str, end: &str) -> &'a str {
    let at = body.find(attributes).unwrap_or_else(|| panic!("no element with {attributes} in {body}"));
    let rest = &body[at..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[test]
fn overview_shows_a_freeze_a_waiting_promotion_and_a_forced_deployment() {
    let g = governed();
    let body = g.page("/");
    let prod = section(&body, r#"<section class="env-gates" data-env="prod">"#, "</section>");
    assert!(prod.contains(r#"data-frozen="manual""#), "{prod}");
    assert!(prod.contains("frozen by Carol &#60;carol@example.com&#62; since"), "{prod}");
    assert!(prod.contains("incident &#60;b&#62;4711&#60;/b&#62;"), "the reason, escaped: {prod}");
    let waiting = section(prod, r#"data-from-env="stage""#, "</div>");
    assert!(waiting.contains(r#"data-ready="false""#), "{waiting}");
    assert!(waiting.contains("api: v1 → v2"), "{waiting}");
    let gate = |kind: &str| tag_with(waiting, &format!(r#"data-gate="{kind}""#)).to_string();
    assert!(gate("requires").contains(r#"data-verdict="passed""#));
    assert!(gate("approvals").contains(r#"data-verdict="refused""#));
    assert!(gate("freeze").contains(r#"data-verdict="refused""#));
    assert!(
        waiting.contains("approvals 1 of 2: Bob &#60;bob@example.com&#62;"),
        "Ana released it: {waiting}"
    );
    let stage = section(&body, r#"<section class="env-gates" data-env="stage">"#, "</section>");
    assert!(stage.contains("not frozen") && !stage.contains("data-from-env"), "{stage}");

    // prod's last deployment was forced past its approvals: marked in its column, with the reason.
    let header = section(&body, r#"<th data-env="prod">"#, "</th>");
    assert!(header.contains(r#"data-forced="approvals""#), "{header}");
    assert!(header.contains("hotfix &#60;i&#62;now&#60;/i&#62;"), "{header}");
    assert!(header.contains(r#"class="mark frozen""#), "{header}");
    assert!(!section(&body, r#"<th data-env="stage">"#, "</th>").contains("data-forced"));
    assert!(!body.contains("<b>4711") && !body.contains("<i>now"));
}

#[test]
fn api_status_carries_the_freeze_and_what_waits() {
    let g = governed();
    let status = g.json("/api/status");
    let prod = &status["environments"][0];
    assert_eq!(prod["env"], "prod");
    assert_eq!(prod["frozen"]["gate"], "freeze");
    assert_eq!(prod["frozen"]["frozen_by"], "Carol <carol@example.com>");
    assert_eq!(prod["frozen"]["message"], "incident <b>4711</b>");
    let waiting = &prod["waiting"][0];
    assert_eq!(waiting["from_env"], "stage");
    let gates = waiting["plan"]["gates"].as_array().unwrap();
    let verdicts: Vec<(&str, bool)> = gates
        .iter()
        .map(|gate| (gate["gate"].as_str().unwrap(), gate["passed"].as_bool().unwrap()))
        .collect();
    assert_eq!(verdicts, [("requires", true), ("approvals", false), ("freeze", false)]);
    assert_eq!(status["environments"][1]["frozen"], serde_json::Value::Null);
    assert_eq!(status["environments"][1]["waiting"], serde_json::json!([]));
    // The forced deployment, in the log and the entry.
    let log = g.json("/api/log/prod");
    assert_eq!(log["deployments"][0]["forced"]["gates"], serde_json::json!(["approvals"]));
    assert_eq!(log["deployments"][0]["forced"]["reason"], "hotfix <i>now</i>");
    let entry = g.json(&format!("/api/entry/{}", g.forced.to_hex()));
    assert_eq!(entry["forced"]["gates"], serde_json::json!(["approvals"]));
    // `ledger approvals prod`: the same freeze and waiting promotion, and both approvals.
    let approvals = g.json("/api/approvals/prod");
    assert_eq!(approvals["frozen"], prod["frozen"]);
    assert_eq!(approvals["waiting"], prod["waiting"]);
    let approvers: Vec<&str> =
        approvals["approvals"].as_array().unwrap().iter().map(|a| a["actor"].as_str().unwrap()).collect();
    assert_eq!(approvers, ["Ana <ana@example.com>", "Bob <bob@example.com>"], "newest first");
    assert!(
        approvals["approvals"].as_array().unwrap().iter().all(|a| a["release_set"] == g.second_set.to_hex())
    );
}

#[test]
fn a_release_set_page_shows_its_gates_and_approvals_per_environment() {
    let g = governed();
    let body = g.page(&format!("/entry/{}", g.second_set.to_hex()));
    let prod = section(&body, r#"<section class="env-gates" data-env="prod">"#, "</section>");
    let gate = |kind: &str| tag_with(prod, &format!(r#"data-gate="{kind}""#)).to_string();
    assert!(gate("requires").contains(r#"data-verdict="passed""#), "{prod}");
    assert!(gate("approvals").contains(r#"data-verdict="refused""#), "{prod}");
    assert!(gate("freeze").contains(r#"data-verdict="refused""#), "{prod}");
    assert!(prod.contains("approvals 1 of 2: Bob"), "{prod}");
    // Both approvals recorded, the releaser's too (it does not count, the gate says).
    assert_eq!(prod.matches("data-approval=").count(), 2, "{prod}");
    assert!(prod.contains("Bob &#60;bob@example.com&#62;") && prod.contains("looks good"), "{prod}");
    let stage = section(&body, r#"<section class="env-gates" data-env="stage">"#, "</section>");
    assert!(stage.contains("runs it already"), "{stage}");
    assert!(!stage.contains("data-approval="), "{stage}");

    // Set one runs in prod: nothing to deploy there; stage (no policy) would meet no gate.
    let first = g.page(&format!("/entry/{}", g.first_set.to_hex()));
    assert!(
        section(&first, r#"<section class="env-gates" data-env="prod">"#, "</section>")
            .contains("runs it already")
    );
    assert!(
        section(&first, r#"<section class="env-gates" data-env="stage">"#, "</section>").contains("no gates")
    );
    // Where it was deployed, the forced deployment is marked.
    let deployed = section(&first, &format!(r#"data-deployment="{}""#, g.forced.to_hex()), "</tr>");
    assert!(deployed.contains(r#"data-forced="approvals""#), "{deployed}");
}

#[test]
fn forced_deployments_are_marked_in_the_log_and_on_their_pages() {
    let g = governed();
    for uri in ["/env/prod".to_string(), format!("/entry/{}", g.forced.to_hex())] {
        let body = g.page(&uri);
        let forced = section(&body, &format!(r#"data-deployment="{}""#, g.forced.to_hex()), "</section>");
        assert!(forced.contains(r#"class="forced-badge" data-forced="approvals""#), "{uri}: {forced}");
        assert!(forced.contains("reason for the override:"), "{uri}: {forced}");
        assert!(forced.contains("hotfix &#60;i&#62;now&#60;/i&#62;"), "{uri}: {forced}");
    }
    let stage = g.page("/env/stage");
    assert!(!stage.contains("data-forced") && !stage.contains("reason for the override"));
}

#[test]
fn governance_entries_render_their_fields() {
    let g = governed();
    let reader = g.dashboard.store.read().unwrap();
    let gates = ledger_app::ledger::refs::RefName::gates("prod");
    let freeze = ledger_app::ledger::Source::ref_target(&reader, &gates).unwrap().unwrap();
    drop(reader);
    let body = g.page(&format!("/entry/{}", freeze.to_hex()));
    assert!(body.contains(r#"href="/env/prod""#), "{body}");
    assert!(body.contains("incident &#60;b&#62;4711&#60;/b&#62;"), "{body}");
}

#[test]
fn task_runs_are_listed_on_the_environment_page_and_have_pages_of_their_own() {
    use ledger_app::ledger::entry::{TaskLogs, TaskPurpose, TaskRun};
    let g = governed();
    let run = TaskRun {
        env: "prod".into(),
        service: "api".into(),
        purpose: TaskPurpose::Manual,
        command: vec!["rake".into(), "<b>db</b>".into()],
        task_definition: Some("arn:aws:ecs:eu-west-1:1:task-definition/api:3".into()),
        task: Some("arn:aws:ecs:eu-west-1:1:task/prod/0123abcd".into()),
        exit_code: Some(1),
        succeeded: false,
        detail: "exited 1".into(),
        logs: Some(TaskLogs {
            group: "/ecs/api".into(),
            stream: Some("ecs/api/0123abcd".into()),
            region: None,
        }),
    };
    let stamp = Stamp {
        at: Timestamp(1_900_000_000_000_000),
        actor: "Dan <dan@example.com>".into(),
        message: String::new(),
    };
    let recorded = g
        .dashboard
        .store
        .write(|w| {
            let (stored, bytes) = w.seal_new(stamp, EntryBody::TaskRun(run))?;
            w.receive(stored.id, &bytes)
        })
        .unwrap();

    let body = g.page("/env/prod");
    let tasks = section(&body, r#"<table id="tasks">"#, "</table>");
    assert!(tasks.contains(r#"data-result="failed""#), "{tasks}");
    assert!(tasks.contains(&format!(r#"href="/entry/{}""#, recorded.id.to_hex())), "{tasks}");
    assert!(tasks.contains("rake &#60;b&#62;db&#60;/b&#62;"), "escaped: {tasks}");
    assert!(tasks.contains("awslogs group /ecs/api, stream ecs/api/0123abcd"), "{tasks}");
    assert!(!g.page("/env/stage").contains(r#"id="tasks""#), "prod's runs only");

    let page = g.page(&format!("/entry/{}", recorded.id.to_hex()));
    assert!(
        page.contains("exited 1") && page.contains("arn:aws:ecs:eu-west-1:1:task/prod/0123abcd"),
        "{page}"
    );
    let log = g.json("/api/log/prod");
    assert_eq!(log["tasks"][0]["id"], recorded.id.to_hex());
    assert_eq!(log["tasks"][0]["exit_code"], 1);
}

/// A ledger under a signing policy that begins at a point of its history.
struct Signed {
    _dir: tempfile::TempDir,
    dashboard: Arc<Dashboard>,
    /// api v1, and its deployment to prod: unsigned, recorded before the policy began.
    before_policy: EntryId,
    /// stage's first deployment: unsigned, recorded after the policy began.
    missing: EntryId,
    /// api v2, signed by Ana.
    v2: EntryId,
    /// prod's second deployment, signed by Ana's key, which allowed_signers lists for her.
    valid: EntryId,
    /// stage's second deployment, signed by a key allowed_signers does not list.
    invalid: EntryId,
    /// stage's third deployment, signed with Ana's key and recorded as by `<i>Mallory</i>!`.
    not_the_signer: EntryId,
    /// The SHA256 fingerprints of Ana's key and of the unlisted key.
    ana_key: String,
    unlisted_key: String,
}

/// api v1 released and deployed to prod before `[signing] since`; then stage deployed unsigned,
/// api v2 released and deployed to prod with Ana's key, and to stage with a key not listed;
/// then api v1 to stage with Ana's key, recorded as by someone else. The rest is recorded as
/// Ana's.
fn signed() -> Signed {
    use ledger_app::ledger::signing::key_file::KeyFileSigner;
    use ledger_app::ledger::signing::{EntrySigner, fingerprint};
    use ledger_testutil::ssh::{generate_key, public_key_line};

    let dir = tempfile::tempdir().unwrap();
    let ana_public = public_key_line(&generate_key(dir.path(), "ana", "ed25519", ""));
    generate_key(dir.path(), "unlisted", "ed25519", "");
    std::fs::write(dir.path().join("allowed_signers"), format!("ana@example.com {ana_public}\n")).unwrap();
    let start = Timestamp::now().plus_seconds(-86_400);
    let by = |actor: &str, minute: i64| Stamp {
        at: start.plus_seconds(minute * 60),
        actor: actor.into(),
        message: format!("minute {minute}"),
    };
    let at = |minute: i64| by("Ana <ana@example.com>", minute);
    let manifest = format!(
        "{MANIFEST}[signing]\nallowed_signers = \"allowed_signers\"\nsince = \"{}\"\n",
        start.plus_seconds(10 * 60).to_rfc3339()
    );
    let manifest = Manifest::parse(&dir.path().join("ledger.toml"), &manifest).unwrap();
    let signer = |name: &str| Arc::new(KeyFileSigner::load(&dir.path().join(name)).unwrap());
    let (ana, unlisted) = (signer("ana"), signer("unlisted"));
    let (ana_key, unlisted_key) = (fingerprint(ana.public_key()), fingerprint(unlisted.public_key()));

    let release = |store: &Store, tag: &str, stamp: Stamp| {
        let release = Release {
            service: "api".into(),
            image: format!("registry.example.com/shop/api:{tag}"),
            digest: None,
            revision: None,
            revision_at: None,
        };
        store.write(|w| w.record_release(stamp, release)).unwrap().id
    };
    let deploy = |store: &Store, env: &str, release: EntryId, stamp: Stamp| {
        let target = BTreeMap::from([("api".to_string(), release)]);
        let plan =
            Plan::towards(&store.read().unwrap(), env, SetSource::None, Trigger::Apply, &target).unwrap();
        store.write(|w| record_only(w, &stamp, &plan)).unwrap().deployment.id
    };
    let store = Store::init(&dir.path().join(".ledger")).unwrap();
    let v1 = release(&store, "v1", at(1));
    let before_policy = deploy(&store, "prod", v1, at(2));
    let missing = deploy(&store, "stage", v1, at(11));
    let store = store.signing(ana.clone());
    let v2 = release(&store, "v2", at(12));
    let valid = deploy(&store, "prod", v2, at(13));
    let store = store.signing(unlisted);
    let invalid = deploy(&store, "stage", v2, at(14));
    let store = store.signing(ana);
    let not_the_signer = deploy(&store, "stage", v1, by("<i>Mallory</i>!", 15));

    let dashboard = dashboard_over(manifest, dir.path(), store);
    Signed {
        _dir: dir,
        dashboard,
        before_policy,
        missing,
        v2,
        valid,
        invalid,
        not_the_signer,
        ana_key,
        unlisted_key,
    }
}

impl Served for Signed {
    fn dashboard(&self) -> &Arc<Dashboard> {
        &self.dashboard
    }
}

/// The mark of the deployment `id` where a page lists it.
fn deployment_mark(body: &str, id: EntryId) -> &str {
    let deployment = section(body, &format!(r#"data-deployment="{}""#, id.to_hex()), "</section>");
    let mark =
        &deployment[deployment.find(r#"<span class="signature"#).unwrap_or_else(|| panic!("{deployment}"))..];
    &mark[..mark.find("</span>").unwrap() + "</span>".len()]
}

#[test]
fn deployments_are_marked_signed_invalid_missing_or_unsigned() {
    let s = signed();
    let prod = s.page("/env/prod");
    let valid = deployment_mark(&prod, s.valid);
    let title = format!("signed by ana@example.com with key {}", s.ana_key);
    assert_eq!(
        valid,
        format!(r#"<span class="signature signed" data-signature="signed" title="{title}">✓ signed</span>"#)
    );
    let before = deployment_mark(&prod, s.before_policy);
    assert!(before.starts_with(r#"<span class="signature unsigned" data-signature="unsigned""#), "{before}");
    assert!(
        before.contains("recorded before the signing policy began") && before.ends_with(">unsigned</span>")
    );

    let stage = s.page("/env/stage");
    let invalid = deployment_mark(&stage, s.invalid);
    assert!(invalid.starts_with(r#"<span class="signature invalid" data-signature="invalid""#), "{invalid}");
    assert!(invalid.contains(&format!("it is signed by key {}", s.unlisted_key)), "{invalid}");
    assert!(invalid.contains("which allowed_signers does not list"), "the file, not its path: {invalid}");
    assert!(invalid.ends_with(">✗ signature not valid</span>"), "{invalid}");
    let missing = deployment_mark(&stage, s.missing);
    assert!(missing.starts_with(r#"<span class="signature missing" data-signature="missing""#), "{missing}");
    assert!(missing.contains("the signing policy needs a signature on it"), "{missing}");
    assert!(!stage.contains(&s.dashboard.workspace.ledger_dir.parent().unwrap().display().to_string()));

    // Each outcome carries its own mark: signed with its deployment's key.
    let outcome = section(&prod, &format!(r#"data-deployment="{}""#, s.valid.to_hex()), "</section>");
    let caption = section(outcome, "<caption>", "</caption>");
    assert!(caption.contains(r#"data-signature="signed""#), "{caption}");
}

#[test]
fn entry_pages_show_the_signer_and_key_in_full_or_why_not() {
    let s = signed();
    let signature = |id: EntryId| {
        let body = s.page(&format!("/entry/{}", id.to_hex()));
        section(&body, r#"<td id="signature">"#, "</td>").to_string()
    };
    let valid = signature(s.valid);
    assert!(valid.contains(r#"data-signature="signed""#), "{valid}");
    assert!(valid.contains(r#"<span class="signer" data-signer="ana@example.com">ana@example.com</span>"#));
    assert!(valid.contains(&format!(r#"<code class="key" data-key="{0}">{0}</code>"#, s.ana_key)), "{valid}");

    let invalid = signature(s.invalid);
    assert!(invalid.contains(r#"data-signature="invalid""#) && !invalid.contains("data-signer"), "{invalid}");
    assert!(invalid.contains(&format!(r#"data-key="{}""#, s.unlisted_key)), "{invalid}");
    assert!(invalid.contains(r#"<div class="muted note">it is signed by key"#), "{invalid}");

    let missing = signature(s.missing);
    assert!(missing.contains(r#"data-signature="missing""#) && !missing.contains("data-key"), "{missing}");
    let before = signature(s.before_policy);
    assert!(before.contains(r#"data-signature="unsigned""#), "{before}");
    assert!(before.contains("recorded before the signing policy began"), "{before}");

    // Without a signing policy nothing needs a signature: a quiet mark.
    let f = fixture();
    let body = f.page(&format!("/entry/{}", f.api_v1.to_hex()));
    let unsigned = section(&body, r#"<td id="signature">"#, "</td>");
    assert!(unsigned.contains(r#"data-signature="unsigned""#), "{unsigned}");
    assert!(unsigned.contains("no signing policy needs it to be"), "{unsigned}");
}

#[test]
fn a_release_page_marks_the_deployments_of_it_and_a_set_page_its_approvals() {
    let s = signed();
    let release = s.page(&format!("/entry/{}", s.v2.to_hex()));
    assert!(section(&release, r#"<td id="signature">"#, "</td>").contains(r#"data-signature="signed""#));
    let deployed = section(&release, r#"id="deployed""#, "</table>");
    let row = |id: EntryId| {
        section(deployed, &format!(r#"data-deployment="{}""#, id.to_hex()), "</tr>").to_string()
    };
    assert!(row(s.valid).contains(r#"data-signature="signed""#), "{deployed}");
    assert!(row(s.invalid).contains(r#"data-signature="invalid""#), "{deployed}");

    // No signing policy: approvals are unsigned, and nothing needs them signed.
    let g = governed();
    let set = g.page(&format!("/entry/{}", g.second_set.to_hex()));
    let prod = section(&set, r#"<section class="env-gates" data-env="prod">"#, "</section>");
    assert_eq!(prod.matches(r#"data-signature="unsigned""#).count(), 2, "{prod}");
}

#[test]
fn an_actor_in_a_signature_problem_is_escaped() {
    let s = signed();
    let stage = s.page("/env/stage");
    let forged = deployment_mark(&stage, s.not_the_signer);
    assert!(forged.contains(r#"data-signature="invalid""#), "{forged}");
    assert!(
        forged.contains("it is recorded as by &#34;&#60;i&#62;Mallory&#60;/i&#62;!&#34;, and key"),
        "{forged}"
    );
    assert!(forged.contains("signs only for ana@example.com in allowed_signers"), "{forged}");
    assert!(!stage.contains("<i>Mallory"));
}
