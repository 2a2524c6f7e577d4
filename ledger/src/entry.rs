//! Entries, the history's only content, and their stored encoding.
//!
//! Stored bytes are `[FORMAT_VERSION] ++ postcard(Entry)`, or for a signed entry
//! `[SIGNED_FORMAT_VERSION] ++ postcard(Entry) ++ postcard(Signature)` (see docs/signing.md).
//! These bytes are forever: only `BTreeMap`, no floats, no serde attributes that change the
//! shape. New enum variants may be appended at the end of an enum; any other change needs a new
//! format version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::EntryId;
use crate::timestamp::Timestamp;

/// The first byte of an unsigned entry, and of the message a signed entry's signature is over.
pub const FORMAT_VERSION: u8 = 1;
/// The first byte of a signed entry: its format-1 payload, then its [`Signature`].
pub const SIGNED_FORMAT_VERSION: u8 = 2;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Release: the service's previous release. ReleaseSet: the previous set of the same
    /// service set. Deployment: the environment's previous head. Outcome: its deployment.
    pub parents: Vec<EntryId>,
    pub at: Timestamp,
    pub actor: String,
    pub message: String,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    Release(Release),
    ReleaseSet(ReleaseSet),
    Deployment(Deployment),
    Outcome(Outcome),
    Approval(Approval),
    Freeze(Freeze),
    Unfreeze(Unfreeze),
    Quarantine(Quarantine),
    TaskRun(TaskRun),
}

/// One service's artifact at a source revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub service: String,
    /// `registry/repository[:tag]`, without the digest.
    pub image: String,
    /// `sha256:<hex>` when known.
    pub digest: Option<String>,
    /// The git commit the image was built from.
    pub revision: Option<String>,
    /// The commit's time, when known: the start of lead time.
    pub revision_at: Option<Timestamp>,
}

/// An immutable map service → release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseSet {
    /// `None` for a set over all services.
    pub service_set: Option<String>,
    pub releases: BTreeMap<String, EntryId>,
}

/// The intent to change an environment, written before anything is changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub env: String,
    pub release_set: Option<EntryId>,
    pub trigger: Trigger,
    /// Every service this deployment changes, with what ran before and what should run.
    pub changes: BTreeMap<String, Change>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    /// `ledger apply`.
    Apply,
    /// `ledger promote`: what `from_env` ran at its head `from_head`.
    Promote { from_env: String, from_head: Option<EntryId> },
    /// `ledger rollback`: restores the state the environment had right after `to`
    /// (`None`: before its first deployment).
    Rollback { to: Option<EntryId> },
    /// `ledger import`: what ECS ran when the environment was adopted.
    Import,
    /// A deployment that passed the environment's policy by force (`--override`): what it was
    /// asked to do, and the gates it did not meet (by name, as in [`crate::policy`]). Its
    /// message is the reason given.
    Forced { trigger: Box<Trigger>, gates: Vec<String> },
    /// `ledger observe`: ECS deployments no ledger user started (a console deploy, a one-click
    /// rollback, another tool), recorded after the fact. `started` holds when ECS started each
    /// service's deployment.
    Observed { started: BTreeMap<String, Timestamp> },
}

impl Trigger {
    /// The entry this trigger names: a promotion's source head, a rollback's target.
    pub fn named(&self) -> Option<EntryId> {
        match self {
            Trigger::Promote { from_head, .. } => *from_head,
            Trigger::Rollback { to } => *to,
            Trigger::Apply | Trigger::Import | Trigger::Observed { .. } => None,
            Trigger::Forced { trigger, .. } => trigger.named(),
        }
    }

    /// What the deployment was asked to do, forced or not.
    pub fn unforced(&self) -> &Trigger {
        match self {
            Trigger::Forced { trigger, .. } => trigger.unforced(),
            trigger => trigger,
        }
    }

    /// The gates a forced deployment passed by force (none for any other).
    pub fn forced_gates(&self) -> Option<&[String]> {
        match self {
            Trigger::Forced { gates, .. } => Some(gates),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The release the environment ran when the deployment was recorded.
    pub from: Option<EntryId>,
    pub to: EntryId,
}

/// How a deployment ended. Its only parent is the deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub result: DeployResult,
    pub services: BTreeMap<String, ServiceOutcome>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceOutcome {
    pub result: DeployResult,
    /// The release observed running once the attempt ended (`None`: unknown).
    pub running: Option<EntryId>,
    pub task_definition: Option<String>,
    pub ecs_deployment: Option<String>,
    pub detail: String,
}

/// How a service outcome's `detail` ends when it records the digest of the task definition
/// ledger registered (issue 18): `<detail> [task definition blake3:<64 hex digits>]`. The
/// encoding of an outcome has no field for it, and must not change: an outcome recorded before
/// (or without a registration) simply has no such end. See docs/store.md.
const DIGEST_OPEN: &str = "[task definition blake3:";

impl ServiceOutcome {
    /// Records `digest` (BLAKE3 of the registered task definition's normalised JSON, 64 hex
    /// digits) at the end of the detail, replacing one already there.
    pub fn record_task_definition_digest(&mut self, digest: &str) {
        let said = self.said().to_string();
        let space = if said.is_empty() { "" } else { " " };
        self.detail = format!("{said}{space}{DIGEST_OPEN}{digest}]");
    }

    /// The digest of the task definition ledger registered, when the detail records one.
    pub fn task_definition_digest(&self) -> Option<&str> {
        self.split_detail().1
    }

    /// The detail as said to a reader: without the recorded digest.
    pub fn said(&self) -> &str {
        self.split_detail().0
    }

    fn split_detail(&self) -> (&str, Option<&str>) {
        let recorded = self.detail.rfind(DIGEST_OPEN).and_then(|at| {
            let digest = self.detail[at + DIGEST_OPEN.len()..].strip_suffix(']')?;
            let valid = digest.len() == 64 && digest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            valid.then(|| (self.detail[..at].trim_end(), digest))
        });
        match recorded {
            Some((said, digest)) => (said, Some(digest)),
            None => (&self.detail, None),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DeployResult {
    Succeeded,
    Failed,
    RolledBack,
    /// Handed to the platform without waiting (`--no-wait`); not yet observed.
    Submitted,
}

impl DeployResult {
    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployResult::Succeeded => "succeeded",
            DeployResult::Failed => "failed",
            DeployResult::RolledBack => "rolled_back",
            DeployResult::Submitted => "submitted",
        }
    }
}

/// The gates a policy may set, by the names a forced deployment records (see docs/policy.md).
pub const GATE_NAMES: &[&str] = &["requires", "soak", "approvals", "freeze", "quarantine"];

/// Someone's agreement that a release set may be deployed to an environment. It stands on
/// `gates/<env>`; its parent is that ref's previous entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub env: String,
    pub release_set: EntryId,
}

/// An environment frozen by hand (`ledger freeze`) until an [`Unfreeze`] lifts it. It stands
/// on `gates/<env>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    pub env: String,
}

/// The end of an environment's manual freeze (`ledger unfreeze`). It stands on `gates/<env>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unfreeze {
    pub env: String,
}

/// A release, or every release of a release set, marked bad (`ledger quarantine`): plans that
/// would deploy it are refused. It stands on `quarantine`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    pub target: EntryId,
}

/// A one-off ECS task run for an environment: a deployment's `before` task (a migration, with
/// the release's image) or `verify` task, or one run by hand (`ledger run`). Who ran it and when
/// are the entry's actor and time. It stands on `tasks/<env>`; its parent is that ref's previous
/// entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRun {
    pub env: String,
    /// The service it ran for (`before`, `ledger run`), or whose network settings it took
    /// (`verify`).
    pub service: String,
    pub purpose: TaskPurpose,
    /// The command that replaced the container's.
    pub command: Vec<String>,
    /// The task definition ARN it ran, once one was found or registered.
    pub task_definition: Option<String>,
    /// The ECS task ARN, once ECS started it.
    pub task: Option<String>,
    /// The container's exit code, once it exited.
    pub exit_code: Option<i32>,
    /// Whether it did what was asked: stopped with exit code 0 and no other stop code.
    pub succeeded: bool,
    /// How it ended, in words: the exit code with ECS's stop code and reasons, a timeout, or
    /// why it did not run.
    pub detail: String,
    /// Where its logs are; `None`: its container has no awslogs configuration.
    pub logs: Option<TaskLogs>,
}

/// Why a task ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskPurpose {
    /// A service's `before` task, for this deployment.
    Before { deployment: EntryId },
    /// The environment's `verify` task, for this deployment.
    Verify { deployment: EntryId },
    /// `ledger run`.
    Manual,
}

impl TaskPurpose {
    /// The deployment the task belongs to, if any.
    pub fn deployment(&self) -> Option<EntryId> {
        match self {
            TaskPurpose::Before { deployment } | TaskPurpose::Verify { deployment } => Some(*deployment),
            TaskPurpose::Manual => None,
        }
    }

    /// The name used in JSON and tables.
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskPurpose::Before { .. } => "before",
            TaskPurpose::Verify { .. } => "verify",
            TaskPurpose::Manual => "manual",
        }
    }
}

/// Where a task's logs are in CloudWatch Logs (the awslogs driver).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLogs {
    pub group: String,
    /// `<prefix>/<container>/<task-id>`; `None` when the configuration names no stream prefix.
    pub stream: Option<String>,
    pub region: Option<String>,
}

/// The kind of an entry, as named in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    Release,
    ReleaseSet,
    Deployment,
    Outcome,
    Approval,
    Freeze,
    Unfreeze,
    Quarantine,
    TaskRun,
}

impl EntryKind {
    /// Every kind, in the order of `Body`'s variants.
    pub const ALL: [EntryKind; 9] = [
        EntryKind::Release,
        EntryKind::ReleaseSet,
        EntryKind::Deployment,
        EntryKind::Outcome,
        EntryKind::Approval,
        EntryKind::Freeze,
        EntryKind::Unfreeze,
        EntryKind::Quarantine,
        EntryKind::TaskRun,
    ];

    /// The kind named `text`, as [`EntryKind::as_str`] names it.
    pub fn parse(text: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Release => "release",
            EntryKind::ReleaseSet => "release_set",
            EntryKind::Deployment => "deployment",
            EntryKind::Outcome => "outcome",
            EntryKind::Approval => "approval",
            EntryKind::Freeze => "freeze",
            EntryKind::Unfreeze => "unfreeze",
            EntryKind::Quarantine => "quarantine",
            EntryKind::TaskRun => "task_run",
        }
    }
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("empty entry")]
    Empty,
    #[error(
        "unsupported entry format version {0} (this ledger reads versions {FORMAT_VERSION} and {SIGNED_FORMAT_VERSION}); upgrade ledger"
    )]
    UnknownVersion(u8),
    #[error("malformed entry bytes: {0}")]
    Malformed(String),
}

impl Entry {
    pub fn kind(&self) -> EntryKind {
        match self.body {
            Body::Release(_) => EntryKind::Release,
            Body::ReleaseSet(_) => EntryKind::ReleaseSet,
            Body::Deployment(_) => EntryKind::Deployment,
            Body::Outcome(_) => EntryKind::Outcome,
            Body::Approval(_) => EntryKind::Approval,
            Body::Freeze(_) => EntryKind::Freeze,
            Body::Unfreeze(_) => EntryKind::Unfreeze,
            Body::Quarantine(_) => EntryKind::Quarantine,
            Body::TaskRun(_) => EntryKind::TaskRun,
        }
    }

    /// The stored bytes: the format version, then postcard.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![FORMAT_VERSION];
        // Serialising into a Vec cannot fail: every type here is plain data.
        bytes.extend(postcard::to_stdvec(self).expect("entries always serialise"));
        bytes
    }

    /// Decodes stored bytes of either format, with the signature a signed entry carries;
    /// trailing bytes and any encoding but the canonical one are errors, so one entry has one
    /// encoding.
    pub fn decode(stored: &[u8]) -> Result<(Entry, Option<Signature>), DecodeError> {
        let (&version, payload) = stored.split_first().ok_or(DecodeError::Empty)?;
        if version != FORMAT_VERSION && version != SIGNED_FORMAT_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let (entry, rest) = postcard::take_from_bytes::<Entry>(payload)
            .map_err(|error| DecodeError::Malformed(error.to_string()))?;
        // A map's keys out of order or repeated still decode (to a sorted map): such bytes
        // would be a second encoding, and a second id, of one entry.
        if !entry.encodes_to(&payload[..payload.len() - rest.len()]) {
            return Err(DecodeError::Malformed(
                "not in canonical form (map keys out of order or repeated)".into(),
            ));
        }
        let signature = match version {
            FORMAT_VERSION => None,
            _ => {
                let (signature, after) = postcard::take_from_bytes::<Signature>(rest)
                    .map_err(|error| DecodeError::Malformed(format!("its signature: {error}")))?;
                if postcard::to_stdvec(&signature).ok().as_deref() != Some(&rest[..rest.len() - after.len()])
                {
                    return Err(DecodeError::Malformed("its signature is not in canonical form".into()));
                }
                Some((signature, after))
            }
        };
        let rest = signature.as_ref().map_or(rest, |(_, after)| after);
        if !rest.is_empty() {
            return Err(DecodeError::Malformed(format!("{} trailing bytes", rest.len())));
        }
        Ok((entry, signature.map(|(signature, _)| signature)))
    }

    /// Whether this entry's postcard encoding is exactly `payload`, compared as it is produced.
    fn encodes_to(&self, payload: &[u8]) -> bool {
        postcard::serialize_with_flavor(self, SameAs { rest: payload }).unwrap_or(false)
    }

    /// The kind of a stored entry, read without decoding it, for scans that want one kind:
    /// skips `parents`, `at`, `actor` and `message` to the body's variant index.
    pub fn peek_kind(stored: &[u8]) -> Option<EntryKind> {
        let (&version, mut rest) = stored.split_first()?;
        if version != FORMAT_VERSION && version != SIGNED_FORMAT_VERSION {
            return None;
        }
        let parents = read_varint(&mut rest)?;
        skip(&mut rest, parents.checked_mul(32)?)?;
        read_varint(&mut rest)?; // at
        let actor = read_varint(&mut rest)?;
        skip(&mut rest, actor)?;
        let message = read_varint(&mut rest)?;
        skip(&mut rest, message)?;
        match read_varint(&mut rest)? {
            0 => Some(EntryKind::Release),
            1 => Some(EntryKind::ReleaseSet),
            2 => Some(EntryKind::Deployment),
            3 => Some(EntryKind::Outcome),
            4 => Some(EntryKind::Approval),
            5 => Some(EntryKind::Freeze),
            6 => Some(EntryKind::Unfreeze),
            7 => Some(EntryKind::Quarantine),
            8 => Some(EntryKind::TaskRun),
            _ => None,
        }
    }

    /// Every entry this one names: its parents, and the releases, release set and entries its
    /// body points at. A ledger that has this entry has all of these.
    pub fn references(&self) -> Vec<EntryId> {
        let mut named: Vec<EntryId> = self.named().collect();
        named.sort();
        named.dedup();
        named
    }

    /// What [`Entry::references`] lists, as the entry holds it: parents first, in order, and
    /// an entry named twice given twice.
    pub fn named(&self) -> impl Iterator<Item = EntryId> + '_ {
        let (set, changes, single, running) = match &self.body {
            Body::Release(_) | Body::Freeze(_) | Body::Unfreeze(_) => (None, None, None, None),
            Body::ReleaseSet(set) => (Some(set.releases.values()), None, None, None),
            Body::Deployment(deployment) => {
                let changes =
                    deployment.changes.values().flat_map(|change| change.from.into_iter().chain([change.to]));
                let single = deployment.release_set.into_iter().chain(deployment.trigger.named());
                (None, Some(changes), Some(single), None)
            }
            Body::Outcome(outcome) => {
                (None, None, None, Some(outcome.services.values().filter_map(|service| service.running)))
            }
            Body::Approval(approval) => {
                (None, None, Some(Some(approval.release_set).into_iter().chain(None)), None)
            }
            Body::Quarantine(quarantine) => {
                (None, None, Some(Some(quarantine.target).into_iter().chain(None)), None)
            }
            Body::TaskRun(run) => (None, None, Some(run.purpose.deployment().into_iter().chain(None)), None),
        };
        self.parents
            .iter()
            .copied()
            .chain(set.into_iter().flatten().copied())
            .chain(changes.into_iter().flatten())
            .chain(single.into_iter().flatten())
            .chain(running.into_iter().flatten())
    }

    /// The environment the entry is about, when its body names one (an outcome's is its
    /// deployment's, which it does not hold).
    pub fn environment(&self) -> Option<&str> {
        match &self.body {
            Body::Deployment(deployment) => Some(&deployment.env),
            Body::Approval(approval) => Some(&approval.env),
            Body::Freeze(freeze) => Some(&freeze.env),
            Body::Unfreeze(unfreeze) => Some(&unfreeze.env),
            Body::TaskRun(run) => Some(&run.env),
            Body::Release(_) | Body::ReleaseSet(_) | Body::Outcome(_) | Body::Quarantine(_) => None,
        }
    }

    pub fn as_approval(&self) -> Option<&Approval> {
        match &self.body {
            Body::Approval(approval) => Some(approval),
            _ => None,
        }
    }

    pub fn as_release(&self) -> Option<&Release> {
        match &self.body {
            Body::Release(release) => Some(release),
            _ => None,
        }
    }

    pub fn as_release_set(&self) -> Option<&ReleaseSet> {
        match &self.body {
            Body::ReleaseSet(set) => Some(set),
            _ => None,
        }
    }

    pub fn as_deployment(&self) -> Option<&Deployment> {
        match &self.body {
            Body::Deployment(deployment) => Some(deployment),
            _ => None,
        }
    }

    pub fn as_task_run(&self) -> Option<&TaskRun> {
        match &self.body {
            Body::TaskRun(run) => Some(run),
            _ => None,
        }
    }

    pub fn as_outcome(&self) -> Option<&Outcome> {
        match &self.body {
            Body::Outcome(outcome) => Some(outcome),
            _ => None,
        }
    }
}

impl Body {
    /// The release set a deployment or an approval is about: the entry is never older than it.
    pub fn release_set(&self) -> Option<EntryId> {
        match self {
            Body::Deployment(deployment) => deployment.release_set,
            Body::Approval(approval) => Some(approval.release_set),
            _ => None,
        }
    }

    /// The entry, besides its parents, that this one is never older than: a deployment's or an
    /// approval's release set, a task run's deployment.
    pub fn follows(&self) -> Option<EntryId> {
        match self {
            Body::TaskRun(run) => run.purpose.deployment(),
            body => body.release_set(),
        }
    }
}

impl Release {
    /// The full image reference, digest-pinned when the digest is known.
    pub fn image_ref(&self) -> String {
        match &self.digest {
            Some(digest) => format!("{}@{digest}", self.image),
            None => self.image.clone(),
        }
    }
}

/// A postcard output that compares what is serialised with bytes already there.
struct SameAs<'a> {
    rest: &'a [u8],
}

impl postcard::ser_flavors::Flavor for SameAs<'_> {
    /// Whether the bytes were exactly those serialised.
    type Output = bool;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        match self.rest.split_first() {
            Some((&first, rest)) if first == byte => {
                self.rest = rest;
                Ok(())
            }
            _ => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        match self.rest.strip_prefix(bytes) {
            Some(rest) => {
                self.rest = rest;
                Ok(())
            }
            None => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn finalize(self) -> postcard::Result<bool> {
        Ok(self.rest.is_empty())
    }
}

/// Reads a postcard varint (LEB128, at most 10 bytes).
pub(crate) fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn skip(bytes: &mut &[u8], count: u64) -> Option<()> {
    let count = usize::try_from(count).ok()?;
    *bytes = bytes.get(count..)?;
    Some(())
}

/// An entry's signature: the SSHSIG (PROTOCOL.sshsig, unarmored) over its format-1 bytes,
/// as [`crate::signing`] makes and checks it. Held as bytes, so that what does not parse is
/// still the entry it was recorded as, and refused by the signature rule rather than lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature(pub Vec<u8>);

/// An entry with its id, and the signature the id covers when it is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub id: EntryId,
    pub entry: Entry,
    pub signature: Option<Signature>,
}

impl StoredEntry {
    /// Encodes `entry` unsigned (format 1) and computes its id.
    pub fn seal(entry: Entry) -> (StoredEntry, Vec<u8>) {
        StoredEntry::seal_with(entry, None)
    }

    /// Encodes `entry` with `signature` (format 2), or unsigned without one, and computes
    /// its id.
    pub fn seal_with(entry: Entry, signature: Option<Signature>) -> (StoredEntry, Vec<u8>) {
        let mut stored = StoredEntry { id: EntryId::of_stored_bytes(&[]), entry, signature };
        let bytes = stored.encode();
        stored.id = EntryId::of_stored_bytes(&bytes);
        (stored, bytes)
    }

    /// The entry decoded from `bytes`, which the caller has found to hash to `id`.
    pub fn decoded(id: EntryId, bytes: &[u8]) -> Result<StoredEntry, DecodeError> {
        let (entry, signature) = Entry::decode(bytes)?;
        Ok(StoredEntry { id, entry, signature })
    }

    /// The stored bytes: format 1, or format 2 when signed.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = self.entry.encode();
        if let Some(signature) = &self.signature {
            bytes[0] = SIGNED_FORMAT_VERSION;
            bytes.extend(postcard::to_stdvec(signature).expect("signatures always serialise"));
        }
        bytes
    }
}

#[cfg(test)]
mod digest_tests {
    use super::*;

    fn outcome(detail: &str) -> ServiceOutcome {
        ServiceOutcome {
            result: DeployResult::Succeeded,
            running: None,
            task_definition: Some("arn:aws:ecs:us-east-1:1:task-definition/web:4".into()),
            ecs_deployment: None,
            detail: detail.into(),
        }
    }

    #[test]
    fn an_outcome_recorded_without_a_digest_reads_as_it_was() {
        for detail in ["", "rollout COMPLETED, 2/2 tasks running", "odd [task definition blake3:abc]"] {
            let old = outcome(detail);
            assert_eq!(old.task_definition_digest(), None);
            assert_eq!(old.said(), detail);
        }
    }

    #[test]
    fn a_digest_is_recorded_at_the_end_of_the_detail_and_read_back() {
        let digest = "0123456789abcdef".repeat(4);
        let mut recorded = outcome("rollout COMPLETED, 2/2 tasks running");
        recorded.record_task_definition_digest(&digest);
        assert_eq!(
            recorded.detail,
            format!("rollout COMPLETED, 2/2 tasks running [task definition blake3:{digest}]")
        );
        assert_eq!(recorded.task_definition_digest(), Some(digest.as_str()));
        assert_eq!(recorded.said(), "rollout COMPLETED, 2/2 tasks running");
        // Recorded again, it replaces the one there; an empty detail holds it alone.
        let other = "f".repeat(64);
        recorded.record_task_definition_digest(&other);
        assert_eq!(recorded.task_definition_digest(), Some(other.as_str()));
        assert_eq!(recorded.said(), "rollout COMPLETED, 2/2 tasks running");
        let mut bare = outcome("");
        bare.record_task_definition_digest(&other);
        assert_eq!(bare.detail, format!("[task definition blake3:{other}]"));
        assert_eq!(bare.said(), "");
    }
}
