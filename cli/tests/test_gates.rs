//! Governed promotion: each gate of an environment's policy refusing a deployment (exit 4, the
//! gates in the message and the JSON) and then passing; approvals, freezes, quarantines and
//! overrides as recorded.

use insta::assert_snapshot;
use ledger_testutil::process::{Project, Run};
use serde_json::Value;

const POLICY: &str = r#"[project]
id = "catalogue"

[teams]
release-managers = ["alice@example.com", "bob@example.com", "rel@example.com"]

[environments.stage]

[environments.prod]
requires = ["stage"]
soak = "2h"
approvals = 2
approvers = ["team:release-managers", "carol@example.com"]
freeze = ["Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/London"]

[services.api]
image_repository = "registry.local/api"
"#;

/// No policy: only manual freezes and quarantines hold.
const PLAIN: &str = "[project]\nid = \"catalogue\"\n[environments.stage]\n[environments.prod]\n[services.api]\nimage_repository = \"registry.local/api\"\n";

/// The releaser, a team member whose approvals of their own releases never count.
const REL: &str = "rel@example.com";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const DAVE: &str = "dave@example.com";

/// A project with POLICY; api v1 registered by REL and applied to stage on Tuesday 2026-12-01
/// at 09:00 UTC.
fn governed(manifest: &str) -> Project {
    let project = Project::new(manifest);
    project.ok(&["init"]);
    ok(&project.run_by(REL, "2026-12-01T08:59:00Z", &["register", "api", "registry.local/api:v1"]));
    ok(&project.run_by(REL, "2026-12-01T09:00:00Z", &["apply", "latest", "stage", "--yes"]));
    project
}

fn ok(run: &Run) {
    assert_eq!(run.code, 0, "{}", run.render());
}

fn refused(run: &Run) {
    assert_eq!(run.code, 4, "{}", run.render());
}

/// The gates of a refusal's JSON error, by kind: (passed, state).
fn gates_of(project: &Project, actor: &str, at: &str, args: &[&str]) -> Vec<(String, bool, String)> {
    let mut with_json = args.to_vec();
    with_json.extend(["--output", "json"]);
    let run = project.run_by(actor, at, &with_json);
    let error: Value = serde_json::from_str(&run.stderr).unwrap_or(Value::Null);
    let gates = match run.code {
        4 => error["error"]["gates"].clone(),
        0 => serde_json::from_str::<Value>(&run.stdout).unwrap()["plan"]["gates"].clone(),
        code => panic!("exit {code}: {}", run.render()),
    };
    gates
        .as_array()
        .unwrap()
        .iter()
        .map(|gate| {
            (
                gate["gate"].as_str().unwrap().into(),
                gate["passed"].as_bool().unwrap(),
                gate["state"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn soak_and_approvals_refuse_then_pass_and_the_releasers_approval_does_not_count() {
    let project = governed(POLICY);
    let promote = ["promote", "stage", "prod", "--yes"];
    // An hour after stage: soak and approvals refuse it; nothing is recorded.
    let run = project.run_by(ALICE, "2026-12-01T10:00:00Z", &promote);
    refused(&run);
    assert_snapshot!(run.render());
    assert!(project.json(&["log", "prod"])["deployments"].as_array().unwrap().is_empty());

    // The releaser's approval, and one of someone who is no approver, do not count.
    ok(&project.run_by(REL, "2026-12-01T10:01:00Z", &["approve", "stage", "prod"]));
    ok(&project.run_by(DAVE, "2026-12-01T10:02:00Z", &["approve", "stage", "prod", "-m", "looks fine"]));
    ok(&project.run_by(ALICE, "2026-12-01T10:03:00Z", &["approve", "stage", "prod", "-m", "QA signed off"]));
    let gates = gates_of(
        &project,
        "ops@example.com",
        "2026-12-01T10:04:00Z",
        &["promote", "stage", "prod", "--dry-run"],
    );
    assert_eq!(
        gates,
        [
            ("requires".into(), true, "requires stage: succeeded there".into()),
            ("soak".into(), false, "soak 1h3m of 2h".into()),
            ("approvals".into(), false, "approvals 1 of 2: alice@example.com".into()),
            ("freeze".into(), true, "not frozen".into()),
        ]
    );
    let json = project.run_by(ALICE, "2026-12-01T10:05:00Z", &["approvals", "prod", "--output", "json"]);
    let approvals: Value = serde_json::from_str(&json.stdout).unwrap();
    let not_counted = &approvals["waiting"][0]["plan"]["gates"][2]["not_counted"];
    assert_eq!(
        not_counted,
        &serde_json::json!([
            {"actor": "rel@example.com", "reason": "registered a release"},
            {"actor": "dave@example.com", "reason": "not an approver"},
        ])
    );
    assert_eq!(approvals["approvals"].as_array().unwrap().len(), 3);

    // Bob approves; Alice may not count her own approval when she applies it herself.
    ok(&project.run_by(BOB, "2026-12-01T10:06:00Z", &["approve", "stage", "prod"]));
    refused(&project.run_by(ALICE, "2026-12-01T11:30:00Z", &promote));
    let run = project.run_by(ALICE, "2026-12-01T11:30:00Z", &["promote", "stage", "prod", "--dry-run"]);
    refused(&run);
    assert!(run.stdout.contains("approvals 1 of 2: bob@example.com"), "{}", run.render());
    assert!(run.stdout.contains("soak 2h29m of 2h"), "{}", run.render());
    // Someone else applies it once soaked: every gate passes.
    ok(&project.run_by("ops@example.com", "2026-12-01T11:30:00Z", &promote));
    let deployment = &project.json(&["log", "prod"])["deployments"][0];
    assert_eq!(deployment["forced"], Value::Null);
    assert_eq!(deployment["result"], "succeeded");
}

#[test]
fn requires_refuses_what_did_not_succeed_upstream() {
    let project = governed(
        &POLICY
            .replace("approvals = 2\napprovers = [\"team:release-managers\", \"carol@example.com\"]\n", ""),
    );
    ok(&project.run_by(REL, "2026-12-01T12:00:00Z", &["register", "api", "registry.local/api:v2"]));
    // v2 never ran in stage: applying it to prod directly is refused at `requires`.
    let gates = gates_of(&project, REL, "2026-12-01T12:01:00Z", &["apply", "latest", "prod", "--yes"]);
    assert_eq!(gates[0], ("requires".into(), false, "requires stage: has not succeeded there".into()));
    assert_eq!(gates[1].0, "soak");
    assert!(!gates[1].1);
    // v1, which succeeded in stage three hours ago, passes.
    ok(&project.run_by(REL, "2026-12-01T12:02:00Z", &["promote", "stage", "prod", "--yes"]));
}

#[test]
fn a_weekend_window_in_london_freezes_prod_until_monday_morning() {
    let project = governed(
        &POLICY
            .replace("soak = \"2h\"\napprovals = 2\n", "")
            .replace("approvers = [\"team:release-managers\", \"carol@example.com\"]\n", ""),
    );
    let promote = ["promote", "stage", "prod", "--yes"];
    // Saturday noon in London.
    let run = project.run_by(REL, "2026-12-05T12:00:00Z", &promote);
    refused(&run);
    assert!(
        run.stderr.contains("frozen until Mon 06:00 Europe/London (window Sat *-*-* 00:00..Mon *-*-* 06:00)"),
        "{}",
        run.render()
    );
    let status = project.run_by(REL, "2026-12-05T12:00:00Z", &["status", "prod", "--output", "json"]);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["environments"][0]["frozen"]["until"], "2026-12-07T06:00:00.000000Z");
    // Monday 05:59 still frozen; 06:00 no longer.
    refused(&project.run_by(REL, "2026-12-07T05:59:00Z", &promote));
    ok(&project.run_by(REL, "2026-12-07T06:00:00Z", &promote));
}

#[test]
fn a_manual_freeze_holds_every_deployment_until_lifted() {
    let project = governed(PLAIN);
    ok(&project.run_by(REL, "2026-12-01T09:30:00Z", &["register", "api", "registry.local/api:v2"]));
    ok(&project.run_by(REL, "2026-12-01T09:31:00Z", &["apply", "latest", "stage", "--yes"]));
    ok(&project.run_by(ALICE, "2026-12-01T10:00:00Z", &["freeze", "stage", "-m", "incident 4711"]));
    ok(&project.run_by(REL, "2026-12-01T10:01:00Z", &["register", "api", "registry.local/api:v3"]));
    let run = project.run_by(REL, "2026-12-01T10:02:00Z", &["apply", "latest", "stage", "--yes"]);
    refused(&run);
    assert!(run.stderr.contains("frozen by alice@example.com: incident 4711"), "{}", run.render());
    // A rollback is a deployment too.
    refused(&project.run_by(REL, "2026-12-01T10:03:00Z", &["rollback", "stage", "--yes"]));
    // Freezing twice, or lifting what is not frozen, is a user error.
    assert_eq!(project.run_by(BOB, "2026-12-01T10:04:00Z", &["freeze", "stage", "-m", "again"]).code, 2);
    assert_eq!(project.run_by(BOB, "2026-12-01T10:04:00Z", &["unfreeze", "prod"]).code, 2);
    ok(&project.run_by(BOB, "2026-12-01T10:05:00Z", &["unfreeze", "stage", "-m", "resolved"]));
    ok(&project.run_by(REL, "2026-12-01T10:06:00Z", &["apply", "latest", "stage", "--yes"]));
}

#[test]
fn a_quarantined_release_is_refused_unless_overridden_and_the_override_is_recorded() {
    let project = governed(
        "[project]\nid = \"catalogue\"\n[environments.stage]\n[environments.prod]\n[services.api]\nimage_repository = \"registry.local/api\"\n",
    );
    let v2 = project.run_by(REL, "2026-12-01T10:00:00Z", &["register", "api", "registry.local/api:v2"]);
    ok(&v2);
    let v2 = v2.stdout.trim().to_string();
    // Only releases and release sets are quarantined, always with a reason.
    assert_eq!(project.run_by(ALICE, "2026-12-01T10:01:00Z", &["quarantine", &v2]).code, 2);
    ok(&project.run_by(ALICE, "2026-12-01T10:01:00Z", &["quarantine", &v2[..12], "-m", "leaks memory"]));
    let apply = ["apply", "latest", "stage", "--yes"];
    let run = project.run_by(REL, "2026-12-01T10:02:00Z", &apply);
    refused(&run);
    assert!(run.stderr.contains("quarantined: api v2 (leaks memory)"), "{}", run.render());
    // --override needs its reason.
    let mut no_reason = apply.to_vec();
    no_reason.push("--override");
    assert_eq!(project.run_by(REL, "2026-12-01T10:03:00Z", &no_reason).code, 2);
    let mut forced = no_reason.clone();
    forced.extend(["-m", "v2 fixes the outage; leak is minor"]);
    let run = project.run_by(REL, "2026-12-01T10:04:00Z", &forced);
    ok(&run);
    let deployment = &project.json(&["log", "stage"])["deployments"][0];
    assert_eq!(
        deployment["forced"],
        serde_json::json!({"gates": ["quarantine"], "reason": "v2 fixes the outage; leak is minor"})
    );
    let shown = project.ok(&["show", deployment["id"].as_str().unwrap()]);
    assert!(shown.contains("forced past quarantine"), "{shown}");
    assert!(project.ok(&["status", "stage"]).contains("forced past quarantine"));
}

#[test]
fn an_environment_that_forbids_overrides_refuses_them() {
    let project =
        governed(&PLAIN.replace("[environments.stage]\n", "[environments.stage]\noverride = false\n"));
    ok(&project.run_by(REL, "2026-12-01T09:30:00Z", &["register", "api", "registry.local/api:v2"]));
    ok(&project.run_by(REL, "2026-12-01T09:31:00Z", &["apply", "latest", "stage", "--yes"]));
    ok(&project.run_by(ALICE, "2026-12-01T10:00:00Z", &["freeze", "stage", "-m", "audit"]));
    let run = project.run_by(
        REL,
        "2026-12-01T10:01:00Z",
        &["rollback", "stage", "--yes", "--override", "-m", "please"],
    );
    refused(&run);
    assert!(run.stderr.contains("stage allows no override"), "{}", run.render());
    assert_eq!(
        project.json(&["log", "stage"])["deployments"].as_array().unwrap().len(),
        2,
        "nothing recorded"
    );
}
