//! Promotion policy: the rules an environment sets in `ledger.toml` (`requires`, `soak`,
//! `approvals`, `approvers`, `freeze`, `override`) and their evaluation into gates.
//!
//! Evaluation is pure: the application layer gathers the [`Facts`] about a candidate release set
//! from the ledger and [`evaluate`] says, gate by gate, whether it may be deployed now.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use crate::Timestamp;
use crate::calendar::FreezeWindow;

/// An environment's promotion rules. The default sets no gate and allows overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `requires`: environments the candidate must have succeeded in first.
    pub requires: Vec<String>,
    /// `soak`: how long the candidate must have run in each required environment without a
    /// failure. Only set together with `requires`.
    pub soak: Option<Duration>,
    /// `approvals`: how many distinct people must approve; 0 sets no gate.
    pub approvals: u32,
    /// `approvers`: who may approve; empty means anyone (except the candidate's releasers and
    /// the person applying it).
    pub approvers: Vec<Approver>,
    /// `freeze`: recurring or one-off windows in which nothing is deployed.
    pub freeze: Vec<FreezeWindow>,
    /// `override`: whether `--override` may pass the gates here (default true).
    pub allow_override: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            requires: Vec::new(),
            soak: None,
            approvals: 0,
            approvers: Vec::new(),
            freeze: Vec::new(),
            allow_override: true,
        }
    }
}

impl Policy {
    /// Whether `--override` may pass this environment's gates (`override`, true by default).
    pub fn overrides_allowed(&self) -> bool {
        self.allow_override
    }
}

/// One entry of `approvers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Approver {
    /// An actor, as recorded in entries (e.g. `alice@example.com`).
    Person(String),
    /// `team:<name>`: every member of `[teams] <name>`.
    Team(String),
}

impl Approver {
    /// `alice@example.com`, or `team:release-managers`.
    pub fn parse(text: &str) -> Result<Approver, String> {
        let text_ok =
            |value: &str| !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        match text.strip_prefix(TEAM_PREFIX) {
            Some(team) if text_ok(team) => Ok(Approver::Team(team.to_string())),
            None if text_ok(text) => Ok(Approver::Person(text.to_string())),
            _ => Err(format!(
                "{text:?} is not an approver: give an actor such as alice@example.com, or team:<name>"
            )),
        }
    }
}

const TEAM_PREFIX: &str = "team:";

/// `[teams]`: team name to its members' actor names.
pub type Teams = BTreeMap<String, Vec<String>>;

/// What the ledger says about one candidate release set and one target environment: the input
/// of [`evaluate`]. The application layer fills it from the ledger (the remote's view included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// For each environment named in `requires`, how the candidate fared there. An environment
    /// missing here counts as "never succeeded there".
    pub upstream: BTreeMap<String, Upstream>,
    /// Approvals recorded for this candidate and this target environment, in any order; one
    /// person approving twice counts once.
    pub approvals: Vec<Approval>,
    /// The actors who registered the candidate's releases (or created the release set): their
    /// approvals never count.
    pub releasers: BTreeSet<String>,
    /// The actor applying the deployment now: their approval never counts.
    pub applier: String,
    /// The manual freeze (`ledger freeze`) in force on the target environment, if any.
    pub manual_freeze: Option<ManualFreeze>,
    /// The candidate's releases that are quarantined.
    pub quarantined: Vec<QuarantinedRelease>,
}

/// The candidate in one required environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Upstream {
    /// The candidate (or every one of its releases) has a successful deployment there.
    pub succeeded: bool,
    /// Since when it has run there without a failure: the time of the successful deployment
    /// after which nothing deployed there failed while it ran. `None` when it does not run there
    /// now. Soak is measured from this instant.
    pub running_since: Option<Timestamp>,
}

/// An approval entry: who approved, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    pub actor: String,
    pub at: Timestamp,
}

/// A freeze recorded with `ledger freeze`, holding until `ledger unfreeze`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ManualFreeze {
    /// JSON `frozen_by`.
    #[serde(rename = "frozen_by")]
    pub actor: String,
    /// JSON `since`, RFC 3339.
    #[serde(rename = "since", serialize_with = "rfc3339")]
    pub at: Timestamp,
    pub message: String,
}

/// A quarantined release among the candidate's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuarantinedRelease {
    pub service: String,
    /// The release's entry id, in hex.
    pub release: String,
    /// The release as people know it, shown in the gate's state: its image tag (e.g. `1.2.3`),
    /// else a short id.
    pub label: String,
    pub reason: String,
}

/// One gate's verdict. JSON: `{"gate": <kind>, <the kind's fields>, "passed", "state"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gate {
    #[serde(flatten)]
    pub detail: GateDetail,
    pub passed: bool,
    /// A short line for people, e.g. `soak 1h12m of 2h`.
    pub state: String,
}

impl Gate {
    /// The stable kind name: `requires`, `soak`, `approvals`, `freeze` or `quarantine`.
    pub fn kind(&self) -> &'static str {
        match self.detail {
            GateDetail::Requires { .. } => "requires",
            GateDetail::Soak { .. } => "soak",
            GateDetail::Approvals { .. } => "approvals",
            GateDetail::Freeze { .. } => "freeze",
            GateDetail::Quarantine { .. } => "quarantine",
        }
    }
}

/// A gate's kind and the facts behind its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "gate", rename_all = "lowercase")]
pub enum GateDetail {
    /// The candidate must have succeeded in `environment`.
    Requires { environment: String },
    /// It must have run in every required environment for `required` without a failure;
    /// `elapsed` is the least time among them, `environment` the one it was least.
    Soak {
        environment: String,
        /// e.g. `2h`.
        required: String,
        required_seconds: u64,
        /// e.g. `1h12m`.
        elapsed: String,
        elapsed_seconds: u64,
    },
    /// `required` distinct approvers; `approved_by` counted, `not_counted` did not count.
    Approvals { required: u32, approved_by: Vec<String>, not_counted: Vec<NotCounted> },
    /// Nothing is deployed while a window or a manual freeze holds.
    Freeze {
        #[serde(flatten)]
        cause: Option<FreezeCause>,
    },
    /// None of the candidate's releases may be quarantined.
    Quarantine { releases: Vec<QuarantinedRelease> },
}

/// Why an environment is frozen now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum FreezeCause {
    /// A `freeze` window of the policy.
    Window {
        /// The window as written canonically, e.g. `Sat *-*-* 00:00..Mon *-*-* 06:00`.
        window: String,
        /// Its time zone, e.g. `Europe/London`.
        zone: String,
        /// When it ends, RFC 3339 in UTC.
        #[serde(serialize_with = "rfc3339")]
        until: Timestamp,
        /// When it ends, in the window's zone, e.g. `Mon 06:00 Europe/London`.
        until_shown: String,
    },
    /// `ledger freeze`: `frozen_by`, `since`, `message`.
    Manual(ManualFreeze),
}

/// An approval that did not count, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotCounted {
    pub actor: String,
    /// `registered a release`, `applies it` or `not an approver`.
    pub reason: String,
}

fn rfc3339<S: serde::Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339())
}

/// The gates `policy` sets for a candidate described by `facts`, at `now`, in this order:
/// `requires` (one per required environment), `soak`, `approvals`, `freeze` (listed when the
/// policy has windows or a manual freeze is in force), `quarantine` (listed when a release is
/// quarantined). Gates the policy does not configure are not listed.
pub fn evaluate(policy: &Policy, teams: &Teams, facts: &Facts, now: Timestamp) -> Vec<Gate> {
    let mut gates = Vec::new();
    for environment in &policy.requires {
        let passed = facts.upstream.get(environment).is_some_and(|upstream| upstream.succeeded);
        let state = if passed { "succeeded there" } else { "has not succeeded there" };
        gates.push(Gate {
            detail: GateDetail::Requires { environment: environment.clone() },
            passed,
            state: format!("requires {environment}: {state}"),
        });
    }
    if let Some(soak) = policy.soak {
        gates.extend(soak_gate(&policy.requires, soak, facts, now));
    }
    if policy.approvals > 0 {
        gates.push(approvals_gate(policy, teams, facts));
    }
    if let Some(gate) = freeze_gate(&policy.freeze, facts.manual_freeze.as_ref(), now) {
        gates.push(gate);
    }
    if !facts.quarantined.is_empty() {
        let shown: Vec<String> = facts
            .quarantined
            .iter()
            .map(|release| format!("{} {} ({})", release.service, release.label, release.reason))
            .collect();
        gates.push(Gate {
            detail: GateDetail::Quarantine { releases: facts.quarantined.clone() },
            passed: false,
            state: format!("quarantined: {}", shown.join(", ")),
        });
    }
    gates
}

/// Whether every gate passed (true for no gates).
pub fn all_passed(gates: &[Gate]) -> bool {
    gates.iter().all(|gate| gate.passed)
}

fn soak_gate(requires: &[String], soak: Duration, facts: &Facts, now: Timestamp) -> Option<Gate> {
    // The required environment the candidate has run in the least time (never: zero).
    let (environment, elapsed) = requires
        .iter()
        .map(|environment| {
            let since = facts.upstream.get(environment).and_then(|upstream| upstream.running_since);
            let elapsed = since.map_or(0, |since| now.0.saturating_sub(since.0).max(0) / 1_000_000);
            (environment, u64::try_from(elapsed).unwrap_or(0))
        })
        .min_by_key(|(_, elapsed)| *elapsed)?;
    let required = soak.as_secs();
    let (required_text, elapsed_text) = (format_span(required), format_span(elapsed_shown(elapsed)));
    let passed = elapsed >= required;
    let place = if requires.len() > 1 { format!(" in {environment}") } else { String::new() };
    Some(Gate {
        detail: GateDetail::Soak {
            environment: environment.clone(),
            required: required_text.clone(),
            required_seconds: required,
            elapsed: elapsed_text.clone(),
            elapsed_seconds: elapsed,
        },
        passed,
        state: format!("soak {elapsed_text} of {required_text}{place}"),
    })
}

fn approvals_gate(policy: &Policy, teams: &Teams, facts: &Facts) -> Gate {
    let mut approvals: Vec<&Approval> = facts.approvals.iter().collect();
    approvals.sort_by(|a, b| (a.at, &a.actor).cmp(&(b.at, &b.actor)));
    let may_approve = |actor: &str| {
        policy.approvers.is_empty()
            || policy.approvers.iter().any(|approver| match approver {
                Approver::Person(person) => person == actor,
                Approver::Team(team) => {
                    teams.get(team).is_some_and(|members| members.iter().any(|member| member == actor))
                }
            })
    };
    let mut seen = BTreeSet::new();
    let (mut approved_by, mut not_counted) = (Vec::new(), Vec::new());
    for approval in approvals {
        let actor = &approval.actor;
        if !seen.insert(actor) {
            continue;
        }
        let reason = if facts.releasers.contains(actor) {
            Some("registered a release")
        } else if *actor == facts.applier {
            Some("applies it")
        } else if !may_approve(actor) {
            Some("not an approver")
        } else {
            None
        };
        match reason {
            None => approved_by.push(actor.clone()),
            Some(reason) => not_counted.push(NotCounted { actor: actor.clone(), reason: reason.into() }),
        }
    }
    let required = policy.approvals;
    let count = approved_by.len();
    let names = if approved_by.is_empty() { String::new() } else { format!(": {}", approved_by.join(", ")) };
    Gate {
        passed: count >= required as usize,
        state: format!("approvals {count} of {required}{names}"),
        detail: GateDetail::Approvals { required, approved_by, not_counted },
    }
}

/// The `freeze` gate alone: whether an environment with these `windows` and this manual freeze
/// is frozen at `now`, and until when (for `ledger status` and the dashboard). `None` when
/// there are no windows and no manual freeze.
pub fn freeze_gate(windows: &[FreezeWindow], manual: Option<&ManualFreeze>, now: Timestamp) -> Option<Gate> {
    if let Some(freeze) = manual {
        return Some(Gate {
            passed: false,
            state: format!("frozen by {}: {}", freeze.actor, freeze.message),
            detail: GateDetail::Freeze { cause: Some(FreezeCause::Manual(freeze.clone())) },
        });
    }
    if windows.is_empty() {
        return None;
    }
    // Of the windows holding now, the one ending last says when deployments may resume.
    let holding = windows
        .iter()
        .filter_map(|window| window.end_if_within(now).map(|until| (until, window)))
        .max_by_key(|(until, _)| *until);
    Some(match holding {
        None => Gate { detail: GateDetail::Freeze { cause: None }, passed: true, state: "not frozen".into() },
        Some((until, window)) => {
            let until_shown = window.show(until);
            Gate {
                passed: false,
                state: format!("frozen until {until_shown} (window {})", window.range()),
                detail: GateDetail::Freeze {
                    cause: Some(FreezeCause::Window {
                        window: window.range(),
                        zone: window.zone_name().to_string(),
                        until,
                        until_shown,
                    }),
                },
            }
        }
    })
}

/// Elapsed time as shown: whole minutes once past a minute (`1h12m`, not `1h12m34s`).
fn elapsed_shown(seconds: u64) -> u64 {
    if seconds >= 60 { seconds - seconds % 60 } else { seconds }
}

/// Parses a soak duration: `<n>d`, `<n>h`, `<n>m`, `<n>s` in that order, each at most once,
/// e.g. `2h`, `1h30m`, `1d12h`; above zero.
pub fn parse_span(text: &str) -> Result<Duration, String> {
    const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];
    let invalid =
        || format!("{text:?} is not a duration such as 2h, 1h30m or 1d12h (units d, h, m, s, in that order)");
    let mut rest = text;
    let mut seconds: u64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        let unit = rest[digits..].chars().next().ok_or_else(invalid)?;
        let position = UNITS[next_unit..].iter().position(|(name, _)| *name == unit).ok_or_else(invalid)?;
        let (_, unit_seconds) = UNITS[next_unit + position];
        next_unit += position + 1;
        seconds = number
            .checked_mul(unit_seconds)
            .and_then(|value| seconds.checked_add(value))
            .filter(|total| *total <= MAX_SPAN_SECONDS)
            .ok_or_else(|| format!("{text:?} is longer than 366 days"))?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    if text.is_empty() {
        return Err(invalid());
    }
    if seconds == 0 {
        return Err(format!("{text:?}: give a duration above zero"));
    }
    Ok(Duration::from_secs(seconds))
}

const MAX_SPAN_SECONDS: u64 = 366 * 86_400;

/// `1d2h`, `1h12m`, `45s`, `0s`: every unit that is not zero.
pub fn format_span(seconds: u64) -> String {
    let mut text = String::new();
    let mut rest = seconds;
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            text.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if text.is_empty() { "0s".into() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_in_order_and_show_back() {
        for (text, seconds) in
            [("2h", 7_200), ("1h30m", 5_400), ("1d12h", 129_600), ("90s", 90), ("1d1h1m1s", 90_061)]
        {
            assert_eq!(parse_span(text), Ok(Duration::from_secs(seconds)), "{text}");
        }
        assert_eq!(format_span(5_400), "1h30m");
        assert_eq!(format_span(90_061), "1d1h1m1s");
        assert_eq!(format_span(0), "0s");
        for bad in [
            "",
            "0h",
            "0d0s",
            "2",
            "h",
            "2x",
            "1m1h",
            "1h1h",
            "1h 30m",
            "-1h",
            "1.5h",
            "367d",
            "99999999999999999999s",
        ] {
            assert!(parse_span(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn approvers_are_people_or_teams() {
        assert_eq!(Approver::parse("alice@example.com"), Ok(Approver::Person("alice@example.com".into())));
        assert_eq!(Approver::parse("team:release"), Ok(Approver::Team("release".into())));
        for bad in ["", "team:", "a b", "team:a b"] {
            assert!(Approver::parse(bad).is_err(), "{bad:?}");
        }
    }
}
