//! What the read commands and the dashboard both show, loaded once and rendered either way:
//! an environment's status and a comparison of two sides.

use std::collections::BTreeMap;
use std::rc::Rc;

use ledger::diff::{ChangeKind, ServiceDiff, diff_states};
use ledger::history::{self, DeploymentRecord, State};
use ledger::store::{Unfinished, refs};
use ledger::{Body, EntryId, Source};
use serde_json::{Map, Value, json};

use crate::error::CommandError;
use crate::git;
use crate::output::{ReleaseView, Releases};
use crate::workspace::{Workspace, git_dir};

/// Most commit subjects listed per service in a comparison.
const MAX_COMMITS: usize = 50;

/// An environment as the ledger records it: what runs, how its last deployment ended, and
/// any deployment without a final outcome.
pub struct EnvStatus {
    pub env: String,
    pub head: Option<EntryId>,
    pub state: BTreeMap<String, Rc<ReleaseView>>,
    /// The newest deployment that has an outcome.
    pub last: Option<DeploymentRecord>,
    pub unfinished: Option<Unfinished>,
}

impl EnvStatus {
    pub fn load<S: Source>(releases: &Releases<'_, S>, env: &str) -> Result<EnvStatus, CommandError> {
        let reader = releases.source();
        let head = reader.ref_target(&refs::env(env))?;
        let unfinished = history::unfinished(reader, env)?;
        let recent = history::env_deployments(reader, env, 2)?;
        let last = recent.into_iter().find(|record| record.outcome.is_some());
        let placed = reader.env_state_placed(env)?;
        releases.learn_placed(&placed)?;
        let state = placed
            .into_iter()
            .map(|(service, (id, _))| Ok((service, releases.view(id)?)))
            .collect::<Result<_, CommandError>>()?;
        Ok(EnvStatus { env: env.to_string(), head, state, last, unfinished })
    }

    /// The shape of `status --output json` (without `--live`).
    pub fn json(&self) -> Value {
        let state: Map<String, Value> =
            self.state.iter().map(|(service, view)| (service.clone(), view.json())).collect();
        json!({
            "env": self.env,
            "head": self.head.map(|id| id.to_hex()),
            "state": state,
            "last_result": self.last.as_ref().and_then(DeploymentRecord::result).map(|r| r.as_str()),
            "in_flight": self.unfinished.is_some_and(|u| u.submitted.is_none()),
            "submitted": self.unfinished.is_some_and(|u| u.submitted.is_some()),
        })
    }
}

/// Two sides compared service by service, with the commits between changed revisions when
/// asked for.
pub struct Comparison {
    pub from: String,
    pub to: String,
    pub diffs: Vec<ServiceDiff>,
    /// Changed service → commit subjects (`None`: unknown to the git repository here).
    pub commits: BTreeMap<String, Option<Vec<String>>>,
}

impl Comparison {
    /// Compares side `from` with side `to`: each an environment, a service set, or the id or
    /// prefix of a release set or deployment.
    pub fn load<S: Source>(
        workspace: &Workspace,
        releases: &Releases<'_, S>,
        from: &str,
        to: &str,
        with_commits: bool,
    ) -> Result<Comparison, CommandError> {
        let diffs =
            diff_states(&side_state(workspace, releases, from)?, &side_state(workspace, releases, to)?);
        let mut commits = BTreeMap::new();
        if with_commits {
            for diff in diffs.iter().filter(|diff| diff.change == ChangeKind::Changed) {
                commits.insert(diff.service.clone(), commits_between(releases, diff.from, diff.to)?);
            }
        }
        Ok(Comparison { from: from.to_string(), to: to.to_string(), diffs, commits })
    }

    /// The shape of `diff --output json`.
    pub fn json<S: Source>(&self, releases: &Releases<'_, S>) -> Result<Value, CommandError> {
        let mut changes = Vec::new();
        for diff in &self.diffs {
            let mut change = json!({
                "service": diff.service,
                "change": diff.change.as_str(),
                "from": releases.json(diff.from)?,
                "to": releases.json(diff.to)?,
            });
            if let Some(commits) = self.commits.get(&diff.service) {
                change["commits"] = json!(commits);
            }
            changes.push(change);
        }
        Ok(json!({"from": self.from, "to": self.to, "changes": changes}))
    }
}

/// The commits between two releases' revisions, whichever way they lie.
fn commits_between<S: Source>(
    releases: &Releases<'_, S>,
    from: Option<EntryId>,
    to: Option<EntryId>,
) -> Result<Option<Vec<String>>, CommandError> {
    let revision = |id: Option<EntryId>| -> Result<Option<String>, CommandError> {
        Ok(match id {
            Some(id) => releases.view(id)?.revision.clone(),
            None => None,
        })
    };
    let (Some(from), Some(to)) = (revision(from)?, revision(to)?) else {
        return Ok(None);
    };
    let dir = git_dir();
    let forward = git::commits_between(&dir, &from, &to, MAX_COMMITS);
    Ok(match forward {
        Some(commits) if commits.is_empty() => git::commits_between(&dir, &to, &from, MAX_COMMITS),
        other => other,
    })
}

/// The state a comparison side names.
fn side_state<S: Source>(
    workspace: &Workspace,
    releases: &Releases<'_, S>,
    text: &str,
) -> Result<State, CommandError> {
    let reader = releases.source();
    if workspace.manifest.environments.contains_key(text) {
        let placed = reader.env_state_placed(text)?;
        releases.learn_placed(&placed)?;
        return Ok(placed.into_iter().map(|(service, (id, _))| (service, id)).collect());
    }
    let id = crate::commands::resolve_target(workspace, reader, text).map_err(|e| {
        e.with_hint("each side is an environment, a service set, or a release set or deployment id")
    })?;
    let stored = reader.entry(&id)?.ok_or_else(|| CommandError::failed(format!("entry {id} is missing")))?;
    match &stored.entry.body {
        Body::ReleaseSet(set) => Ok(set.releases.clone()),
        Body::Deployment(deployment) => Ok(history::state_after(reader, &deployment.env, Some(id))?),
        Body::Outcome(_) => {
            let deployment = stored.entry.parents[0];
            let env = reader
                .entry(&deployment)?
                .and_then(|d| d.entry.as_deployment().map(|d| d.env.clone()))
                .ok_or_else(|| CommandError::failed(format!("deployment {deployment} is missing")))?;
            Ok(history::state_after(reader, &env, Some(deployment))?)
        }
        Body::Release(_) => Err(CommandError::user(format!(
            "{text} is a release; diff compares environments, release sets or deployments"
        ))),
    }
}
