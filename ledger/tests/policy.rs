//! Promotion policy: the keys of `ledger.toml` that set it (and their errors, with file, line and
//! key), and each gate refusing and then passing.

use std::path::Path;
use std::time::Duration;

use ledger::Timestamp;
use ledger::manifest::{Manifest, ManifestError};
use ledger::policy::{
    Approval, Approver, Facts, Gate, ManualFreeze, Policy, QuarantinedRelease, Teams, Upstream, all_passed,
    evaluate, freeze_gate,
};

const BASE: &str = "[project]\nid = \"shop\"\n[environments.dev]\n[environments.stage]\n";

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(Path::new("ledger.toml"), text)
}

/// The policy of `prod` declared with `keys`, after dev and stage, with `[teams]` when given.
fn prod_policy(keys: &str, teams: &str) -> Result<(Policy, Teams), ManifestError> {
    let manifest = parse(&format!("{BASE}[environments.prod]\n{keys}\n{teams}"))?;
    Ok((manifest.environments["prod"].policy.clone(), manifest.teams))
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

#[test]
fn the_policy_keys_parse_and_default_to_no_gate() {
    let (policy, teams) = prod_policy(
        r#"requires = ["stage"]
soak = "1h30m"
approvals = 2
approvers = ["alice@example.com", "team:release-managers"]
freeze = ["Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/London", "2026-12-24 00:00..2027-01-02 00:00"]
override = false"#,
        "[teams]\nrelease-managers = [\"bob@example.com\", \"carol@example.com\"]\n",
    )
    .unwrap();
    assert_eq!(policy.requires, ["stage"]);
    assert_eq!(policy.soak, Some(Duration::from_secs(5_400)));
    assert_eq!(policy.approvals, 2);
    assert_eq!(
        policy.approvers,
        [Approver::Person("alice@example.com".into()), Approver::Team("release-managers".into())]
    );
    let windows: Vec<String> = policy.freeze.iter().map(ToString::to_string).collect();
    assert_eq!(
        windows,
        ["Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/London", "2026-12-24 00:00..2027-01-02 00:00 UTC"]
    );
    assert!(!policy.overrides_allowed());
    assert_eq!(teams["release-managers"], ["bob@example.com", "carol@example.com"]);

    let (plain, teams) = prod_policy("", "").unwrap();
    assert_eq!(plain, Policy::default());
    assert!(plain.overrides_allowed());
    assert!(teams.is_empty());
    assert!(evaluate(&plain, &teams, &Facts::default(), at("2026-12-05T12:00:00Z")).is_empty());
}

#[test]
fn bad_policy_values_are_refused_with_file_line_and_key() {
    let teams = "[teams]\nrelease = [\"bob@example.com\"]\n";
    for (keys, key, says) in [
        ("requires = [\"staging\"]", "requires", "unknown environment \"staging\" (known: dev, stage)"),
        ("requires = [\"prod\"]", "requires", "cannot require itself"),
        ("requires = [\"stage\", \"stage\"]", "requires", "listed twice"),
        ("freeze = [\"Sat *-*-* 00:00..Mon *-*-* 25:00\"]", "freeze", "\"25:00\" is not a time of day"),
        ("freeze = [\"Sam *-*-* 00:00..Mon *-*-* 06:00\"]", "freeze", "\"Sam\" is not a weekday"),
        ("freeze = [\"Sat *-*-* 00:00..Mon *-*-* 06:00 Mars/Olympus\"]", "freeze", "unknown time zone"),
        ("freeze = [\"*-*-* 09:00..*-*-* 09:00\"]", "freeze", "empty"),
        ("approvals = -1", "approvals", "-1: give the number of approvals needed, 0 or more"),
        ("approvals = 1\napprovers = [\"team:releases\"]", "approvers", "unknown team \"releases\""),
        ("approvals = 1\napprovers = [\"a b\"]", "approvers", "is not an approver"),
        ("approvers = [\"alice@example.com\"]", "approvers", "with `approvals` above 0"),
        ("requires = [\"stage\"]\nsoak = \"2 hours\"", "soak", "is not a duration"),
        ("requires = [\"stage\"]\nsoak = \"0h\"", "soak", "above zero"),
        ("soak = \"2h\"", "soak", "set `requires` too"),
    ] {
        let error = prod_policy(keys, teams).unwrap_err();
        let last_line = BASE.lines().count() + 1 + keys.lines().count();
        assert_eq!(
            (error.path.as_path(), error.line, error.key.as_deref()),
            (Path::new("ledger.toml"), Some(last_line), Some(format!("environments.prod.{key}").as_str())),
            "{keys}: {error}"
        );
        assert!(error.message.contains(says), "{keys}: {error}");
        assert!(
            error.to_string().starts_with(&format!("ledger.toml:{last_line}: environments.prod.{key}: "))
        );
    }
}

#[test]
fn a_cycle_of_requirements_and_bad_teams_are_refused() {
    let cycle = "[project]\nid = \"p\"\n[environments.stage]\nrequires = [\"prod\"]\n[environments.prod]\nrequires = [\"stage\"]\n";
    let error = parse(cycle).unwrap_err();
    assert_eq!((error.line, error.key.as_deref()), (Some(6), Some("environments.prod.requires")), "{error}");
    assert!(error.message.contains("cycle: prod → stage → prod"), "{error}");
    let longer = "[project]\nid = \"p\"\n[environments.dev]\nrequires = [\"prod\"]\n[environments.stage]\nrequires = [\"dev\"]\n[environments.prod]\nrequires = [\"stage\"]\n";
    let error = parse(longer).unwrap_err();
    assert_eq!((error.line, error.key.as_deref()), (Some(6), Some("environments.stage.requires")), "{error}");
    assert!(error.message.contains("cycle: stage → dev → prod → stage"), "{error}");

    for (teams, line, says) in [
        ("[teams]\nRelease = [\"a@x\"]\n", 5, "invalid team id"),
        ("[teams]\nrelease = []\n", 5, "at least one member"),
        ("[teams]\nrelease = [\"a@x\", \"a@x\"]\n", 5, "listed twice"),
        ("[teams]\nrelease = [\"team:other\"]\n", 5, "people, not other teams"),
        ("[teams]\nrelease = \"a@x\"\n", 5, "invalid type"),
    ] {
        let error = parse(&format!("[project]\nid = \"p\"\n[environments.prod]\n{teams}")).unwrap_err();
        assert_eq!(error.line, Some(line), "{teams}: {error}");
        assert!(error.to_string().contains(says), "{teams}: {error}");
    }
    let misspelt = parse(&format!("{BASE}[environments.prod]\naprovals = 2\n")).unwrap_err();
    assert_eq!(misspelt.line, Some(6), "{misspelt}");
    assert!(misspelt.message.contains("unknown field `aprovals`"), "{misspelt}");
}

fn gate<'a>(gates: &'a [Gate], kind: &str) -> &'a Gate {
    gates.iter().find(|gate| gate.kind() == kind).unwrap_or_else(|| panic!("no {kind} gate in {gates:?}"))
}

fn states(gates: &[Gate]) -> Vec<&str> {
    gates.iter().map(|gate| gate.state.as_str()).collect()
}

#[test]
fn requires_and_soak_pass_once_the_candidate_succeeded_and_ran_long_enough() {
    let (policy, teams) = prod_policy("requires = [\"stage\"]\nsoak = \"2h\"", "").unwrap();
    let now = at("2026-12-02T12:00:00Z");
    let never = evaluate(&policy, &teams, &Facts::default(), now);
    assert_eq!(states(&never), ["requires stage: has not succeeded there", "soak 0s of 2h"]);
    assert!(!all_passed(&never));

    let mut facts = Facts::default();
    facts.upstream.insert(
        "stage".into(),
        Upstream { succeeded: true, running_since: Some(at("2026-12-02T10:47:25Z")) },
    );
    let short = evaluate(&policy, &teams, &facts, now);
    assert_eq!(states(&short), ["requires stage: succeeded there", "soak 1h12m of 2h"]);
    assert_eq!((gate(&short, "requires").passed, gate(&short, "soak").passed), (true, false));

    let later = evaluate(&policy, &teams, &facts, at("2026-12-02T12:47:25Z"));
    assert_eq!(states(&later), ["requires stage: succeeded there", "soak 2h of 2h"]);
    assert!(all_passed(&later));
}

#[test]
fn soak_counts_the_required_environment_it_ran_in_least() {
    let (policy, teams) = prod_policy("requires = [\"dev\", \"stage\"]\nsoak = \"1d\"", "").unwrap();
    let mut facts = Facts::default();
    facts
        .upstream
        .insert("dev".into(), Upstream { succeeded: true, running_since: Some(at("2026-11-20T00:00:00Z")) });
    facts.upstream.insert("stage".into(), Upstream { succeeded: true, running_since: None });
    let gates = evaluate(&policy, &teams, &facts, at("2026-12-02T00:00:00Z"));
    assert_eq!(gate(&gates, "soak").state, "soak 0s of 1d in stage");
    facts.upstream.get_mut("stage").unwrap().running_since = Some(at("2026-12-01T00:00:00Z"));
    let gates = evaluate(&policy, &teams, &facts, at("2026-12-02T00:00:01Z"));
    assert_eq!(gate(&gates, "soak").state, "soak 1d of 1d in stage");
    assert!(all_passed(&gates));
}

fn approval(actor: &str, at_text: &str) -> Approval {
    Approval { actor: actor.into(), at: at(at_text) }
}

#[test]
fn approvals_count_distinct_others_never_the_releaser_or_the_applier() {
    let (policy, teams) = prod_policy("approvals = 2", "").unwrap();
    let now = at("2026-12-02T12:00:00Z");
    let mut facts = Facts {
        releasers: ["rita@example.com".to_string()].into(),
        applier: "paul@example.com".into(),
        ..Facts::default()
    };
    assert_eq!(states(&evaluate(&policy, &teams, &facts, now)), ["approvals 0 of 2"]);

    facts.approvals = vec![
        approval("rita@example.com", "2026-12-02T09:00:00Z"),
        approval("paul@example.com", "2026-12-02T09:05:00Z"),
        approval("alice@example.com", "2026-12-02T10:00:00Z"),
        approval("alice@example.com", "2026-12-02T10:30:00Z"),
    ];
    let one = evaluate(&policy, &teams, &facts, now);
    assert_eq!(states(&one), ["approvals 1 of 2: alice@example.com"]);
    assert!(!one[0].passed);
    let json = serde_json::to_value(&one[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "gate": "approvals",
            "required": 2,
            "approved_by": ["alice@example.com"],
            "not_counted": [
                {"actor": "rita@example.com", "reason": "registered a release"},
                {"actor": "paul@example.com", "reason": "applies it"},
            ],
            "passed": false,
            "state": "approvals 1 of 2: alice@example.com",
        })
    );

    facts.approvals.push(approval("bob@example.com", "2026-12-02T08:00:00Z"));
    let two = evaluate(&policy, &teams, &facts, now);
    assert_eq!(states(&two), ["approvals 2 of 2: bob@example.com, alice@example.com"]);
    assert!(all_passed(&two));
}

#[test]
fn with_approvers_only_listed_people_and_team_members_count() {
    let (policy, teams) = prod_policy(
        "approvals = 2\napprovers = [\"alice@example.com\", \"team:release-managers\"]",
        "[teams]\nrelease-managers = [\"bob@example.com\"]\n",
    )
    .unwrap();
    let now = at("2026-12-02T12:00:00Z");
    let mut facts = Facts {
        applier: "paul@example.com".into(),
        approvals: vec![
            approval("alice@example.com", "2026-12-02T10:00:00Z"),
            approval("mallory@example.com", "2026-12-02T10:10:00Z"),
        ],
        ..Facts::default()
    };
    let gates = evaluate(&policy, &teams, &facts, now);
    assert_eq!(states(&gates), ["approvals 1 of 2: alice@example.com"]);
    assert_eq!(
        serde_json::to_value(&gates[0]).unwrap()["not_counted"],
        serde_json::json!([{"actor": "mallory@example.com", "reason": "not an approver"}])
    );

    facts.approvals.push(approval("bob@example.com", "2026-12-02T11:00:00Z"));
    let gates = evaluate(&policy, &teams, &facts, now);
    assert_eq!(states(&gates), ["approvals 2 of 2: alice@example.com, bob@example.com"]);
    assert!(all_passed(&gates));
}

#[test]
fn a_weekend_freeze_window_in_london_holds_then_lifts() {
    let (policy, teams) =
        prod_policy("freeze = [\"Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/London\"]", "").unwrap();
    let facts = Facts::default();
    let friday = evaluate(&policy, &teams, &facts, at("2026-12-04T18:00:00Z"));
    assert_eq!(states(&friday), ["not frozen"]);
    assert_eq!(
        serde_json::to_value(&friday[0]).unwrap(),
        serde_json::json!({"gate": "freeze", "passed": true, "state": "not frozen"})
    );

    let sunday = evaluate(&policy, &teams, &facts, at("2026-12-06T12:00:00Z"));
    assert_eq!(
        states(&sunday),
        ["frozen until Mon 06:00 Europe/London (window Sat *-*-* 00:00..Mon *-*-* 06:00)"]
    );
    assert_eq!(
        serde_json::to_value(&sunday[0]).unwrap(),
        serde_json::json!({
            "gate": "freeze",
            "window": "Sat *-*-* 00:00..Mon *-*-* 06:00",
            "zone": "Europe/London",
            "until": "2026-12-07T06:00:00.000000Z",
            "until_shown": "Mon 06:00 Europe/London",
            "passed": false,
            "state": "frozen until Mon 06:00 Europe/London (window Sat *-*-* 00:00..Mon *-*-* 06:00)",
        })
    );
    // The weekend the clocks go back (Sunday 2026-10-25): frozen from Friday 23:00 UTC (Saturday
    // 00:00 BST) to Monday 06:00 UTC (06:00 GMT).
    assert!(all_passed(&evaluate(&policy, &teams, &facts, at("2026-10-23T22:59:00Z"))));
    let fall_back = evaluate(&policy, &teams, &facts, at("2026-10-23T23:00:00Z"));
    assert_eq!(serde_json::to_value(&fall_back[0]).unwrap()["until"], "2026-10-26T06:00:00.000000Z");
    assert!(all_passed(&evaluate(&policy, &teams, &facts, at("2026-10-26T06:00:00Z"))));
}

#[test]
fn a_daily_and_a_one_off_window_hold_at_their_times() {
    let (policy, teams) = prod_policy(
        "freeze = [\"*-*-* 17:00..*-*-* 09:00 Europe/Berlin\", \"2026-12-24 00:00..2027-01-02 00:00 Europe/Berlin\"]",
        "",
    )
    .unwrap();
    let facts = Facts::default();
    let evening = evaluate(&policy, &teams, &facts, at("2026-12-02T16:30:00Z"));
    assert_eq!(states(&evening), ["frozen until Thu 09:00 Europe/Berlin (window *-*-* 17:00..*-*-* 09:00)"]);
    assert!(all_passed(&evaluate(&policy, &teams, &facts, at("2026-12-03T10:00:00Z"))));
    // In the holiday freeze, by day: the one-off window says when it ends.
    let christmas = evaluate(&policy, &teams, &facts, at("2026-12-28T10:00:00Z"));
    assert_eq!(
        states(&christmas),
        ["frozen until 2027-01-02 00:00 Europe/Berlin (window 2026-12-24 00:00..2027-01-02 00:00)"]
    );
    // At night both hold: the later end is the one that matters.
    let night = evaluate(&policy, &teams, &facts, at("2027-01-01T20:00:00Z"));
    assert_eq!(states(&night), ["frozen until Sat 09:00 Europe/Berlin (window *-*-* 17:00..*-*-* 09:00)"]);
}

#[test]
fn a_manual_freeze_holds_even_without_windows() {
    let (policy, teams) = prod_policy("", "").unwrap();
    let facts = Facts {
        manual_freeze: Some(ManualFreeze {
            actor: "alice@example.com".into(),
            at: at("2026-12-02T09:00:00Z"),
            message: "incident 42".into(),
        }),
        ..Facts::default()
    };
    let gates = evaluate(&policy, &teams, &facts, at("2026-12-02T12:00:00Z"));
    assert_eq!(states(&gates), ["frozen by alice@example.com: incident 42"]);
    assert_eq!(
        serde_json::to_value(&gates[0]).unwrap(),
        serde_json::json!({
            "gate": "freeze",
            "frozen_by": "alice@example.com",
            "since": "2026-12-02T09:00:00.000000Z",
            "message": "incident 42",
            "passed": false,
            "state": "frozen by alice@example.com: incident 42",
        })
    );
    assert!(evaluate(&policy, &teams, &Facts::default(), at("2026-12-02T12:00:00Z")).is_empty());
    // The same gate alone, as `ledger status` asks for it.
    let alone = freeze_gate(&policy.freeze, facts.manual_freeze.as_ref(), at("2026-12-02T12:00:00Z"));
    assert_eq!(alone.as_ref(), gates.first());
    assert_eq!(freeze_gate(&policy.freeze, None, at("2026-12-02T12:00:00Z")), None);
}

#[test]
fn a_quarantined_release_refuses_the_candidate() {
    let (policy, teams) = prod_policy("", "").unwrap();
    let facts = Facts {
        quarantined: vec![QuarantinedRelease {
            service: "api".into(),
            release: "ab12".repeat(16),
            label: "1.2.3".into(),
            reason: "leaks memory".into(),
        }],
        ..Facts::default()
    };
    let gates = evaluate(&policy, &teams, &facts, at("2026-12-02T12:00:00Z"));
    assert_eq!(states(&gates), ["quarantined: api 1.2.3 (leaks memory)"]);
    assert!(!all_passed(&gates));
    assert_eq!(
        serde_json::to_value(&gates[0]).unwrap()["releases"],
        serde_json::json!([{"service": "api", "release": "ab12".repeat(16), "label": "1.2.3", "reason": "leaks memory"}])
    );
}
