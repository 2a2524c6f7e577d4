//! Rendering: colour (on a terminal only, `NO_COLOR` honoured), aligned tables, and the JSON
//! shapes scripts depend on (documented in the README).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::rc::Rc;

use ledger::history::DeploymentRecord;
use ledger::{Body, DeployResult, EntryId, Source, StoredEntry, Timestamp, Trigger};
use serde_json::{Map, Value, json};

use crate::error::CommandError;

#[derive(Clone, Copy)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    pub fn detect() -> Style {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style { colour: std::io::stdout().is_terminal() && !no_colour }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// A deployment result, coloured by how it went; `None` is "in flight".
    pub fn result(self, result: Option<DeployResult>) -> String {
        match result {
            Some(DeployResult::Succeeded) => self.paint("32", "succeeded"),
            Some(other @ (DeployResult::Failed | DeployResult::RolledBack)) => {
                self.paint("31", other.as_str())
            }
            Some(DeployResult::Submitted) => self.paint("33", "submitted"),
            None => self.paint("33", "in flight"),
        }
    }
}

pub fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|cell| visible_width(cell)).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                line.push_str(&" ".repeat(widths[c] - visible_width(cell) + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Width on screen, not counting colour escapes.
fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

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
    pub fn load(source: &impl Source, id: EntryId) -> Result<ReleaseView, CommandError> {
        let stored = source
            .entry(&id)?
            .ok_or_else(|| CommandError::failed(format!("release {id} is missing; run `ledger verify`")))?;
        ReleaseView::of(&stored).ok_or_else(|| {
            CommandError::failed(format!("entry {id} is referenced as a release but is not one"))
        })
    }

    /// The view of a stored release; `None` when the entry is not one.
    fn of(stored: &StoredEntry) -> Option<ReleaseView> {
        let release = stored.entry.as_release()?;
        let parsed = ledger::image::ImageRef::parse(&release.image_ref()).ok();
        let label = match parsed {
            Some(image) => match (image.tag, image.digest) {
                (Some(tag), _) => tag,
                (None, Some(digest)) => format!("@{}", &digest[..digest.len().min(19)]),
                (None, None) => "untagged".into(),
            },
            None => release.image.clone(),
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

    /// `v1.4.0 3b18e51`: the tag and the short revision.
    pub fn human(&self) -> String {
        match self.short_revision() {
            Some(revision) => format!("{} {revision}", self.label),
            None => self.label.clone(),
        }
    }

    pub fn json(&self) -> Value {
        json!({"release": self.id.to_hex(), "image": self.image, "revision": self.revision})
    }
}

/// Release views of one command, each release loaded once: consecutive deployments name the
/// same releases over and over.
pub struct Releases<'s, S> {
    source: &'s S,
    seen: RefCell<BTreeMap<EntryId, Rc<ReleaseView>>>,
}

impl<'s, S: Source> Releases<'s, S> {
    pub fn new(source: &'s S) -> Releases<'s, S> {
        Releases { source, seen: RefCell::new(BTreeMap::new()) }
    }

    pub fn source(&self) -> &'s S {
        self.source
    }

    /// Learns every release recorded from position `first` on, with one sequential read:
    /// cheaper than looking recent releases up one id at a time.
    pub fn learn_recent(&self, first: u64) -> Result<(), CommandError> {
        for stored in self.source.releases_from(first)? {
            if let Some(view) = ReleaseView::of(&stored) {
                self.seen.borrow_mut().insert(stored.id, Rc::new(view));
            }
        }
        Ok(())
    }

    /// Learns the releases of a state from where the state says they are recorded: a read by
    /// position, cheaper than going through the id index. A position that does not hold the
    /// release is ignored, and the release is looked up by id when asked for.
    pub fn learn_placed(&self, placed: &BTreeMap<String, (EntryId, u64)>) -> Result<(), CommandError> {
        for (id, seq) in placed.values() {
            if self.seen.borrow().contains_key(id) {
                continue;
            }
            let Some(stored) = self.source.entry_at(*seq)? else { continue };
            if let Some(view) = ReleaseView::of(&stored).filter(|_| stored.id == *id) {
                self.seen.borrow_mut().insert(*id, Rc::new(view));
            }
        }
        Ok(())
    }

    pub fn view(&self, id: EntryId) -> Result<Rc<ReleaseView>, CommandError> {
        if let Some(view) = self.seen.borrow().get(&id) {
            return Ok(view.clone());
        }
        let view = Rc::new(ReleaseView::load(self.source, id)?);
        self.seen.borrow_mut().insert(id, view.clone());
        Ok(view)
    }

    /// A release side that may be absent: `-` when it is.
    pub fn human(&self, id: Option<EntryId>) -> Result<String, CommandError> {
        Ok(match id {
            Some(id) => self.view(id)?.human(),
            None => "-".into(),
        })
    }

    /// A release side that may be absent: `null` when it is.
    pub fn json(&self, id: Option<EntryId>) -> Result<Value, CommandError> {
        Ok(match id {
            Some(id) => self.view(id)?.json(),
            None => Value::Null,
        })
    }
}

fn ids_json(ids: &[EntryId]) -> Value {
    Value::Array(ids.iter().map(|id| Value::String(id.to_hex())).collect())
}

/// An entry in the documented JSON shape: `id`, `kind`, `parents`, `at`, `actor`, `message`,
/// then the fields of its kind.
pub fn entry_json<S: Source>(
    releases: &Releases<'_, S>,
    stored: &StoredEntry,
) -> Result<Value, CommandError> {
    let source = releases.source();
    let entry = &stored.entry;
    let mut object = Map::new();
    object.insert("id".into(), json!(stored.id.to_hex()));
    object.insert("kind".into(), json!(entry.kind().as_str()));
    object.insert("parents".into(), ids_json(&entry.parents));
    object.insert("at".into(), json!(entry.at.to_rfc3339()));
    object.insert("actor".into(), json!(entry.actor));
    object.insert("message".into(), json!(entry.message));
    match &entry.body {
        Body::Release(release) => {
            object.insert("service".into(), json!(release.service));
            object.insert("image".into(), json!(release.image_ref()));
            object.insert("digest".into(), json!(release.digest));
            object.insert("revision".into(), json!(release.revision));
            object.insert("revision_at".into(), json!(release.revision_at.map(|at| at.to_rfc3339())));
        }
        Body::ReleaseSet(set) => {
            object.insert("service_set".into(), json!(set.service_set));
            let releases: Map<String, Value> =
                set.releases.iter().map(|(service, id)| (service.clone(), json!(id.to_hex()))).collect();
            object.insert("releases".into(), Value::Object(releases));
        }
        Body::Deployment(deployment) => {
            object.insert("env".into(), json!(deployment.env));
            object.insert("release_set".into(), json!(deployment.release_set.map(|id| id.to_hex())));
            object.insert("trigger".into(), trigger_json(&deployment.trigger));
            let mut services = Map::new();
            for (service, change) in &deployment.changes {
                let sides =
                    json!({"from": releases.json(change.from)?, "to": releases.json(Some(change.to))?});
                services.insert(service.clone(), sides);
            }
            object.insert("services".into(), Value::Object(services));
            let outcome = source.outcome_of(stored)?;
            object.insert("outcome".into(), json!(outcome.map(|id| id.to_hex())));
        }
        Body::Outcome(outcome) => {
            object.insert("deployment".into(), json!(entry.parents[0].to_hex()));
            object.insert("result".into(), json!(outcome.result.as_str()));
            let mut services = Map::new();
            for (service, result) in &outcome.services {
                services.insert(
                    service.clone(),
                    json!({
                        "result": result.result.as_str(),
                        "running": releases.json(result.running)?,
                        "task_definition": result.task_definition,
                        "ecs_deployment": result.ecs_deployment,
                        "detail": result.detail,
                    }),
                );
            }
            object.insert("services".into(), Value::Object(services));
        }
    }
    Ok(Value::Object(object))
}

/// A deployment with its outcome nested, as `log <env> --output json` shows it.
pub fn record_json<S: Source>(
    releases: &Releases<'_, S>,
    record: &DeploymentRecord,
) -> Result<Value, CommandError> {
    let mut value = entry_json(releases, &record.deployment)?;
    let outcome = match &record.outcome {
        Some(outcome) => entry_json(releases, outcome)?,
        None => Value::Null,
    };
    value["result"] = json!(record.result().map(|r| r.as_str()));
    value["outcome"] = outcome;
    Ok(value)
}

fn trigger_json(trigger: &Trigger) -> Value {
    match trigger {
        Trigger::Apply => json!({"kind": "apply"}),
        Trigger::Promote { from_env, from_head } => {
            json!({"kind": "promote", "from_env": from_env, "from_head": from_head.map(|id| id.to_hex())})
        }
        Trigger::Rollback { to } => json!({"kind": "rollback", "to": to.map(|id| id.to_hex())}),
        Trigger::Import => json!({"kind": "import"}),
    }
}

/// `apply of set 5b1c2d3e4f5a`, `promote from stage`, `rollback to 1a2b…`.
pub fn trigger_human(trigger: &Trigger, release_set: Option<EntryId>) -> String {
    match trigger {
        Trigger::Apply => match release_set {
            Some(set) => format!("apply of release set {}", set.short()),
            None => "apply".into(),
        },
        Trigger::Promote { from_env, .. } => format!("promote from {from_env}"),
        Trigger::Rollback { to: Some(to) } => format!("rollback to the state after {}", to.short()),
        Trigger::Rollback { to: None } => "rollback to the state before the first deployment".into(),
        Trigger::Import => "import of what ECS ran".into(),
    }
}
