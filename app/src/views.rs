//! What the front ends show, loaded once from a read of the ledger and rendered by each its
//! own way (a table, a page, JSON): releases, an environment's status, a comparison of two
//! sides, a deployment's plan, and the name-aware lookup `show`, `diff` and the dashboard share.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::rc::Rc;

use ledger::deploy::Plan;
use ledger::diff::{ChangeKind, ServiceDiff, diff_states};
use ledger::history::{self, DeploymentRecord, State};
use ledger::policy::Gate;
use ledger::refs::RefName;
use ledger::resolve::{looks_like_id, resolve};
use ledger::signing::{Judgement, Trust};
use ledger::store::Unfinished;
use ledger::{Body, EntryId, ReleaseSet, Source, StoredEntry, Timestamp, Trigger};
use ledger_sync::rollout::Preview;
use ledger_sync::task_json::FieldChange;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::git;
use crate::text::inert;
use crate::workspace::{Workspace, git_dir};

/// A release as tables and JSON show it.
pub struct ReleaseView {
    pub id: EntryId,
    /// When the release was recorded.
    pub at: Timestamp,
    /// The full image reference, digest-pinned when known.
    pub image: String,
    /// The tag, else the short digest.
    pub label: String,
    pub revision: Option<String>,
}

impl ReleaseView {
    pub fn load(source: &impl Source, id: EntryId) -> Result<ReleaseView> {
        let stored = source
            .entry(&id)?
            .ok_or_else(|| Error::failed(format!("release {id} is missing; run `ledger verify`")))?;
        ReleaseView::of(&stored)
            .ok_or_else(|| Error::failed(format!("entry {id} is referenced as a release but is not one")))
    }

    /// The view of a stored release; `None` when the entry is not one.
    fn of(stored: &StoredEntry) -> Option<ReleaseView> {
        let release = stored.entry.as_release()?;
        let label = match (ledger::image::ImageRef::tag_of(&release.image), &release.digest) {
            (Some(tag), _) => tag.to_string(),
            (None, Some(digest)) => format!("@{}", digest.get(..19).unwrap_or(digest)),
            (None, None) => "untagged".into(),
        };
        Some(ReleaseView {
            id: stored.id,
            at: stored.entry.at,
            image: release.image_ref(),
            label,
            revision: release.revision.clone(),
        })
    }

    /// The first 7 characters of the revision.
    pub fn short_revision(&self) -> Option<&str> {
        self.revision.as_deref().map(|revision| &revision[..revision.len().min(7)])
    }

    /// `v1.4.0 3b18e51`: the tag and the short revision, safe to show (see [`inert`]).
    pub fn human(&self) -> String {
        let shown = match self.short_revision() {
            Some(revision) => format!("{} {revision}", self.label),
            None => self.label.clone(),
        };
        let made_inert = match inert(&shown) {
            Cow::Owned(made_inert) => Some(made_inert),
            Cow::Borrowed(_) => None,
        };
        made_inert.unwrap_or(shown)
    }

    pub fn json(&self) -> Value {
        json!({"release": self.id.to_hex(), "image": self.image, "revision": self.revision})
    }
}

/// Release views of one command, each release loaded once: consecutive deployments name the
/// same releases over and over.
pub struct Releases<'s, S> {
    source: &'s S,
    /// What judges the signatures of the entries shown.
    trust: &'s Trust,
    seen: RefCell<BTreeMap<EntryId, Rc<ReleaseView>>>,
}

impl<'s, S: Source> Releases<'s, S> {
    pub fn new(source: &'s S, trust: &'s Trust) -> Releases<'s, S> {
        Releases { source, trust, seen: RefCell::new(BTreeMap::new()) }
    }

    pub fn source(&self) -> &'s S {
        self.source
    }

    /// What the signing policy makes of `stored`'s signature. (An unsigned entry is judged
    /// without its environment, which only the rules for signers ask.)
    pub fn signature(&self, stored: &StoredEntry) -> Result<SignatureView> {
        let env = match (&stored.signature, &stored.entry.body, stored.entry.parents.first()) {
            (None, _, _) => None,
            (Some(_), ledger::Body::Outcome(_), Some(deployment)) => self
                .source
                .entry(deployment)?
                .and_then(|deployment| deployment.entry.as_deployment().map(|d| d.env.clone())),
            (Some(_), _, _) => stored.entry.environment().map(str::to_string),
        };
        Ok(SignatureView(self.trust.judge(stored, env.as_deref())))
    }

    /// The releases that `records` show (what each deployment changed from and to, what its
    /// outcome found running) and that are not known yet.
    pub fn unknown_releases(&self, records: &[DeploymentRecord]) -> BTreeSet<EntryId> {
        let mut wanted = BTreeSet::new();
        for record in records {
            if let Some(deployment) = record.deployment.entry.as_deployment() {
                wanted.extend(
                    deployment.changes.values().flat_map(|change| change.from.into_iter().chain([change.to])),
                );
            }
            if let Some(outcome) = record.outcome.as_ref().and_then(|outcome| outcome.entry.as_outcome()) {
                wanted.extend(outcome.services.values().filter_map(|service| service.running));
            }
        }
        wanted.retain(|id| !self.seen.borrow().contains_key(id));
        wanted
    }

    /// Learns the releases among `wanted` that were recorded at the positions `seqs`, with one
    /// sequential read (cheaper than looking recent releases up one id at a time), and takes
    /// them out of `wanted`.
    pub fn learn_between(&self, seqs: Range<u64>, wanted: &mut BTreeSet<EntryId>) -> Result<()> {
        for stored in self.source.releases_in(seqs, wanted)? {
            wanted.remove(&stored.id);
            self.learn(&stored);
        }
        Ok(())
    }

    /// Learns the releases of a state, as the store read and checked them.
    pub fn learn_state(&self, state: &BTreeMap<String, StoredEntry>) {
        for stored in state.values() {
            self.learn(stored);
        }
    }

    fn learn(&self, stored: &StoredEntry) {
        if let Some(view) = ReleaseView::of(stored) {
            self.seen.borrow_mut().insert(stored.id, Rc::new(view));
        }
    }

    pub fn view(&self, id: EntryId) -> Result<Rc<ReleaseView>> {
        if let Some(view) = self.seen.borrow().get(&id) {
            return Ok(view.clone());
        }
        let view = Rc::new(ReleaseView::load(self.source, id)?);
        self.seen.borrow_mut().insert(id, view.clone());
        Ok(view)
    }

    /// A release side that may be absent: `-` when it is.
    pub fn human(&self, id: Option<EntryId>) -> Result<String> {
        Ok(match id {
            Some(id) => self.view(id)?.human(),
            None => "-".into(),
        })
    }

    /// A release side that may be absent: `null` when it is.
    pub fn json(&self, id: Option<EntryId>) -> Result<Value> {
        Ok(match id {
            Some(id) => self.view(id)?.json(),
            None => Value::Null,
        })
    }
}

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
    pub fn load<S: Source>(releases: &Releases<'_, S>, env: &str) -> Result<EnvStatus> {
        let reader = releases.source();
        let head = reader.ref_target(&RefName::env(env))?;
        let unfinished = history::unfinished(reader, env)?;
        let recent = history::env_deployments(reader, env, 2)?;
        let last = recent.into_iter().find(|record| record.outcome.is_some());
        let running = reader.env_releases(env)?;
        releases.learn_state(&running);
        let state = running
            .into_iter()
            .map(|(service, release)| Ok((service, releases.view(release.id)?)))
            .collect::<Result<_>>()?;
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
    ) -> Result<Comparison> {
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
    pub fn json<S: Source>(&self, releases: &Releases<'_, S>) -> Result<Value> {
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
) -> Result<Option<Vec<String>>> {
    let revision = |id: Option<EntryId>| -> Result<Option<String>> {
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
fn side_state<S: Source>(workspace: &Workspace, releases: &Releases<'_, S>, text: &str) -> Result<State> {
    let reader = releases.source();
    if workspace.manifest.environments.contains_key(text) {
        let running = reader.env_releases(text)?;
        releases.learn_state(&running);
        return Ok(running.into_iter().map(|(service, release)| (service, release.id)).collect());
    }
    let id = resolve_target(workspace, reader, text).map_err(|e| {
        e.hint("each side is an environment, a service set, or a release set or deployment id")
    })?;
    let stored = reader.entry(&id)?.ok_or_else(|| Error::failed(format!("entry {id} is missing")))?;
    match &stored.entry.body {
        Body::ReleaseSet(set) => Ok(set.releases.clone()),
        Body::Deployment(deployment) => Ok(history::state_after(reader, &deployment.env, Some(id))?),
        Body::Outcome(_) => {
            let deployment = stored.entry.parents[0];
            let env = reader
                .entry(&deployment)?
                .and_then(|d| d.entry.as_deployment().map(|d| d.env.clone()))
                .ok_or_else(|| Error::failed(format!("deployment {deployment} is missing")))?;
            Ok(history::state_after(reader, &env, Some(deployment))?)
        }
        Body::Release(_)
        | Body::Approval(_)
        | Body::Freeze(_)
        | Body::Unfreeze(_)
        | Body::Quarantine(_)
        | Body::TaskRun(_) => Err(Error::usage(format!(
            "{text} is a {}; diff compares environments, release sets or deployments",
            stored.entry.kind().as_str().replace('_', " ")
        ))),
    }
}

/// The release set `text` names — its id or unique prefix, or a service set's name (that set's
/// latest) — checked to be one. `accepted` names what else the command takes, in the hint when
/// `text` names nothing; `instead` is the hint when it names another kind of entry.
pub fn release_set_named(
    workspace: &Workspace,
    reader: &impl Source,
    text: &str,
    accepted: &str,
    instead: &str,
) -> Result<(EntryId, ReleaseSet)> {
    let id = if workspace.manifest.service_sets.contains_key(text) {
        reader.ref_target(&RefName::set(Some(text)))?.ok_or_else(|| {
            Error::usage(format!("service set {text} has no release set yet"))
                .hint(format!("make one with `ledger release {text}`"))
        })?
    } else {
        resolve(reader, text).map_err(|e| {
            Error::from(e)
                .hint(format!("give a release set id or prefix, a service set's name, or {accepted}"))
        })?
    };
    let stored = reader.entry(&id)?.ok_or_else(|| Error::failed(format!("entry {id} is missing")))?;
    match stored.entry.body {
        Body::ReleaseSet(set) => Ok((id, set)),
        _ => Err(Error::usage(format!(
            "{} is a {}, not a release set",
            id.short(),
            stored.entry.kind().as_str().replace('_', " ")
        ))
        .hint(instead)),
    }
}

/// Names from the manifest first, then refs and id prefixes.
pub fn resolve_target(workspace: &Workspace, reader: &impl Source, text: &str) -> Result<EntryId> {
    let manifest = &workspace.manifest;
    let by_name = if manifest.environments.contains_key(text) {
        Some((RefName::env(text), format!("{text} has no deployments yet")))
    } else if manifest.service_sets.contains_key(text) {
        Some((RefName::set(Some(text)), format!("service set {text} has no release set yet")))
    } else if manifest.services.contains_key(text) {
        Some((RefName::service(text), format!("service {text} has no release yet")))
    } else {
        None
    };
    if let Some((name, empty)) = by_name {
        match reader.ref_target(&name)? {
            Some(target) => return Ok(target),
            None if !looks_like_id(text) => return Err(Error::not_found(empty)),
            // A hex-looking name with no history yet may still be an id prefix.
            None => {}
        }
    }
    Ok(resolve(reader, text)?)
}

/// `apply of set 5b1c2d3e4f5a`, `promote from stage`, `rollback to 1a2b…`.
pub fn describe_trigger(trigger: &Trigger, release_set: Option<EntryId>) -> String {
    match trigger {
        Trigger::Apply => match release_set {
            Some(set) => format!("apply of release set {}", set.short()),
            None => "apply".into(),
        },
        Trigger::Promote { from_env, .. } => format!("promote from {}", inert(from_env)),
        Trigger::Rollback { to: Some(to) } => format!("rollback to the state after {}", to.short()),
        Trigger::Rollback { to: None } => "rollback to the state before the first deployment".into(),
        Trigger::Import => "import of what ECS ran".into(),
        Trigger::Observed { started } => {
            let services: Vec<String> = started
                .iter()
                .map(|(service, at)| format!("{} (ECS started it {})", inert(service), at.to_human()))
                .collect();
            format!("observed on ECS, started by no ledger user: {}", services.join(", "))
        }
        Trigger::Forced { trigger, gates } => {
            format!("{}, forced past {}", describe_trigger(trigger, release_set), gates.join(", "))
        }
    }
}

/// A deployment's plan as the front ends show it: each change with its releases, and notes.
pub struct PlanView {
    pub env: String,
    pub changes: Vec<PlannedChange>,
    /// Lines shown under the plan: services left as they are, and why.
    pub notes: Vec<String>,
    /// The environment policy's gates for this plan, passed or not (none for an empty plan).
    pub gates: Vec<Gate>,
    /// How ECS deploys each service changed (`rolling`, `blue/green, bake time 5m; alarms …`),
    /// when the environment is on ECS and ECS said.
    pub strategies: BTreeMap<String, String>,
    /// For each service changed on ECS, the task definition the rollout would register against
    /// the one running (when ECS said).
    pub definitions: BTreeMap<String, Preview>,
}

/// One service a plan changes.
pub struct PlannedChange {
    pub service: String,
    pub from: Option<Rc<ReleaseView>>,
    pub to: Rc<ReleaseView>,
}

impl PlanView {
    pub fn load<S: Source>(releases: &Releases<'_, S>, plan: &Plan, notes: Vec<String>) -> Result<PlanView> {
        let mut changes = Vec::new();
        for (service, change) in &plan.changes {
            let from = change.from.map(|id| releases.view(id)).transpose()?;
            changes.push(PlannedChange { service: service.clone(), from, to: releases.view(change.to)? });
        }
        Ok(PlanView {
            env: plan.env.clone(),
            changes,
            notes,
            gates: Vec::new(),
            strategies: BTreeMap::new(),
            definitions: BTreeMap::new(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The shape of `plan` in the JSON of `apply`, `promote` and `rollback`.
    pub fn json(&self) -> Value {
        let changes: Vec<Value> = self
            .changes
            .iter()
            .map(|change| {
                json!({
                    "service": change.service,
                    "from": change.from.as_ref().map_or(Value::Null, |view| view.json()),
                    "to": change.to.json(),
                    "strategy": self.strategies.get(&change.service),
                    "task_definition": self.definitions.get(&change.service).map(preview_json),
                })
            })
            .collect();
        json!({"env": self.env, "changes": changes, "notes": self.notes, "gates": self.gates})
    }
}

/// `{"running", "changes": [{"path", "old", "new"}], "diff", "drift": [{"path", "old", "new"}],
/// "drift_unknown"}`: the task definition a plan would register against the one running, and
/// how the running one differs from the one ledger registered.
fn preview_json(preview: &Preview) -> Value {
    let list = |changes: &[FieldChange]| changes.iter().map(FieldChange::json).collect::<Vec<_>>();
    json!({
        "running": preview.running,
        "changes": list(&preview.changes),
        "diff": preview.diff,
        "drift": list(&preview.drift),
        "drift_unknown": preview.drift_unknown,
    })
}

/// `family:revision` of a task definition ARN, as tables show it.
pub use ledger_sync::rollout::short_arn;

/// Why a signature is not checked without a signing policy.
const UNVERIFIED: &str = "there is no [signing] policy in ledger.toml to say whose key it is";

/// An entry's signature as shown: who signed it with which key, and whether the signing
/// policy believes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureView(pub Judgement);

impl SignatureView {
    /// `{"signer", "key", "valid", "problem"}` for a signed entry; `null` for an unsigned one
    /// the policy accepts; for one it needs signed, `valid: false` and the problem.
    pub fn json(&self) -> Value {
        match &self.0 {
            Judgement::Valid { signer, key } => {
                json!({"signer": signer, "key": key, "valid": true, "problem": null})
            }
            Judgement::Invalid { key, problem } => {
                json!({"signer": null, "key": key, "valid": false, "problem": problem})
            }
            Judgement::Missing => {
                json!({"signer": null, "key": null, "valid": false, "problem": self.0.problem()})
            }
            Judgement::Unverified { key } => {
                json!({"signer": null, "key": key, "valid": false, "problem": UNVERIFIED})
            }
            Judgement::Unsigned | Judgement::UnsignedBeforePolicy => Value::Null,
        }
    }

    /// What `show` says of it: the signer and key, why it is not believed, or that it is
    /// unsigned.
    pub fn text(&self) -> String {
        match &self.0 {
            Judgement::Valid { signer, key } => format!("{signer} ({key})"),
            Judgement::Invalid { key: Some(key), problem } => format!("NOT VALID, key {key}: {problem}"),
            Judgement::Invalid { key: None, problem } => format!("NOT VALID: {problem}"),
            Judgement::Missing => "MISSING: the signing policy needs a signature here".into(),
            Judgement::Unverified { key } => format!("by key {key}, not verified: {UNVERIFIED}"),
            Judgement::Unsigned => "no".into(),
            Judgement::UnsignedBeforePolicy => "no (recorded before the signing policy's `since`)".into(),
        }
    }

    /// Whether `log` shows it: a signature, or a missing one; not an unsigned entry the policy
    /// accepts.
    pub fn notable(&self) -> bool {
        !matches!(self.0, Judgement::Unsigned | Judgement::UnsignedBeforePolicy)
    }
}
