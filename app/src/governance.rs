//! `approve`, `freeze`, `unfreeze` and `quarantine`: recording what an environment's policy
//! reads (see [`ledger::governance`]), on the remote first when there is one, after taking in
//! what the team recorded there; and `approvals`: what waits, and who approved what.

use ledger::deploy::SetSource;
use ledger::entry::{Approval, Freeze, Quarantine, Unfreeze};
use ledger::governance;
use ledger::refs::RefName;
use ledger::resolve::resolve;
use ledger::{Body, EntryId, ReleaseSet, Source, StoredEntry, Timestamp};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::gates::{self, Waiting};
use crate::hooks::Progress;
use crate::json;
use crate::session::Session;
use crate::views::{Releases, release_set_named};
use crate::workspace::{Workspace, clock};

/// What a governance command recorded.
pub struct Governed {
    pub entry: StoredEntry,
    /// A release set recorded first, for an approval of what an environment runs.
    pub release_set: Option<StoredEntry>,
    /// `{"entry", "release_set"}`: the entries' JSON (`release_set` null unless one was recorded).
    pub json: Value,
}

/// `approve <target> <env>`: `target` is a release set (its id or prefix, or a service set's
/// name for its latest set), or an environment, for what it runs now (recorded as a release
/// set first when the latest set over all services is not exactly that).
pub fn approve(
    workspace: &Workspace,
    target: &str,
    env: &str,
    message: Option<&str>,
    progress: &dyn Progress,
) -> Result<Governed> {
    workspace.environment(env)?;
    let stamp = workspace.stamp(message)?;
    let session = Session::open_synced(workspace, progress)?;
    let approved = approved_set(workspace, &session.store.read()?, target)?;
    let (set, release_set) = match approved {
        SetSource::Existing(id) => (id, None),
        SetSource::New(set) => {
            let recorded = session.append(stamp.clone(), Body::ReleaseSet(set))?;
            (recorded.id, Some(recorded))
        }
        SetSource::None => return Err(Error::internal("an approval without a release set")),
    };
    let approval = Body::Approval(Approval { env: env.to_string(), release_set: set });
    let entry = session.append(stamp, approval)?;
    governed(&session, entry, release_set)
}

/// The release set `approve` approves: an existing one, or a new one to record.
fn approved_set(workspace: &Workspace, reader: &impl Source, target: &str) -> Result<SetSource> {
    let manifest = &workspace.manifest;
    if manifest.environments.contains_key(target) {
        let state = reader.env_state(target)?;
        if state.is_empty() {
            return Err(Error::usage(format!("{target} runs nothing yet; there is nothing to approve")));
        }
        let latest = reader.ref_target(&RefName::set(None))?;
        if let Some(latest) = latest
            && reader.entry(&latest)?.and_then(|s| s.entry.as_release_set().map(|s| s.releases == state))
                == Some(true)
        {
            return Ok(SetSource::Existing(latest));
        }
        return Ok(SetSource::New(ReleaseSet { service_set: None, releases: state }));
    }
    let instead = "approve a release set, or an environment's state with `ledger approve <env> <target-env>`";
    let (id, _) = release_set_named(workspace, reader, target, "an environment", instead)?;
    Ok(SetSource::Existing(id))
}

/// `freeze <env> -m <why>`: no deployment reaches `env` until `unfreeze` (or an override).
pub fn freeze(workspace: &Workspace, env: &str, message: &str, progress: &dyn Progress) -> Result<Governed> {
    workspace.environment(env)?;
    let stamp = workspace.stamp(Some(message))?;
    if stamp.message.is_empty() {
        return Err(Error::usage("say why the environment is frozen with -m <why>"));
    }
    let session = Session::open_synced(workspace, progress)?;
    if let Some(freeze) = governance::manual_freeze(&session.store.read()?, env)? {
        return Err(Error::usage(format!(
            "{env} is frozen already, by {} since {}: {}",
            crate::text::inert(&freeze.actor),
            freeze.at.to_human(),
            crate::text::inert(&freeze.message)
        ))
        .hint(format!("`ledger unfreeze {env}` lifts it")));
    }
    let entry = session.append(stamp, Body::Freeze(Freeze { env: env.to_string() }))?;
    governed(&session, entry, None)
}

/// `unfreeze <env>`: lifts the manual freeze in force.
pub fn unfreeze(
    workspace: &Workspace,
    env: &str,
    message: Option<&str>,
    progress: &dyn Progress,
) -> Result<Governed> {
    workspace.environment(env)?;
    let stamp = workspace.stamp(message)?;
    let session = Session::open_synced(workspace, progress)?;
    if governance::manual_freeze(&session.store.read()?, env)?.is_none() {
        return Err(Error::usage(format!("{env} is not frozen by hand; there is nothing to lift")));
    }
    let entry = session.append(stamp, Body::Unfreeze(Unfreeze { env: env.to_string() }))?;
    governed(&session, entry, None)
}

/// `quarantine <release|release-set> -m <why>`: plans that would deploy it are refused.
pub fn quarantine(
    workspace: &Workspace,
    target: &str,
    message: &str,
    progress: &dyn Progress,
) -> Result<Governed> {
    let stamp = workspace.stamp(Some(message))?;
    if stamp.message.is_empty() {
        return Err(Error::usage("say why it is quarantined with -m <why>"));
    }
    let session = Session::open_synced(workspace, progress)?;
    let id = {
        let reader = session.store.read()?;
        let id = resolve(&reader, target)
            .map_err(|e| Error::from(e).hint("give a release or release set id or prefix"))?;
        let stored = reader.entry(&id)?.ok_or_else(|| Error::failed(format!("entry {id} is missing")))?;
        if !matches!(stored.entry.body, Body::Release(_) | Body::ReleaseSet(_)) {
            return Err(Error::usage(format!(
                "{} is a {}; only releases and release sets are quarantined",
                id.short(),
                stored.entry.kind().as_str().replace('_', " ")
            )));
        }
        id
    };
    let entry = session.append(stamp, Body::Quarantine(Quarantine { target: id }))?;
    governed(&session, entry, None)
}

fn governed(session: &Session<'_>, entry: StoredEntry, release_set: Option<StoredEntry>) -> Result<Governed> {
    let reader = session.store.read()?;
    let releases = Releases::new(&reader, &session.workspace.trust);
    let set_json = match &release_set {
        Some(set) => json::entry(&releases, set)?,
        None => Value::Null,
    };
    let json = json!({"entry": json::entry(&releases, &entry)?, "release_set": set_json});
    Ok(Governed { entry, release_set, json })
}

/// How many of an environment's newest approvals `approvals` lists.
pub const APPROVALS_LISTED: usize = 20;

/// `approvals <env>`: what waits to reach `env` and at which gate, and the approvals recorded
/// for it, newest first.
pub struct Approvals {
    pub waiting: Waiting,
    /// (approved release set, the approval), newest first, at most [`APPROVALS_LISTED`].
    pub recent: Vec<(EntryId, governance::Recorded)>,
    /// `{"env", "frozen", "waiting", "approvals": [{"id", "release_set", "actor", "at", "message"}]}`.
    pub json: Value,
}

pub fn approvals(workspace: &Workspace, env: &str) -> Result<Approvals> {
    workspace.environment(env)?;
    let now = clock()?;
    workspace.read(|releases| approvals_in(workspace, releases, env, now))
}

/// `approvals <env>` at `now`, from a read already open (the dashboard's `/api/approvals/<env>`).
pub fn approvals_in<S: Source>(
    workspace: &Workspace,
    releases: &Releases<'_, S>,
    env: &str,
    now: Timestamp,
) -> Result<Approvals> {
    workspace.environment(env)?;
    let waiting = gates::waiting(workspace, releases, env, now)?;
    let recent = governance::newest_approvals(releases.source(), env, APPROVALS_LISTED)?;
    let mut json = waiting.json();
    json["approvals"] = recent
        .iter()
        .map(|(set, approval)| {
            json!({
                "id": approval.id.to_hex(),
                "release_set": set.to_hex(),
                "actor": approval.actor,
                "at": approval.at.to_rfc3339(),
                "message": approval.message,
            })
        })
        .collect();
    Ok(Approvals { waiting, recent, json })
}
