//! An environment's policy applied to a plan: the facts the gates need, gathered from the ledger
//! (approvals, freezes and quarantines recorded by the whole team, upstream environments'
//! deployments), evaluated by [`ledger::policy`], and enforced — the plan refused (exit 4), or
//! forced with `--override` and recorded as forced.

use std::collections::{BTreeMap, BTreeSet};

use ledger::deploy::{Plan, SetSource};
use ledger::entry::Change;
use ledger::governance;
use ledger::history::{self, State};
use ledger::manifest::Environment;
use ledger::policy::{self, Approval, Facts, Gate, ManualFreeze, QuarantinedRelease, Upstream};
use ledger::refs::RefName;
use ledger::store::Scope;
use ledger::{DeployResult, EntryId, Source, Timestamp, Trigger};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::views::{PlanView, Releases};
use crate::workspace::Workspace;

/// How many of an environment's newest approvals are searched for one that covers a plan.
const APPROVALS_SEARCHED: usize = 10_000;

/// The gates of `plan.env`'s policy for `plan`, applied by `applier` at `now` (none for a plan
/// that changes nothing).
pub fn evaluate<S: Source>(
    workspace: &Workspace,
    releases: &Releases<'_, S>,
    plan: &Plan,
    applier: &str,
    now: Timestamp,
) -> Result<Vec<Gate>> {
    if plan.is_empty() {
        return Ok(Vec::new());
    }
    let env = workspace.environment(&plan.env)?;
    let facts = facts(releases, &env.policy, plan, applier)?;
    Ok(policy::evaluate(&env.policy, &workspace.manifest.teams, &facts, now))
}

/// `plan` as it may be recorded under `gates`: as it is when every gate passed; forced past the
/// gates that did not, with `--override` (`reason` given) where the environment allows it;
/// otherwise refused.
pub fn enforce(env: &Environment, plan: Plan, gates: &[Gate], reason: Option<&str>) -> Result<Plan> {
    let failed: Vec<&Gate> = gates.iter().filter(|gate| !gate.passed).collect();
    if failed.is_empty() {
        return Ok(plan);
    }
    let states: Vec<String> = failed.iter().map(|gate| format!("  {}", gate.state)).collect();
    let refusal = |hint: String| {
        Error::refused(format!("the policy of {} refuses this deployment:\n{}", plan.env, states.join("\n")))
            .with_gates(gates.to_vec())
            .hint(hint)
    };
    match reason {
        None => Err(refusal(if env.policy.overrides_allowed() {
            format!(
                "meet the gates (`ledger approvals {}` shows what waits), or pass them by force with `--override -m <reason>`: the deployment records it",
                plan.env
            )
        } else {
            format!("{} allows no override (`override = false`)", plan.env)
        })),
        Some(_) if !env.policy.overrides_allowed() => {
            Err(refusal(format!("{} allows no override (`override = false` in ledger.toml)", plan.env)))
        }
        Some(_) => {
            let kinds: Vec<String> = failed.iter().map(|gate| gate.kind().to_string()).collect();
            let trigger = Trigger::Forced { trigger: Box::new(plan.trigger), gates: kinds };
            Ok(Plan { trigger, ..plan })
        }
    }
}

/// What the gates need to know of `plan`, read from the ledger; the parts of it a gate the
/// policy does not set needs are left empty.
fn facts<S: Source>(
    releases: &Releases<'_, S>,
    policy: &policy::Policy,
    plan: &Plan,
    applier: &str,
) -> Result<Facts> {
    let source = releases.source();
    let mut upstream = BTreeMap::new();
    for required in &policy.requires {
        upstream.insert(required.clone(), upstream_of(source, required, &plan.changes)?);
    }
    let mut approvals = Vec::new();
    let mut releasers = BTreeSet::new();
    if policy.approvals > 0 {
        approvals = approvals_covering(source, &plan.env, &plan.changes)?;
        for change in plan.changes.values() {
            releasers.extend(source.entry(&change.to)?.map(|release| release.entry.actor));
        }
        if let SetSource::Existing(set) = &plan.set {
            releasers.extend(source.entry(set)?.map(|set| set.entry.actor));
        }
    }
    let manual_freeze = manual_freeze(source, &plan.env)?;
    let quarantines = governance::quarantined(source)?;
    let mut quarantined = Vec::new();
    for (service, change) in &plan.changes {
        if let Some(found) = quarantines.get(&change.to) {
            quarantined.push(QuarantinedRelease {
                service: service.clone(),
                release: change.to.to_hex(),
                label: releases.view(change.to)?.label.clone(),
                reason: found.by.message.clone(),
            });
        }
    }
    Ok(Facts { upstream, approvals, releasers, applier: applier.to_string(), manual_freeze, quarantined })
}

/// The manual freeze (`ledger freeze`) in force on `env`, as the policy reads it.
fn manual_freeze(source: &impl Source, env: &str) -> Result<Option<ManualFreeze>> {
    Ok(governance::manual_freeze(source, env)?.map(|freeze| ManualFreeze {
        actor: freeze.actor,
        at: freeze.at,
        message: freeze.message,
    }))
}

/// How the releases `changes` deploy fared in environment `env`: whether each has a successful
/// deployment there, and, when all run there now, since when without a failure there.
fn upstream_of(source: &impl Source, env: &str, changes: &BTreeMap<String, Change>) -> Result<Upstream> {
    let running = source.env_state(env)?;
    let mut succeeded = true;
    let mut all_running = true;
    // The newest of the deployments that made each release succeed there: (position, time).
    let mut newest: Option<(u64, Timestamp)> = None;
    for (service, change) in changes {
        match newest_success(source, env, service, change.to)? {
            Some(found) => newest = newest.max(Some(found)),
            None => succeeded = false,
        }
        all_running &= running.get(service) == Some(&change.to);
    }
    let running_since = match newest {
        Some((seq, at)) if succeeded && all_running => Some(last_failure_after(source, env, seq)?.max(at)),
        _ => None,
    };
    Ok(Upstream { succeeded, running_since })
}

/// The newest successful deployment to `env` that took `service` to `release`: its position
/// and the time its outcome was recorded.
fn newest_success(
    source: &impl Source,
    env: &str,
    service: &str,
    release: EntryId,
) -> Result<Option<(u64, Timestamp)>> {
    for seq in source.newest_in(&Scope::EnvService(env, service), usize::MAX)? {
        let Some(row) = source.env_log_row(env, seq)? else { continue };
        let record = history::record_of(source, env, row)?;
        let to = record.deployment.entry.as_deployment().and_then(|d| d.changes.get(service)).map(|c| c.to);
        if to == Some(release)
            && record.result() == Some(DeployResult::Succeeded)
            && let Some(outcome) = &record.outcome
        {
            return Ok(Some((seq, outcome.entry.at)));
        }
    }
    Ok(None)
}

/// When the last deployment to `env` after position `seq` that failed ended (the epoch when
/// none did): soak counts from the later of that and the success.
fn last_failure_after(source: &impl Source, env: &str, seq: u64) -> Result<Timestamp> {
    let mut last = Timestamp(0);
    for deployment in source.env_log_after(env, seq, usize::MAX)? {
        let Some(row) = source.env_log_row(env, deployment)? else { continue };
        let record = history::record_of(source, env, row)?;
        if matches!(record.result(), Some(DeployResult::Failed | DeployResult::RolledBack))
            && let Some(outcome) = &record.outcome
        {
            last = last.max(outcome.entry.at);
        }
    }
    Ok(last)
}

/// The approvals for `env` of release sets that hold every release `changes` deploys.
fn approvals_covering(
    source: &impl Source,
    env: &str,
    changes: &BTreeMap<String, Change>,
) -> Result<Vec<Approval>> {
    let mut covering: BTreeMap<EntryId, bool> = BTreeMap::new();
    let mut approvals = Vec::new();
    for (set, approval) in governance::newest_approvals(source, env, APPROVALS_SEARCHED)? {
        let covers = match covering.get(&set) {
            Some(covers) => *covers,
            None => {
                let releases = source.entry(&set)?.and_then(|stored| stored.entry.as_release_set().cloned());
                let covers = releases.is_some_and(|releases| {
                    changes.iter().all(|(service, change)| releases.releases.get(service) == Some(&change.to))
                });
                covering.insert(set, covers);
                covers
            }
        };
        if covers {
            approvals.push(Approval { actor: approval.actor, at: approval.at });
        }
    }
    Ok(approvals)
}

/// What a deployment of `target` to `env` would change, and the gates it meets now. The
/// applier is not known here: every approval but the releasers' counts.
pub fn for_target<S: Source>(
    workspace: &Workspace,
    releases: &Releases<'_, S>,
    env: &str,
    set: SetSource,
    trigger: Trigger,
    target: &State,
    now: Timestamp,
) -> Result<(Plan, Vec<Gate>)> {
    let plan = Plan::towards(releases.source(), env, set, trigger, target)?;
    let gates = evaluate(workspace, releases, &plan, "", now)?;
    Ok((plan, gates))
}

/// What waits to reach an environment, and at which gate.
pub struct Waiting {
    pub env: String,
    /// The freeze that holds now (a window of the policy, or `ledger freeze`), if any.
    pub frozen: Option<Gate>,
    /// What a promotion from each environment the policy requires would deploy (when it would
    /// change anything), with its gates.
    pub candidates: Vec<Candidate>,
}

/// A promotion waiting to happen: its plan, with its gates.
pub struct Candidate {
    pub from_env: String,
    pub plan: PlanView,
}

impl Waiting {
    /// `{"env", "frozen": gate | null, "waiting": [{"from_env", "plan"}]}`, each plan as
    /// `apply --dry-run` shows it (`gates` included).
    pub fn json(&self) -> Value {
        let waiting: Vec<Value> = self
            .candidates
            .iter()
            .map(|candidate| json!({"from_env": candidate.from_env, "plan": candidate.plan.json()}))
            .collect();
        json!({"env": self.env, "frozen": self.frozen, "waiting": waiting})
    }
}

/// What waits to reach `env` at `now`: its freeze, and each promotion its policy's
/// `requires` names.
pub fn waiting<S: Source>(
    workspace: &Workspace,
    releases: &Releases<'_, S>,
    env: &str,
    now: Timestamp,
) -> Result<Waiting> {
    let source = releases.source();
    let policy = &workspace.environment(env)?.policy;
    let manual = manual_freeze(source, env)?;
    let frozen = policy::freeze_gate(&policy.freeze, manual.as_ref(), now).filter(|gate| !gate.passed);
    let mut candidates = Vec::new();
    for from_env in &policy.requires {
        let target = source.env_state(from_env)?;
        let from_head = source.ref_target(&RefName::env(from_env))?;
        let trigger = Trigger::Promote { from_env: from_env.clone(), from_head };
        let (plan, gates) = for_target(workspace, releases, env, SetSource::None, trigger, &target, now)?;
        if !plan.is_empty() {
            let mut view = PlanView::load(releases, &plan, Vec::new())?;
            view.gates = gates;
            candidates.push(Candidate { from_env: from_env.clone(), plan: view });
        }
    }
    Ok(Waiting { env: env.to_string(), frozen, candidates })
}
