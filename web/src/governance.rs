//! Policies as the pages show them: gates passed or refused, an environment's freeze, what waits
//! to reach it, and a deployment forced past its gates. The facts come from the application
//! layer ([`ledger_app::gates`]); this module only shapes them for the templates.

use ledger_app::gates::Waiting;
use ledger_app::ledger::governance::Recorded;
use ledger_app::ledger::policy::{FreezeCause, Gate, GateDetail};
use ledger_app::ledger::{Entry, Source};
use ledger_app::views::{PlanView, Releases};

use super::PageError;
use super::signature::SignatureMark;

/// One gate's verdict.
pub struct GateView {
    /// `requires`, `soak`, `approvals`, `freeze` or `quarantine`.
    pub kind: &'static str,
    pub passed: bool,
    /// The policy's line for people, e.g. `approvals 1 of 2: alice`.
    pub state: String,
}

impl GateView {
    pub fn of(gate: &Gate) -> GateView {
        GateView { kind: gate.kind(), passed: gate.passed, state: gate.state.clone() }
    }

    pub fn all(gates: &[Gate]) -> Vec<GateView> {
        gates.iter().map(GateView::of).collect()
    }

    /// `passed` or `refused`: the class and `data-verdict` of its element.
    pub fn verdict(&self) -> &'static str {
        if self.passed { "passed" } else { "refused" }
    }
}

/// Why an environment is frozen now.
pub struct Frozen {
    /// `window` (a freeze window of the policy) or `manual` (`ledger freeze`).
    pub cause: &'static str,
    /// Until when, or by whom, since when and why.
    pub text: String,
}

impl Frozen {
    /// The freeze `gate` holds, when it holds one.
    fn of(gate: &Gate) -> Option<Frozen> {
        if gate.passed {
            return None;
        }
        let GateDetail::Freeze { cause: Some(cause) } = &gate.detail else { return None };
        Some(match cause {
            FreezeCause::Window { .. } => Frozen { cause: "window", text: gate.state.clone() },
            FreezeCause::Manual(freeze) => Frozen {
                cause: "manual",
                text: format!(
                    "frozen by {} since {}: {}",
                    freeze.actor,
                    freeze.at.to_human(),
                    freeze.message
                ),
            },
        })
    }
}

/// A promotion waiting to reach an environment, with its gates.
pub struct Candidate {
    pub from_env: String,
    /// `service: from → to`, one per service it would change.
    pub changes: Vec<String>,
    pub gates: Vec<GateView>,
}

impl Candidate {
    /// Whether every gate passed: the promotion may run now.
    pub fn ready(&self) -> bool {
        self.gates.iter().all(|gate| gate.passed)
    }
}

/// Lines of a plan's changes: `api: v1 0000001 → v2 0000002`.
pub fn changes(plan: &PlanView) -> Vec<String> {
    plan.changes
        .iter()
        .map(|change| {
            let from = change.from.as_ref().map_or_else(|| "nothing".to_string(), |view| view.human());
            format!("{}: {from} → {}", change.service, change.to.human())
        })
        .collect()
}

/// An environment's freeze now and the promotions waiting to reach it.
pub struct EnvGates {
    pub frozen: Option<Frozen>,
    pub waiting: Vec<Candidate>,
}

impl EnvGates {
    pub fn of(waiting: &Waiting) -> EnvGates {
        EnvGates {
            frozen: waiting.frozen.as_ref().and_then(Frozen::of),
            waiting: waiting
                .candidates
                .iter()
                .map(|candidate| Candidate {
                    from_env: candidate.from_env.clone(),
                    changes: changes(&candidate.plan),
                    gates: GateView::all(&candidate.plan.gates),
                })
                .collect(),
        }
    }
}

/// A deployment forced past its gates: which, and why (its message).
pub struct Forced {
    /// The gates passed by force, e.g. `approvals, freeze`.
    pub gates: String,
    pub reason: String,
}

impl Forced {
    /// How `entry` was forced, when it is a forced deployment.
    pub fn of(entry: &Entry) -> Option<Forced> {
        let gates = entry.as_deployment()?.trigger.forced_gates()?;
        Some(Forced { gates: gates.join(", "), reason: entry.message.clone() })
    }
}

/// An approval as the pages list it, with its signature's mark: an approval is only as good
/// as the proof of who gave it.
pub struct ApprovalView {
    pub id: String,
    pub short: String,
    pub actor: String,
    pub at: String,
    pub message: String,
    pub signature: SignatureMark,
}

impl ApprovalView {
    pub fn of<S: Source>(releases: &Releases<'_, S>, recorded: &Recorded) -> Result<ApprovalView, PageError> {
        let stored = releases
            .source()
            .entry(&recorded.id)?
            .ok_or_else(|| PageError::damaged(format!("approval {} is missing", recorded.id)))?;
        Ok(ApprovalView {
            id: recorded.id.to_hex(),
            short: recorded.id.short(),
            actor: recorded.actor.clone(),
            at: recorded.at.to_human(),
            message: recorded.message.clone(),
            signature: SignatureMark::of(releases, &stored)?,
        })
    }
}
