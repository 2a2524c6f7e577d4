//! Admission: whether an entry may stand on a ref under the project's rules. One rule set for
//! every entry, recorded here or taken in from a remote: known names, the right kind on the
//! right ref, images from their service's repository, printable text, times in range and not
//! before their parents, and bodies that name entries of the right kind and service.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Arc;

use crate::StoredEntry;
use crate::entry::{Body, Deployment, Entry, GATE_NAMES, Outcome, Release, ReleaseSet, TaskRun, Trigger};
use crate::id::EntryId;
use crate::image::ImageRef;
use crate::manifest::{Manifest, join_or_none};
use crate::name::{self, NameKind};
use crate::refs::RefName;
use crate::signing::trust::{SignatureCheck, verify_signature};
use crate::signing::{Judgement, Trust};
use crate::store::{ReceiveError, Source, StoreError, ref_of};
use crate::timestamp::Timestamp;

/// Longest message an entry may carry, in bytes.
pub const MAX_MESSAGE_LEN: usize = 10_000;
/// Most arguments a task run's command may have.
pub const MAX_TASK_ARGUMENTS: usize = 256;
/// Longest actor an entry may carry, in bytes: a person's name and address (at most 200 bytes
/// as given) with the cloud principal that acted for them (an IAM ARN, at most 2,048).
pub const MAX_RECORDED_ACTOR_LEN: usize = 2_300;

/// The rules, by the name messages give them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Services, environments and service sets are ones the manifest declares.
    KnownName,
    /// Names are valid ids (see [`crate::name`]).
    ValidName,
    /// Releases stand on `service/<service>`, release sets on `set/<set>`, deployments and
    /// outcomes on `env/<env>`, approvals, freezes and unfreezes on `gates/<env>`, quarantines
    /// on `quarantine`, task runs on `tasks/<env>`.
    KindOnRef,
    /// An image is a valid reference from its service's `image_repository`.
    Image,
    /// A revision is a git commit hash.
    Revision,
    /// Actors and messages are printable and not too long.
    Text,
    /// Times lie between 1970-01-01 and 9999-12-31.
    TimeRange,
    /// An entry is not older than its parents (nor a deployment or approval than its release
    /// set, nor a task run than its deployment).
    TimeOrder,
    /// What a body names is an entry of the right kind, for the right service.
    Names,
    /// A forced deployment names the gates it passed by force, once, in an environment that
    /// allows overrides.
    Policy,
    /// An entry is signed as `[signing]` requires, by a key `allowed_signers` lists for its
    /// actor, valid at its time, and allowed by `[signing.rules]` (see docs/signing.md).
    Signature,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::KnownName => "known-name",
            Rule::ValidName => "valid-name",
            Rule::KindOnRef => "kind-on-ref",
            Rule::Image => "image",
            Rule::Revision => "revision",
            Rule::Text => "text",
            Rule::TimeRange => "time-range",
            Rule::TimeOrder => "time-order",
            Rule::Names => "named-entries",
            Rule::Policy => "policy",
            Rule::Signature => "signature",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule an entry (or what is about to become one) breaks, and how.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{detail}")]
pub struct Broken {
    pub rule: Rule,
    pub detail: String,
}

impl Broken {
    fn new(rule: Rule, detail: impl Into<String>) -> Broken {
        Broken { rule, detail: detail.into() }
    }
}

/// An entry refused on a ref: nothing of it was stored.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("entry {} on {on} breaks rule {}: {}", .id.short(), .broken.rule, .broken.detail)]
pub struct Refusal {
    pub id: EntryId,
    pub on: String,
    pub broken: Broken,
}

/// What the rules need to know of an entry that another one names: its time and kind, a
/// release's service, a deployment's environment and the services it changes. Kept instead of
/// the entry where many are kept (see [`Recent`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub at: Timestamp,
    pub of: Summarised,
}

/// The kind of a summarised entry, with what the rules ask of that kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Summarised {
    Release {
        service: String,
    },
    ReleaseSet,
    /// The environment, and the services the deployment changes (in order).
    Deployment {
        env: String,
        services: Vec<String>,
    },
    Outcome,
    /// An approval, freeze, unfreeze, quarantine or task run: named by no rule.
    Gate,
}

impl Summary {
    pub fn of(entry: &Entry) -> Summary {
        let of = match &entry.body {
            Body::Release(release) => Summarised::Release { service: release.service.clone() },
            Body::ReleaseSet(_) => Summarised::ReleaseSet,
            Body::Deployment(deployment) => Summarised::Deployment {
                env: deployment.env.clone(),
                services: deployment.changes.keys().cloned().collect(),
            },
            Body::Outcome(_) => Summarised::Outcome,
            Body::Approval(_)
            | Body::Freeze(_)
            | Body::Unfreeze(_)
            | Body::Quarantine(_)
            | Body::TaskRun(_) => Summarised::Gate,
        };
        Summary { at: entry.at, of }
    }

    /// The service of a release.
    fn release_of(&self) -> Option<&str> {
        match &self.of {
            Summarised::Release { service } => Some(service),
            _ => None,
        }
    }

    /// The environment of a deployment, and the services it changes.
    pub fn deployment(&self) -> Option<(&str, &[String])> {
        match &self.of {
            Summarised::Deployment { env, services } => Some((env, services)),
            _ => None,
        }
    }
}

/// The entries an entry names (its parents and what its body points at): their summaries by id.
pub trait Named {
    fn summary(&self, id: &EntryId) -> Option<&Summary>;
}

/// Summaries by id, gathered for one entry.
pub type Summaries = BTreeMap<EntryId, Summary>;

impl Named for Summaries {
    fn summary(&self, id: &EntryId) -> Option<&Summary> {
        self.get(id)
    }
}

/// The summaries of the entries seen last, at most `capacity` of them once [`Recent::trim`]med
/// (the oldest are forgotten first): what a pass in recording order keeps of the entries before
/// the one it is at, since an entry mostly names recent ones. Those it does not hold are read
/// from the store (see [`Recent::resolve`]) and held in turn.
pub struct Recent {
    capacity: usize,
    /// The summaries held, oldest first, with their ids: the one numbered `first` at the front.
    held: VecDeque<(EntryId, Summary)>,
    /// The number of the oldest summary held (each one inserted takes the next number).
    first: u64,
    /// Where each id's summary was inserted. Rows of summaries already forgotten are dropped in
    /// one sweep once there are as many as held, not one by one: looking the oldest id up to
    /// drop its row would cost a cache miss per entry.
    numbers: HashMap<EntryId, u64, IdHashing>,
}

impl Recent {
    pub fn new(capacity: usize) -> Recent {
        Recent {
            capacity,
            held: VecDeque::new(),
            first: 0,
            numbers: HashMap::with_hasher(IdHashing::random()),
        }
    }

    /// Where in `held` the summary of `id` is, if it is held.
    fn position(&self, id: &EntryId) -> Option<usize> {
        let number = *self.numbers.get(id)?;
        number.checked_sub(self.first).and_then(|position| usize::try_from(position).ok())
    }

    pub fn contains(&self, id: &EntryId) -> bool {
        self.position(id).is_some()
    }

    /// Holds `summary` of entry `id`, beyond the capacity until the next [`Recent::trim`].
    pub fn insert(&mut self, id: EntryId, summary: Summary) {
        match self.position(&id) {
            Some(position) => self.held[position].1 = summary,
            None => {
                self.numbers.insert(id, self.first + self.held.len() as u64);
                self.held.push_back((id, summary));
            }
        }
    }

    /// Forgets the oldest summaries beyond the capacity.
    pub fn trim(&mut self) {
        while self.held.len() > self.capacity {
            self.held.pop_front();
            self.first += 1;
        }
        if self.numbers.len() > 2 * self.capacity.max(self.held.len()) {
            let first = self.first;
            self.numbers.retain(|_, number| *number >= first);
        }
    }

    /// How many ids it has rows for, those of summaries already forgotten included: at most
    /// twice the capacity after a [`Recent::trim`].
    #[cfg(test)]
    fn rows(&self) -> usize {
        self.numbers.len()
    }

    /// Holds the summary of each of `ids` that `source` stores, reading those not held.
    pub fn resolve(&mut self, source: &impl Source, ids: &[EntryId]) -> Result<(), StoreError> {
        for id in ids {
            if !self.contains(id)
                && let Some(stored) = source.entry(id)?
            {
                self.insert(*id, Summary::of(&stored.entry));
            }
        }
        Ok(())
    }
}

/// Hashes entry ids for [`Recent`]: ids are BLAKE3 outputs, so a keyed multiply folded over
/// their words spreads them as well as SipHash does, for a fraction of its cost. The key is drawn
/// at random, so ids ground to share a bucket in one run do not in another.
#[derive(Clone)]
struct IdHashing {
    key: u64,
}

impl IdHashing {
    fn random() -> IdHashing {
        IdHashing { key: RandomState::new().hash_one(0u8) | 1 }
    }
}

impl BuildHasher for IdHashing {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher { key: self.key, state: self.key.rotate_left(32) }
    }
}

struct IdHasher {
    key: u64,
    state: u64,
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for word in bytes.chunks(8) {
            let mut padded = [0u8; 8];
            padded[..word.len()].copy_from_slice(word);
            let product = u128::from(self.state ^ u64::from_le_bytes(padded)) * u128::from(self.key);
            self.state = (product as u64) ^ ((product >> 64) as u64);
        }
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

impl Named for Recent {
    fn summary(&self, id: &EntryId) -> Option<&Summary> {
        self.position(id).map(|position| &self.held[position].1)
    }
}

/// How many summaries a write keeps of the entries it stored and read ([`Admitting`]).
const WRITE_WINDOW: usize = 4096;

/// The rules held by a write, entry by entry as each is stored: the entries a new one names
/// are summarised from what this write stored or read before, and read only when not seen.
pub struct Admitting {
    rules: Rules,
    recent: Recent,
    /// The first entry refused: the write must store nothing, even if its caller went on.
    refused: Option<Refusal>,
}

impl Admitting {
    pub fn new(rules: Rules) -> Admitting {
        Admitting { rules, recent: Recent::new(WRITE_WINDOW), refused: None }
    }

    /// Whether `stored` may stand on ref `on`; the entries it names are in `source`.
    pub fn admit(
        &mut self,
        source: &impl Source,
        on: &RefName,
        stored: &StoredEntry,
    ) -> Result<(), StoreError> {
        self.recent.resolve(source, &stored.entry.references())?;
        let checked = self.rules.check_stored(on, stored, &self.recent).map(|_| ());
        self.recent.insert(stored.id, Summary::of(&stored.entry));
        self.recent.trim();
        checked.map_err(|broken| {
            let refusal = Refusal { id: stored.id, on: on.to_string(), broken };
            self.refused.get_or_insert_with(|| refusal.clone());
            refusal.into()
        })
    }

    /// Keeps the summary of `stored`, read by the write for its own purposes.
    pub fn saw(&mut self, stored: &StoredEntry) {
        self.recent.insert(stored.id, Summary::of(&stored.entry));
    }

    /// The first entry refused in this write, if any.
    pub fn refused(&self) -> Option<&Refusal> {
        self.refused.as_ref()
    }
}

/// The rules entries are held to: with a manifest, also that names are declared there and
/// images come from their service's repository.
#[derive(Clone, Debug)]
pub struct Rules {
    manifest: Option<Arc<Manifest>>,
    /// Whose signatures are believed, and which entries need one.
    trust: Arc<Trust>,
}

impl Rules {
    /// Every rule, the manifest's included.
    pub fn of(manifest: &Manifest) -> Rules {
        Rules { manifest: Some(Arc::new(manifest.clone())), trust: Arc::new(manifest.trust()) }
    }

    /// The rules that need no manifest (where there is none, as in a clone outside a project).
    pub fn without_manifest() -> Rules {
        Rules { manifest: None, trust: Arc::default() }
    }

    /// Whether `stored` may stand on ref `on`, given the entries it names (read from `source`).
    pub fn admit(&self, source: &impl Source, on: &RefName, stored: &StoredEntry) -> Result<(), StoreError> {
        let mut named = Summaries::new();
        for id in stored.entry.references() {
            if let Some(entry) = source.entry(&id)? {
                named.insert(id, Summary::of(&entry.entry));
            }
        }
        self.check_stored(on, stored, &named)
            .map(|_| ())
            .map_err(|broken| Refusal { id: stored.id, on: on.to_string(), broken }.into())
    }

    /// [`Rules::check`], and the signature rule: whether `stored`, signature included, may
    /// stand on ref `on`; if so, what the signing policy made of its signature.
    pub fn check_stored(
        &self,
        on: &RefName,
        stored: &StoredEntry,
        named: &dyn Named,
    ) -> Result<Judgement, Broken> {
        let checked = verify_signature(&stored.entry, stored.signature.as_ref());
        self.check_stored_verified(on, stored, named, checked)
    }

    /// [`Rules::check_stored`] of an entry whose signature was checked by itself already (see
    /// [`verify_signature`]), as `verify` does on every core.
    pub fn check_stored_verified(
        &self,
        on: &RefName,
        stored: &StoredEntry,
        named: &dyn Named,
        checked: SignatureCheck,
    ) -> Result<Judgement, Broken> {
        self.check(on, &stored.entry, named)?;
        let judgement = self.trust.judge_verified(stored, environment_of(&stored.entry, named), checked);
        match judgement.problem() {
            Some(problem) => Err(Broken::new(Rule::Signature, problem)),
            None => Ok(judgement),
        }
    }

    /// Whether `entry` may stand on ref `on`; `named` summarises the entries it names.
    pub fn check(&self, on: &RefName, entry: &Entry, named: &dyn Named) -> Result<(), Broken> {
        check_text(&entry.actor, &entry.message)?;
        check_time(entry.at)?;
        match &entry.body {
            Body::Release(release) => self.check_release(release)?,
            Body::ReleaseSet(set) => self.check_release_set(set, named)?,
            Body::Deployment(deployment) => self.check_deployment(deployment, named)?,
            Body::Outcome(outcome) => self.check_outcome(outcome, &entry.parents, named)?,
            Body::Approval(approval) => {
                self.check_env(&approval.env)?;
                check_release_set(&approval.release_set, named)?;
            }
            Body::Freeze(freeze) => self.check_env(&freeze.env)?,
            Body::Unfreeze(unfreeze) => self.check_env(&unfreeze.env)?,
            Body::Quarantine(quarantine) => {
                let target = named.summary(&quarantine.target).map(|summary| &summary.of);
                if !matches!(target, Some(Summarised::Release { .. } | Summarised::ReleaseSet)) {
                    let detail = format!(
                        "it quarantines {}, which is not a release or release set",
                        quarantine.target.short()
                    );
                    return Err(Broken::new(Rule::Names, detail));
                }
            }
            Body::TaskRun(run) => self.check_task_run(run, named)?,
        }
        check_ref(on, entry, named)?;
        check_time_order(entry, named)
    }

    /// A release's own rules: a known, valid service; an image from its repository; a
    /// revision that is a commit hash; a revision time in range.
    pub fn check_release(&self, release: &Release) -> Result<(), Broken> {
        self.check_service(&release.service)?;
        let image_ref = release.image_ref();
        let image =
            ImageRef::parse(&image_ref).map_err(|error| Broken::new(Rule::Image, error.to_string()))?;
        if image.name_and_tag() != release.image || image.digest != release.digest {
            let detail = format!("image {:?} carries its digest in the image field", release.image);
            return Err(Broken::new(Rule::Image, detail));
        }
        if let Some(manifest) = &self.manifest {
            image
                .check_repository(&manifest.services[&release.service].image_repository)
                .map_err(|error| Broken::new(Rule::Image, error.to_string()))?;
        }
        if let Some(revision) = &release.revision {
            check_revision(revision)?;
        }
        if let Some(revision_at) = release.revision_at {
            check_time(revision_at)?;
        }
        Ok(())
    }

    fn check_release_set(&self, set: &ReleaseSet, named: &dyn Named) -> Result<(), Broken> {
        let members = self.members_of(set.service_set.as_deref())?;
        for (service, release) in &set.releases {
            self.check_service(service)?;
            if members.as_ref().is_some_and(|members| !members.contains(service)) {
                let set_name = set.service_set.as_deref().unwrap_or("@all");
                let detail = format!("service {service:?} is not in service set {set_name:?}");
                return Err(Broken::new(Rule::KnownName, detail));
            }
            check_release_of(service, release, named)?;
        }
        Ok(())
    }

    fn check_deployment(&self, deployment: &Deployment, named: &dyn Named) -> Result<(), Broken> {
        self.check_env(&deployment.env)?;
        if let Trigger::Promote { from_env, .. } = deployment.trigger.unforced() {
            self.check_env(from_env)?;
        }
        if let Trigger::Forced { trigger, gates } = &deployment.trigger {
            self.check_forced(&deployment.env, trigger, gates)?;
        }
        if let Some(set) = &deployment.release_set {
            check_release_set(set, named)?;
        }
        if let Trigger::Observed { started } = &deployment.trigger
            && let Some(service) = started.keys().find(|service| !deployment.changes.contains_key(*service))
        {
            let detail = format!("it observed service {service:?}, which it does not change");
            return Err(Broken::new(Rule::Names, detail));
        }
        for (service, change) in &deployment.changes {
            self.check_service(service)?;
            check_release_of(service, &change.to, named)?;
            if let Some(from) = &change.from {
                check_release_of(service, from, named)?;
            }
        }
        Ok(())
    }

    fn check_outcome(&self, outcome: &Outcome, parents: &[EntryId], named: &dyn Named) -> Result<(), Broken> {
        let deployment = parents.first().and_then(|id| named.summary(id)).and_then(Summary::deployment);
        let Some((_, changed)) = deployment else {
            return Err(Broken::new(Rule::Names, "an outcome's first parent must be its deployment"));
        };
        for (service, result) in &outcome.services {
            self.check_service(service)?;
            if changed.binary_search(service).is_err() {
                let detail = format!("service {service:?} is not one its deployment changes");
                return Err(Broken::new(Rule::Names, detail));
            }
            if let Some(running) = &result.running {
                check_release_of(service, running, named)?;
            }
        }
        Ok(())
    }

    /// A task run: a known environment and service, a deployment of that environment when it
    /// belongs to one, and text that is printable and bounded.
    fn check_task_run(&self, run: &TaskRun, named: &dyn Named) -> Result<(), Broken> {
        self.check_env(&run.env)?;
        self.check_service(&run.service)?;
        if let Some(deployment) = run.purpose.deployment() {
            match named.summary(&deployment).and_then(Summary::deployment) {
                Some((env, _)) if env == run.env => {}
                _ => {
                    let detail =
                        format!("its deployment {} is not a deployment to {:?}", deployment.short(), run.env);
                    return Err(Broken::new(Rule::Names, detail));
                }
            }
        }
        if run.command.is_empty() || run.command.len() > MAX_TASK_ARGUMENTS {
            let detail = format!("a task run's command has 1 to {MAX_TASK_ARGUMENTS} arguments");
            return Err(Broken::new(Rule::Text, detail));
        }
        let logs = run.logs.iter().flat_map(|logs| {
            [Some(&logs.group), logs.stream.as_ref(), logs.region.as_ref()].into_iter().flatten()
        });
        let texts = run
            .command
            .iter()
            .chain(run.task_definition.as_ref())
            .chain(run.task.as_ref())
            .chain(logs)
            .chain([&run.detail]);
        for text in texts {
            if text.len() > MAX_MESSAGE_LEN || text.chars().any(char::is_control) {
                let detail = format!(
                    "a task run's text is at most {MAX_MESSAGE_LEN} bytes without control characters"
                );
                return Err(Broken::new(Rule::Text, detail));
            }
        }
        Ok(())
    }

    /// A forced deployment: one level of force, over gates that exist, to an environment whose
    /// policy allows overrides.
    fn check_forced(&self, env: &str, trigger: &Trigger, gates: &[String]) -> Result<(), Broken> {
        if matches!(trigger, Trigger::Forced { .. }) {
            return Err(Broken::new(Rule::Policy, "a forced deployment is forced once, not twice"));
        }
        if let Some(gate) = gates.iter().find(|gate| !GATE_NAMES.contains(&gate.as_str())) {
            let detail = format!("it passed gate {gate:?} by force; the gates are {}", GATE_NAMES.join(", "));
            return Err(Broken::new(Rule::Policy, detail));
        }
        let environment = self.manifest.as_ref().and_then(|manifest| manifest.environments.get(env));
        if environment.is_some_and(|environment| !environment.policy.overrides_allowed()) {
            let detail =
                format!("it was forced, and environment {env:?} allows no override (`override = false`)");
            return Err(Broken::new(Rule::Policy, detail));
        }
        Ok(())
    }

    fn check_service(&self, service: &str) -> Result<(), Broken> {
        check_name(NameKind::Service, service)?;
        match &self.manifest {
            Some(manifest) if !manifest.services.contains_key(service) => {
                Err(unknown("service", service, manifest, manifest.services.keys()))
            }
            _ => Ok(()),
        }
    }

    fn check_env(&self, env: &str) -> Result<(), Broken> {
        check_name(NameKind::Environment, env)?;
        match &self.manifest {
            Some(manifest) if !manifest.environments.contains_key(env) => {
                Err(unknown("environment", env, manifest, manifest.environments.keys()))
            }
            _ => Ok(()),
        }
    }

    /// The services of `service_set` (all services for `None`), when there is a manifest.
    fn members_of(&self, service_set: Option<&str>) -> Result<Option<Vec<String>>, Broken> {
        if let Some(set) = service_set {
            check_name(NameKind::ServiceSet, set)?;
        }
        let Some(manifest) = &self.manifest else { return Ok(None) };
        match service_set {
            None => Ok(Some(manifest.services.keys().cloned().collect())),
            Some(set) => match manifest.service_sets.get(set) {
                Some(members) => Ok(Some(members.clone())),
                None => Err(unknown("service set", set, manifest, manifest.service_sets.keys())),
            },
        }
    }
}

/// The environment an entry belongs to: its own, or for an outcome its deployment's.
fn environment_of<'a>(entry: &'a Entry, named: &'a dyn Named) -> Option<&'a str> {
    match &entry.body {
        Body::Deployment(deployment) => Some(&deployment.env),
        Body::Outcome(_) => entry
            .parents
            .first()
            .and_then(|deployment| named.summary(deployment))
            .and_then(|s| s.deployment())
            .map(|(env, _)| env),
        Body::Approval(approval) => Some(&approval.env),
        Body::Freeze(freeze) => Some(&freeze.env),
        Body::Unfreeze(unfreeze) => Some(&unfreeze.env),
        Body::TaskRun(run) => Some(&run.env),
        Body::Release(_) | Body::ReleaseSet(_) | Body::Quarantine(_) => None,
    }
}

fn unknown<'a>(
    what: &str,
    name: &str,
    manifest: &Manifest,
    declared: impl IntoIterator<Item = &'a String>,
) -> Broken {
    let detail =
        format!("unknown {what} {name:?}; {} declares: {}", manifest.path.display(), join_or_none(declared));
    Broken::new(Rule::KnownName, detail)
}

fn check_name(kind: NameKind, text: &str) -> Result<(), Broken> {
    name::validate(kind, text).map_err(|error| Broken::new(Rule::ValidName, error.to_string()))
}

/// `release` must name a release of `service`.
fn check_release_of(service: &str, release: &EntryId, named: &dyn Named) -> Result<(), Broken> {
    match named.summary(release).and_then(Summary::release_of) {
        Some(found) if found == service => Ok(()),
        Some(found) => Err(Broken::new(
            Rule::Names,
            format!("it gives service {service:?} release {}, a release of {found:?}", release.short()),
        )),
        None => Err(Broken::new(
            Rule::Names,
            format!("it gives service {service:?} entry {}, which is not a release", release.short()),
        )),
    }
}

/// `set` must name a release set.
fn check_release_set(set: &EntryId, named: &dyn Named) -> Result<(), Broken> {
    if named.summary(set).is_some_and(|summary| summary.of == Summarised::ReleaseSet) {
        Ok(())
    } else {
        Err(Broken::new(Rule::Names, format!("its release set {} is not a release set", set.short())))
    }
}

/// The entry must stand on the ref whose history it is part of.
fn check_ref(on: &RefName, entry: &Entry, named: &dyn Named) -> Result<(), Broken> {
    let expected = match ref_of(&entry.body) {
        Some(name) => name,
        None => {
            let env = entry.parents.first().and_then(|id| named.summary(id)).and_then(Summary::deployment);
            match env {
                Some((env, _)) => RefName::env(env),
                None => {
                    return Err(Broken::new(Rule::Names, "an outcome's first parent must be its deployment"));
                }
            }
        }
    };
    if *on == expected {
        Ok(())
    } else {
        let detail = format!("a {} belongs on {expected}, not on {on}", entry.kind().as_str());
        Err(Broken::new(Rule::KindOnRef, detail))
    }
}

/// Not older than any parent, nor a deployment than its release set.
fn check_time_order(entry: &Entry, named: &dyn Named) -> Result<(), Broken> {
    let follows = entry.body.follows();
    for earlier in entry.parents.iter().chain(&follows) {
        if let Some(parent) = named.summary(earlier)
            && parent.at > entry.at
        {
            let detail = format!(
                "it is dated {}, before {} ({}) that it follows",
                entry.at.to_rfc3339(),
                earlier.short(),
                parent.at.to_rfc3339()
            );
            return Err(Broken::new(Rule::TimeOrder, detail));
        }
    }
    Ok(())
}

fn check_time(at: Timestamp) -> Result<(), Broken> {
    at.check_range().map(|_| ()).map_err(|error| Broken::new(Rule::TimeRange, error.to_string()))
}

fn check_text(actor: &str, message: &str) -> Result<(), Broken> {
    check_actor(actor)?;
    check_message(message)
}

/// An actor as recorded: 1 to [`MAX_RECORDED_ACTOR_LEN`] bytes, no control characters.
pub fn check_actor(actor: &str) -> Result<(), Broken> {
    if actor.is_empty() || actor.len() > MAX_RECORDED_ACTOR_LEN || actor.chars().any(char::is_control) {
        let detail =
            format!("actor {actor:?}: give 1 to {MAX_RECORDED_ACTOR_LEN} bytes without control characters");
        return Err(Broken::new(Rule::Text, detail));
    }
    Ok(())
}

/// A message as recorded: at most [`MAX_MESSAGE_LEN`] bytes, no control characters but
/// newlines and tabs.
pub fn check_message(message: &str) -> Result<(), Broken> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(Broken::new(Rule::Text, format!("the message is longer than {MAX_MESSAGE_LEN} bytes")));
    }
    if message.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Broken::new(Rule::Text, "the message contains control characters"));
    }
    Ok(())
}

/// A revision: a git commit hash (or its first digits), 4 to 64 hex digits.
pub fn check_revision(revision: &str) -> Result<(), Broken> {
    let is_hash = (4..=64).contains(&revision.len()) && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hash {
        Ok(())
    } else {
        Err(Broken::new(
            Rule::Revision,
            format!(
                "revision {revision:?} is not a git commit hash: give 4 to 64 hex digits, e.g. $(git rev-parse HEAD)"
            ),
        ))
    }
}

/// Whether entry `head` may be the head of ref `on`: it is stored in `source`, and part of
/// that ref's history (a remote's ref names an entry of its own history, never one of another).
pub fn check_head(source: &impl Source, on: &RefName, head: EntryId) -> Result<(), StoreError> {
    let Some(stored) = source.entry(&head)? else {
        return Err(ReceiveError::MissingReference { id: head, missing: head }.into());
    };
    let mut named = Summaries::new();
    if let (Body::Outcome(_), Some(deployment)) = (&stored.entry.body, stored.entry.parents.first())
        && let Some(found) = source.entry(deployment)?
    {
        named.insert(*deployment, Summary::of(&found.entry));
    }
    check_ref(on, &stored.entry, &named)
        .map_err(|broken| Refusal { id: head, on: on.to_string(), broken }.into())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::entry::{Change, DeployResult, ServiceOutcome, TaskPurpose};

    const MANIFEST: &str = r#"
[project]
id = "catalogue"
[environments.stage]
[environments.prod]
[services.api]
image_repository = "registry.local/api"
[services.search]
image_repository = "registry.local/search"
[service_sets]
frontend = ["api"]
"#;

    fn rules() -> Rules {
        Rules::of(&Manifest::parse(Path::new("ledger.toml"), MANIFEST).unwrap())
    }

    fn entry(at: i64, parents: Vec<EntryId>, body: Body) -> Entry {
        Entry { parents, at: Timestamp(at), actor: "ana".into(), message: "ship".into(), body }
    }

    fn release_body(service: &str, image: &str) -> Body {
        Body::Release(Release {
            service: service.into(),
            image: image.into(),
            digest: None,
            revision: None,
            revision_at: None,
        })
    }

    /// Named entries: a release of api and one of search, at time 10.
    fn named() -> (Summaries, EntryId, EntryId) {
        let api = entry(10, vec![], release_body("api", "registry.local/api:v1"));
        let search = entry(10, vec![], release_body("search", "registry.local/search:v1"));
        let (api_id, search_id) =
            (StoredEntry::seal(api.clone()).0.id, StoredEntry::seal(search.clone()).0.id);
        (Summaries::from([(api_id, Summary::of(&api)), (search_id, Summary::of(&search))]), api_id, search_id)
    }

    fn deployment(env: &str, service: &str, to: EntryId) -> Body {
        Body::Deployment(Deployment {
            env: env.into(),
            release_set: None,
            trigger: Trigger::Apply,
            changes: BTreeMap::from([(service.to_string(), Change { from: None, to })]),
        })
    }

    fn broken(result: Result<(), Broken>) -> Rule {
        result.expect_err("the rule must refuse it").rule
    }

    #[test]
    fn a_release_from_its_repository_on_its_ref_is_admitted() {
        let release = entry(20, vec![], release_body("api", "registry.local/api:v2"));
        assert_eq!(rules().check(&RefName::service("api"), &release, &Summaries::new()), Ok(()));
    }

    #[test]
    fn an_image_from_another_repository_is_refused() {
        let forged = entry(20, vec![], release_body("api", "docker.io/evil/backdoor:v2.1"));
        let result = rules().check(&RefName::service("api"), &forged, &Summaries::new());
        assert_eq!(broken(result.clone()), Rule::Image);
        assert!(result.unwrap_err().detail.contains("registry.local/api"));
        // Without a manifest only a valid reference is asked for.
        assert_eq!(
            Rules::without_manifest().check(&RefName::service("api"), &forged, &Summaries::new()),
            Ok(())
        );
        for bad in ["registry.local/api:", "registry.local/API", "registry.local/api@sha256:abc"] {
            let entry = entry(20, vec![], release_body("api", bad));
            assert_eq!(
                broken(rules().check(&RefName::service("api"), &entry, &Summaries::new())),
                Rule::Image,
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_and_invalid_names_are_refused() {
        let unknown = entry(20, vec![], release_body("billing", "registry.local/billing:v1"));
        assert_eq!(
            broken(rules().check(&RefName::service("billing"), &unknown, &Summaries::new())),
            Rule::KnownName
        );
        let invalid = entry(20, vec![], release_body("../api", "registry.local/api:v1"));
        let on = RefName::service("api");
        assert_eq!(
            broken(Rules::without_manifest().check(&on, &invalid, &Summaries::new())),
            Rule::ValidName
        );
        let (named, api, _) = named();
        let to_unknown_env = entry(20, vec![], deployment("qa", "api", api));
        assert_eq!(broken(rules().check(&RefName::env("qa"), &to_unknown_env, &named)), Rule::KnownName);
        let set = |service_set: Option<&str>, service: &str, release| {
            let releases = BTreeMap::from([(service.to_string(), release)]);
            entry(
                20,
                vec![],
                Body::ReleaseSet(ReleaseSet { service_set: service_set.map(str::to_string), releases }),
            )
        };
        let unknown_set = set(Some("backend"), "api", api);
        assert_eq!(
            broken(rules().check(&RefName::set(Some("backend")), &unknown_set, &named)),
            Rule::KnownName
        );
        let (_, _, search) = self::named();
        let outside_the_set = set(Some("frontend"), "search", search);
        assert_eq!(
            broken(rules().check(&RefName::set(Some("frontend")), &outside_the_set, &named)),
            Rule::KnownName
        );
        assert_eq!(
            rules().check(&RefName::set(Some("frontend")), &set(Some("frontend"), "api", api), &named),
            Ok(())
        );
    }

    #[test]
    fn each_kind_stands_on_its_own_ref_only() {
        let (named, api, _) = named();
        let release = entry(20, vec![], release_body("api", "registry.local/api:v2"));
        for wrong in [RefName::service("search"), RefName::env("prod"), RefName::set(None)] {
            assert_eq!(broken(rules().check(&wrong, &release, &named)), Rule::KindOnRef, "{wrong}");
        }
        let deploy = entry(20, vec![], deployment("prod", "api", api));
        assert_eq!(rules().check(&RefName::env("prod"), &deploy, &named), Ok(()));
        assert_eq!(broken(rules().check(&RefName::env("stage"), &deploy, &named)), Rule::KindOnRef);
        assert_eq!(broken(rules().check(&RefName::service("api"), &deploy, &named)), Rule::KindOnRef);
    }

    #[test]
    fn bodies_name_entries_of_the_right_kind_and_service() {
        let (mut named, api, search) = named();
        let wrong_service = entry(20, vec![], deployment("prod", "api", search));
        assert_eq!(broken(rules().check(&RefName::env("prod"), &wrong_service, &named)), Rule::Names);
        let releases = BTreeMap::from([("api".to_string(), search)]);
        let set = entry(20, vec![], Body::ReleaseSet(ReleaseSet { service_set: None, releases }));
        assert_eq!(broken(rules().check(&RefName::set(None), &set, &named)), Rule::Names);

        let deploy = entry(20, vec![], deployment("prod", "api", api));
        let deploy_id = StoredEntry::seal(deploy.clone()).0.id;
        named.insert(deploy_id, Summary::of(&deploy));
        let outcome = |service: &str, running| {
            let result = ServiceOutcome {
                result: DeployResult::Succeeded,
                running: Some(running),
                task_definition: None,
                ecs_deployment: None,
                detail: String::new(),
            };
            let services = BTreeMap::from([(service.to_string(), result)]);
            entry(30, vec![deploy_id], Body::Outcome(Outcome { result: DeployResult::Succeeded, services }))
        };
        assert_eq!(rules().check(&RefName::env("prod"), &outcome("api", api), &named), Ok(()));
        assert_eq!(
            broken(rules().check(&RefName::env("stage"), &outcome("api", api), &named)),
            Rule::KindOnRef
        );
        assert_eq!(
            broken(rules().check(&RefName::env("prod"), &outcome("api", search), &named)),
            Rule::Names
        );
        assert_eq!(
            broken(rules().check(&RefName::env("prod"), &outcome("search", search), &named)),
            Rule::Names
        );
    }

    #[test]
    fn approvals_freezes_and_quarantines_name_what_they_govern_and_stand_on_their_refs() {
        use crate::entry::{Approval, Freeze, Quarantine, Unfreeze};
        let (mut named, api, _) = named();
        let set = entry(
            15,
            vec![],
            Body::ReleaseSet(ReleaseSet {
                service_set: None,
                releases: BTreeMap::from([("api".to_string(), api)]),
            }),
        );
        let set_id = StoredEntry::seal(set.clone()).0.id;
        named.insert(set_id, Summary::of(&set));
        let gates = RefName::gates("prod");

        let approval =
            |release_set| entry(20, vec![], Body::Approval(Approval { env: "prod".into(), release_set }));
        assert_eq!(rules().check(&gates, &approval(set_id), &named), Ok(()));
        assert_eq!(broken(rules().check(&gates, &approval(api), &named)), Rule::Names);
        assert_eq!(
            broken(rules().check(&RefName::gates("stage"), &approval(set_id), &named)),
            Rule::KindOnRef
        );
        assert_eq!(broken(rules().check(&RefName::env("prod"), &approval(set_id), &named)), Rule::KindOnRef);
        let mut early = approval(set_id);
        early.at = Timestamp(14);
        assert_eq!(broken(rules().check(&gates, &early, &named)), Rule::TimeOrder);
        let unknown_env =
            entry(20, vec![], Body::Approval(Approval { env: "qa".into(), release_set: set_id }));
        assert_eq!(broken(rules().check(&RefName::gates("qa"), &unknown_env, &named)), Rule::KnownName);

        let freeze = entry(20, vec![], Body::Freeze(Freeze { env: "prod".into() }));
        let unfreeze = entry(20, vec![], Body::Unfreeze(Unfreeze { env: "prod".into() }));
        assert_eq!(rules().check(&gates, &freeze, &named), Ok(()));
        assert_eq!(rules().check(&gates, &unfreeze, &named), Ok(()));
        assert_eq!(broken(rules().check(&RefName::quarantine(), &freeze, &named)), Rule::KindOnRef);

        let quarantine = |target| entry(20, vec![], Body::Quarantine(Quarantine { target }));
        assert_eq!(rules().check(&RefName::quarantine(), &quarantine(api), &named), Ok(()));
        assert_eq!(rules().check(&RefName::quarantine(), &quarantine(set_id), &named), Ok(()));
        let deploy = entry(20, vec![], deployment("prod", "api", api));
        let deploy_id = StoredEntry::seal(deploy.clone()).0.id;
        named.insert(deploy_id, Summary::of(&deploy));
        assert_eq!(
            broken(rules().check(&RefName::quarantine(), &quarantine(deploy_id), &named)),
            Rule::Names
        );
        assert_eq!(broken(rules().check(&gates, &quarantine(api), &named)), Rule::KindOnRef);
    }

    #[test]
    fn a_task_run_names_a_deployment_of_its_environment_and_stands_on_its_tasks_ref() {
        let (mut named, api, _) = named();
        let deploy = entry(20, vec![], deployment("prod", "api", api));
        let deploy_id = StoredEntry::seal(deploy.clone()).0.id;
        named.insert(deploy_id, Summary::of(&deploy));
        let run = |env: &str, purpose: TaskPurpose, command: Vec<&str>, detail: &str| {
            let body = Body::TaskRun(TaskRun {
                env: env.into(),
                service: "api".into(),
                purpose,
                command: command.into_iter().map(str::to_string).collect(),
                task_definition: Some("arn:aws:ecs:eu-west-1:1:task-definition/api:2".into()),
                task: Some("arn:aws:ecs:eu-west-1:1:task/prod/abc".into()),
                exit_code: Some(1),
                succeeded: false,
                detail: detail.into(),
                logs: None,
            });
            entry(30, vec![], body)
        };
        let tasks = RefName::tasks("prod");
        let before = run("prod", TaskPurpose::Before { deployment: deploy_id }, vec!["migrate"], "exited 1");
        assert_eq!(rules().check(&tasks, &before, &named), Ok(()));
        let manual = run("prod", TaskPurpose::Manual, vec!["rake", "db:status"], "exited 0");
        assert_eq!(rules().check(&tasks, &manual, &named), Ok(()));
        assert_eq!(broken(rules().check(&RefName::gates("prod"), &manual, &named)), Rule::KindOnRef);
        assert_eq!(broken(rules().check(&RefName::tasks("stage"), &manual, &named)), Rule::KindOnRef);
        // Its deployment is a deployment to the same environment.
        let elsewhere =
            run("stage", TaskPurpose::Verify { deployment: deploy_id }, vec!["smoke"], "exited 0");
        assert_eq!(broken(rules().check(&RefName::tasks("stage"), &elsewhere, &named)), Rule::Names);
        let not_a_deployment = run("prod", TaskPurpose::Verify { deployment: api }, vec!["smoke"], "");
        assert_eq!(broken(rules().check(&tasks, &not_a_deployment, &named)), Rule::Names);
        // Known names, printable text, a command.
        assert_eq!(
            broken(rules().check(
                &RefName::tasks("qa"),
                &run("qa", TaskPurpose::Manual, vec!["x"], ""),
                &named
            )),
            Rule::KnownName
        );
        assert_eq!(
            broken(rules().check(&tasks, &run("prod", TaskPurpose::Manual, vec![], ""), &named)),
            Rule::Text
        );
        let escape = run("prod", TaskPurpose::Manual, vec!["echo", "\u{1b}[2J"], "");
        assert_eq!(broken(rules().check(&tasks, &escape, &named)), Rule::Text);
        assert_eq!(
            broken(rules().check(&tasks, &run("prod", TaskPurpose::Manual, vec!["x"], "a\nb"), &named)),
            Rule::Text
        );
        // Not older than the deployment it belongs to.
        let mut early = before.clone();
        early.at = Timestamp(15);
        assert_eq!(broken(rules().check(&tasks, &early, &named)), Rule::TimeOrder);
    }

    #[test]
    fn a_forced_deployment_names_known_gates_and_is_forced_once() {
        let (named, api, _) = named();
        let forced = |trigger: Trigger, gates: &[&str]| {
            let Body::Deployment(mut deployment) = deployment("prod", "api", api) else { unreachable!() };
            deployment.trigger = Trigger::Forced {
                trigger: Box::new(trigger),
                gates: gates.iter().map(|g| g.to_string()).collect(),
            };
            entry(20, vec![], Body::Deployment(deployment))
        };
        let on = RefName::env("prod");
        assert_eq!(rules().check(&on, &forced(Trigger::Apply, &["soak", "approvals"]), &named), Ok(()));
        assert_eq!(broken(rules().check(&on, &forced(Trigger::Apply, &["weekend"]), &named)), Rule::Policy);
        let twice = Trigger::Forced { trigger: Box::new(Trigger::Apply), gates: vec!["soak".into()] };
        assert_eq!(broken(rules().check(&on, &forced(twice, &["soak"]), &named)), Rule::Policy);
        let from_unknown = Trigger::Promote { from_env: "qa".into(), from_head: None };
        assert_eq!(broken(rules().check(&on, &forced(from_unknown, &["soak"]), &named)), Rule::KnownName);
    }

    #[test]
    fn an_observed_deployment_says_when_ecs_started_only_services_it_changes() {
        let (named, api, _) = named();
        let observed = |services: &[&str]| {
            let Body::Deployment(mut deployment) = deployment("prod", "api", api) else { unreachable!() };
            let started = services.iter().map(|s| (s.to_string(), Timestamp(1_000_000))).collect();
            deployment.trigger = Trigger::Observed { started };
            entry(20, vec![], Body::Deployment(deployment))
        };
        let on = RefName::env("prod");
        assert_eq!(rules().check(&on, &observed(&["api"]), &named), Ok(()));
        assert_eq!(broken(rules().check(&on, &observed(&["api", "search"]), &named)), Rule::Names);
    }

    #[test]
    fn control_characters_in_actors_and_messages_are_refused() {
        let on = RefName::service("api");
        for (actor, message) in
            [("ana\u{1b}]0;pwned\u{7}", "ship"), ("ana", "ship\u{1b}[2J"), ("ana", "a\rb"), ("", "ship")]
        {
            let mut release = entry(20, vec![], release_body("api", "registry.local/api:v2"));
            (release.actor, release.message) = (actor.into(), message.into());
            assert_eq!(
                broken(rules().check(&on, &release, &Summaries::new())),
                Rule::Text,
                "{actor:?} {message:?}"
            );
        }
        let mut multiline = entry(20, vec![], release_body("api", "registry.local/api:v2"));
        multiline.message = "ship\n\tnow".into();
        assert_eq!(rules().check(&on, &multiline, &Summaries::new()), Ok(()));
        assert_eq!(check_message(&"x".repeat(MAX_MESSAGE_LEN + 1)).unwrap_err().rule, Rule::Text);
    }

    #[test]
    fn revisions_are_commit_hashes() {
        let on = RefName::service("api");
        let mut release = Release {
            service: "api".into(),
            image: "registry.local/api:v2".into(),
            digest: None,
            revision: Some("9fceb02".into()),
            revision_at: None,
        };
        assert_eq!(
            rules().check(&on, &entry(20, vec![], Body::Release(release.clone())), &Summaries::new()),
            Ok(())
        );
        release.revision = Some("main; rm -rf /".into());
        let bad = entry(20, vec![], Body::Release(release));
        assert_eq!(broken(rules().check(&on, &bad, &Summaries::new())), Rule::Revision);
    }

    #[test]
    fn recent_keeps_at_most_its_capacity_forgetting_the_oldest_first() {
        let mut recent = Recent::new(2);
        let seen: Vec<(EntryId, Summary)> = (0..3)
            .map(|at| {
                let release = entry(at, vec![], release_body("api", "registry.local/api:v1"));
                (StoredEntry::seal(release.clone()).0.id, Summary::of(&release))
            })
            .collect();
        for (id, summary) in &seen {
            recent.insert(*id, summary.clone());
        }
        // Held beyond its capacity until trimmed: what one entry names stays while it is checked.
        assert!(seen.iter().all(|(id, _)| recent.contains(id)));
        recent.trim();
        let held: Vec<bool> = seen.iter().map(|(id, _)| recent.contains(id)).collect();
        assert_eq!(held, [false, true, true]);
        assert_eq!(recent.summary(&seen[2].0), Some(&seen[2].1));
    }

    #[test]
    fn recent_holds_no_more_than_twice_its_capacity_however_many_entries_pass() {
        let mut recent = Recent::new(4);
        let summary = Summary::of(&entry(0, vec![], release_body("api", "registry.local/api:v1")));
        let ids: Vec<EntryId> =
            (0..1_000u32).map(|n| EntryId(*blake3::hash(&n.to_le_bytes()).as_bytes())).collect();
        for (passed, id) in ids.iter().enumerate() {
            // An entry named again while held keeps its place.
            recent.insert(*id, summary.clone());
            recent.insert(ids[passed.saturating_sub(2)], summary.clone());
            recent.trim();
            assert!(recent.held.len() <= 4 && recent.rows() <= 8, "after {passed}: {}", recent.rows());
            let held: Vec<bool> = ids[..=passed].iter().rev().map(|id| recent.contains(id)).collect();
            let expected: Vec<bool> = (0..=passed).map(|back| back < 4).collect();
            assert_eq!(held, expected, "after {passed}");
        }
    }

    #[test]
    fn times_outside_1970_to_9999_and_before_a_parent_are_refused() {
        let on = RefName::service("api");
        for at in [-1, Timestamp::MAX.0 + 1, i64::MAX] {
            let release = entry(at, vec![], release_body("api", "registry.local/api:v2"));
            assert_eq!(broken(rules().check(&on, &release, &Summaries::new())), Rule::TimeRange, "{at}");
        }
        let mut late_commit = Release {
            service: "api".into(),
            image: "registry.local/api:v2".into(),
            digest: None,
            revision: None,
            revision_at: Some(Timestamp(i64::MAX)),
        };
        let release = entry(20, vec![], Body::Release(late_commit.clone()));
        assert_eq!(broken(rules().check(&on, &release, &Summaries::new())), Rule::TimeRange);
        late_commit.revision_at = None;

        let (named, api, _) = named();
        let before_parent = entry(9, vec![api], release_body("api", "registry.local/api:v2"));
        assert_eq!(broken(rules().check(&on, &before_parent, &named)), Rule::TimeOrder);
        let same_time = entry(10, vec![api], Body::Release(late_commit));
        assert_eq!(rules().check(&on, &same_time, &named), Ok(()));
    }
}
