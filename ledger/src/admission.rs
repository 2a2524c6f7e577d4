//! Admission: whether an entry may stand on a ref under the project's rules. One rule set for
//! every entry, recorded here or taken in from a remote: known names, the right kind on the
//! right ref, images from their service's repository, printable text, times in range and not
//! before their parents, and bodies that name entries of the right kind and service.

use std::collections::BTreeMap;
use std::fmt;

use crate::StoredEntry;
use crate::entry::{Body, Deployment, Entry, Outcome, Release, ReleaseSet, Trigger};
use crate::id::EntryId;
use crate::image::ImageRef;
use crate::manifest::{Manifest, join_or_none};
use crate::name::{self, NameKind};
use crate::refs::RefName;
use crate::store::{Source, StoreError, history_ref};
use crate::timestamp::Timestamp;

/// Longest message an entry may carry, in bytes.
pub const MAX_MESSAGE_LEN: usize = 10_000;
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
    /// outcomes on `env/<env>`.
    KindOnRef,
    /// An image is a valid reference from its service's `image_repository`.
    Image,
    /// A revision is a git commit hash.
    Revision,
    /// Actors and messages are printable and not too long.
    Text,
    /// Times lie between 1970-01-01 and 9999-12-31.
    TimeRange,
    /// An entry is not older than its parents (nor a deployment than its release set).
    TimeOrder,
    /// What a body names is an entry of the right kind, for the right service.
    Names,
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

/// The entries an entry names (its parents and what its body points at), by id.
pub type Named = BTreeMap<EntryId, Entry>;

/// The rules entries are held to: with a manifest, also that names are declared there and
/// images come from their service's repository.
#[derive(Clone, Debug)]
pub struct Rules {
    manifest: Option<Manifest>,
}

impl Rules {
    /// Every rule, the manifest's included.
    pub fn of(manifest: &Manifest) -> Rules {
        Rules { manifest: Some(manifest.clone()) }
    }

    /// The rules that need no manifest (where there is none, as in a clone outside a project).
    pub fn without_manifest() -> Rules {
        Rules { manifest: None }
    }

    /// Whether `stored` may stand on ref `on`, given the entries it names (read from `source`).
    pub fn admit(&self, source: &impl Source, on: &RefName, stored: &StoredEntry) -> Result<(), StoreError> {
        let mut named = Named::new();
        for id in stored.entry.references() {
            if let Some(entry) = source.entry(&id)? {
                named.insert(id, entry.entry);
            }
        }
        self.check(on, &stored.entry, &named)
            .map_err(|broken| Refusal { id: stored.id, on: on.to_string(), broken }.into())
    }

    /// Whether `stored` may stand on the ref whose history it is part of.
    pub fn admit_in_history(&self, source: &impl Source, stored: &StoredEntry) -> Result<(), StoreError> {
        self.admit(source, &history_ref(source, &stored.entry)?, stored)
    }

    /// Whether `entry` may stand on ref `on`; `named` holds the entries it names.
    pub fn check(&self, on: &RefName, entry: &Entry, named: &Named) -> Result<(), Broken> {
        check_text(&entry.actor, &entry.message)?;
        check_time(entry.at)?;
        match &entry.body {
            Body::Release(release) => self.check_release(release)?,
            Body::ReleaseSet(set) => self.check_release_set(set, named)?,
            Body::Deployment(deployment) => self.check_deployment(deployment, named)?,
            Body::Outcome(outcome) => self.check_outcome(outcome, &entry.parents, named)?,
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

    fn check_release_set(&self, set: &ReleaseSet, named: &Named) -> Result<(), Broken> {
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

    fn check_deployment(&self, deployment: &Deployment, named: &Named) -> Result<(), Broken> {
        self.check_env(&deployment.env)?;
        if let Trigger::Promote { from_env, .. } = &deployment.trigger {
            self.check_env(from_env)?;
        }
        if let Some(set) = &deployment.release_set
            && named.get(set).is_none_or(|entry| entry.as_release_set().is_none())
        {
            return Err(Broken::new(
                Rule::Names,
                format!("its release set {} is not a release set", set.short()),
            ));
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

    fn check_outcome(&self, outcome: &Outcome, parents: &[EntryId], named: &Named) -> Result<(), Broken> {
        let deployment = parents.first().and_then(|id| named.get(id)).and_then(Entry::as_deployment);
        let Some(deployment) = deployment else {
            return Err(Broken::new(Rule::Names, "an outcome's first parent must be its deployment"));
        };
        for (service, result) in &outcome.services {
            self.check_service(service)?;
            if !deployment.changes.contains_key(service) {
                let detail = format!("service {service:?} is not one its deployment changes");
                return Err(Broken::new(Rule::Names, detail));
            }
            if let Some(running) = &result.running {
                check_release_of(service, running, named)?;
            }
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
fn check_release_of(service: &str, release: &EntryId, named: &Named) -> Result<(), Broken> {
    match named.get(release).and_then(Entry::as_release) {
        Some(found) if found.service == service => Ok(()),
        Some(found) => Err(Broken::new(
            Rule::Names,
            format!(
                "it gives service {service:?} release {}, a release of {:?}",
                release.short(),
                found.service
            ),
        )),
        None => Err(Broken::new(
            Rule::Names,
            format!("it gives service {service:?} entry {}, which is not a release", release.short()),
        )),
    }
}

/// The entry must stand on the ref whose history it is part of.
fn check_ref(on: &RefName, entry: &Entry, named: &Named) -> Result<(), Broken> {
    let expected = match &entry.body {
        Body::Release(release) => RefName::service(&release.service),
        Body::ReleaseSet(set) => RefName::set(set.service_set.as_deref()),
        Body::Deployment(deployment) => RefName::env(&deployment.env),
        Body::Outcome(_) => {
            let env = entry.parents.first().and_then(|id| named.get(id)).and_then(Entry::as_deployment);
            match env {
                Some(deployment) => RefName::env(&deployment.env),
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
fn check_time_order(entry: &Entry, named: &Named) -> Result<(), Broken> {
    let release_set = entry.as_deployment().and_then(|deployment| deployment.release_set);
    for earlier in entry.parents.iter().chain(&release_set) {
        if let Some(parent) = named.get(earlier)
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

/// Whether entry `head`, stored in `source`, may be the head of ref `on` (a remote's ref names
/// an entry of that ref's history, never one of another).
pub fn check_head(source: &impl Source, on: &RefName, head: EntryId) -> Result<(), StoreError> {
    let Some(stored) = source.entry(&head)? else { return Ok(()) };
    let mut named = Named::new();
    if let (Body::Outcome(_), Some(deployment)) = (&stored.entry.body, stored.entry.parents.first())
        && let Some(found) = source.entry(deployment)?
    {
        named.insert(*deployment, found.entry);
    }
    check_ref(on, &stored.entry, &named)
        .map_err(|broken| Refusal { id: head, on: on.to_string(), broken }.into())
}
