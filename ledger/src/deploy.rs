//! Deployments: what a plan is, and recording its intent and outcome.
//!
//! A plan is made against a snapshot; recording it re-checks, inside the write transaction,
//! that the environment has not moved since, so a confirmation given for one state is never
//! applied to another.

use std::collections::BTreeMap;

use crate::entry::{
    Change, DeployResult, Deployment, Outcome, ReleaseSet, ServiceOutcome, StoredEntry, Trigger,
};
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

/// What a rollback of `env` restores: the state before its last successful deployment, or the
/// state right after deployment `to`. Returns the restored state and the trigger to record;
/// `None` when there is no successful deployment to undo.
pub fn rollback_target(
    source: &impl Source,
    env: &str,
    to: Option<EntryId>,
) -> Result<Option<(State, Trigger)>, HistoryError> {
    let restore_after = match to {
        Some(deployment) => Some(deployment),
        None => {
            let rows = history::env_rows(source, env)?;
            let mut last_successful = None;
            for (index, row) in rows.iter().enumerate() {
                if history::result_of(source, env, *row)? == Some(DeployResult::Succeeded) {
                    last_successful = Some(index);
                    break;
                }
            }
            let Some(index) = last_successful else { return Ok(None) };
            // The deployment recorded just before the last successful one, if any.
            match rows.get(index + 1) {
                Some(previous) => Some(history::record_of(source, env, *previous)?.deployment.id),
                None => None,
            }
        }
    };
    let state = history::state_after(source, env, restore_after)?;
    Ok(Some((state, Trigger::Rollback { to: restore_after })))
}
