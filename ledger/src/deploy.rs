//! Deployments: what a plan is, and recording its intent and outcome.
//!
//! A plan is made against a snapshot; recording it re-checks, inside the write transaction,
//! that the environment has not moved since, so a confirmation given for one state is never
//! applied to another.

use std::collections::BTreeMap;

use crate::entry::{
    Change, DeployResult, Deployment, Outcome, ReleaseSet, ServiceOutcome, StoredEntry, Trigger,
};
use crate::governance;
use crate::history::{self, HistoryError, State};
use crate::id::EntryId;
use crate::plan::changes_towards;
use crate::store::{Source, Stamp, StoreError, Writer};

/// Where a plan's releases come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetSource {
    /// An existing release set.
    Existing(EntryId),
    /// A release set made from the latest releases, recorded together with the deployment.
    New(ReleaseSet),
    /// No release set: a promotion or a rollback.
    None,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub env: String,
    /// The environment head the plan was made against.
    pub head: Option<EntryId>,
    pub set: SetSource,
    pub trigger: Trigger,
    pub changes: BTreeMap<String, Change>,
}

impl Plan {
    /// A plan taking `env` from what it runs now towards `target`.
    pub fn towards(
        source: &impl Source,
        env: &str,
        set: SetSource,
        trigger: Trigger,
        target: &State,
    ) -> Result<Plan, HistoryError> {
        let head = source.ref_target(&crate::refs::RefName::env(env))?;
        let changes = changes_towards(&source.env_state(env)?, target);
        Ok(Plan { env: env.to_string(), head, set, trigger, changes })
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// The deployment and outcome entries one record-only apply wrote.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub deployment: StoredEntry,
    pub outcome: StoredEntry,
}

/// Records the intent (and the new release set, if the plan makes one).
pub fn record_intent(writer: &mut Writer<'_>, stamp: &Stamp, plan: &Plan) -> Result<StoredEntry, StoreError> {
    let release_set = match &plan.set {
        SetSource::Existing(id) => Some(*id),
        SetSource::New(set) => Some(writer.record_release_set(stamp.clone(), set.clone())?.id),
        SetSource::None => None,
    };
    let deployment = Deployment {
        env: plan.env.clone(),
        release_set,
        trigger: plan.trigger.clone(),
        changes: plan.changes.clone(),
    };
    writer.record_deployment(stamp.clone(), plan.head, deployment)
}

/// Records a plan on a record-only environment: nothing is called, so every change is
/// recorded as done, in one transaction with its intent.
pub fn record_only(writer: &mut Writer<'_>, stamp: &Stamp, plan: &Plan) -> Result<Recorded, StoreError> {
    let deployment = record_intent(writer, stamp, plan)?;
    let services = plan
        .changes
        .iter()
        .map(|(service, change)| {
            let outcome = ServiceOutcome {
                result: DeployResult::Succeeded,
                running: Some(change.to),
                task_definition: None,
                ecs_deployment: None,
                // Nothing was called, so there is nothing to report.
                detail: String::new(),
            };
            (service.clone(), outcome)
        })
        .collect();
    let outcome = Outcome { result: DeployResult::Succeeded, services };
    let outcome_stamp = Stamp { message: String::new(), ..stamp.clone() };
    let outcome = writer.record_outcome(outcome_stamp, deployment.id, outcome)?;
    Ok(Recorded { deployment, outcome })
}

/// What a rollback restores, the trigger to record, and why that state was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackTarget {
    pub state: State,
    pub trigger: Trigger,
    pub why: String,
}

/// What a rollback of `env` restores: the state right after deployment `to`, or else the
/// newest state of `env` that differs from what runs now, whose deployment succeeded, that no
/// rollback has left since, and that holds no quarantined release. `None` when there is none.
pub fn rollback_target(
    source: &impl Source,
    env: &str,
    to: Option<EntryId>,
) -> Result<Option<RollbackTarget>, HistoryError> {
    if let Some(deployment) = to {
        let state = history::state_after(source, env, Some(deployment))?;
        let why = format!("the state right after deployment {}, as asked with --to", deployment.short());
        return Ok(Some(RollbackTarget { state, trigger: Trigger::Rollback { to: Some(deployment) }, why }));
    }
    let quarantined = governance::quarantined(source)?;
    let now = source.env_state(env)?;
    // The state right after the deployment being looked at, walking from the newest back.
    let mut state = now.clone();
    let mut left_by_rollback: Vec<State> = Vec::new();
    let mut newer_is_rollback = false;
    let mut passed_over = Vec::new();
    for row in history::env_rows(source, env)? {
        let record = history::record_of(source, env, row)?;
        let id = record.deployment.id;
        let deployment = record.deployment.entry.as_deployment().expect("checked by record_of");
        if newer_is_rollback {
            left_by_rollback.push(state.clone());
        }
        let bad = state.values().find_map(|release| quarantined.get(release).map(|q| (release, q)));
        let skipped = if state == now {
            None
        } else if record.result() != Some(DeployResult::Succeeded) {
            Some(format!("{} {}", id.short(), record.result().map_or("has no outcome", DeployResult::as_str)))
        } else if left_by_rollback.contains(&state) {
            Some(format!("{} was rolled back since", id.short()))
        } else if let Some((release, _)) = bad {
            Some(format!("{} holds quarantined release {}", id.short(), release.short()))
        } else {
            let mut why = format!(
                "the state right after deployment {} ({}): the newest that succeeded, was not rolled back since and holds no quarantined release",
                id.short(),
                record.deployment.entry.at.to_human()
            );
            if !passed_over.is_empty() {
                why.push_str(&format!("; passed over: {}", passed_over.join(", ")));
            }
            return Ok(Some(RollbackTarget { state, trigger: Trigger::Rollback { to: Some(id) }, why }));
        };
        passed_over.extend(skipped);
        for (service, change) in &deployment.changes {
            match change.from {
                Some(from) => state.insert(service.clone(), from),
                None => state.remove(service),
            };
        }
        newer_is_rollback = matches!(deployment.trigger.unforced(), Trigger::Rollback { .. });
    }
    Ok(None)
}
