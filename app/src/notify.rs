//! Events: the outbox delivered to the sinks `[[notify]]` names — after every recording
//! operation's work ([`deliver_after`]), on demand ([`flush`], `ledger notify --flush`) — and what
//! it still holds ([`outbox`], `ledger notify --status`, `ledger status`). Delivery is at least
//! once: an event leaves the outbox only when its sink took it, and the entry id is its
//! idempotency key. A failed delivery never fails the operation: it is reported and retried.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ledger::entry::{EntryKind, TaskPurpose};
use ledger::notify::{Secret, Sink, Target, Value as SinkValue};
use ledger::outbox::{Attempt, Queued};
use ledger::{Body, DeployResult, EntryId, Source, Store, StoredEntry, Timestamp};
use ledger_sync::notify::{BusEvent, Poster, SIGNATURE_HEADER, SendError, put_events, signature};
use ledger_sync::{AwsSettings, Cloud};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::hooks::Progress;
use crate::json;
use crate::runtime::block_on;
use crate::text::inert;
use crate::views::{EnvStatus, Releases};
use crate::workspace::Workspace;

/// Waits between the attempts one operation makes: three attempts in all.
const WAITS_IN_AN_OPERATION: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];
/// After an operation's attempts failed, the next operation tries again after this, doubled for
/// every earlier failure, at most [`MOST_BETWEEN_RETRIES`].
const FIRST_RETRY: Duration = Duration::from_secs(30);
const MOST_BETWEEN_RETRIES: Duration = Duration::from_secs(3600);
/// EventBridge takes at most 10 events per PutEvents.
const EVENTS_PER_PUT: usize = 10;

/// What the outbox holds: each event still owed, with its entry.
pub struct Outbox {
    pub events: Vec<Owed>,
}

/// An event a sink is still owed.
pub struct Owed {
    pub queued: Queued,
    pub entry: EntryId,
    pub kind: EntryKind,
    /// Whether `[[notify]]` still names its sink (an event of a removed sink is kept, not sent).
    pub configured: bool,
}

impl Outbox {
    /// Events that failed at least once.
    pub fn failing(&self) -> impl Iterator<Item = &Owed> {
        self.events.iter().filter(|owed| owed.queued.attempts > 0)
    }

    /// `notify --status --output json`: `{"pending", "failing", "events": [...]}`.
    pub fn json(&self) -> Value {
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|owed| {
                json!({
                    "sink": owed.queued.sink,
                    "entry": owed.entry.to_hex(),
                    "kind": owed.kind.as_str(),
                    "attempts": owed.queued.attempts,
                    "next_attempt": (owed.queued.attempts > 0).then(|| owed.queued.not_before.to_rfc3339()),
                    "error": (!owed.queued.error.is_empty()).then_some(&owed.queued.error),
                    "configured": owed.configured,
                })
            })
            .collect();
        json!({"pending": self.events.len(), "failing": self.failing().count(), "events": events})
    }
}

/// What one delivery run did.
#[derive(Default)]
pub struct Delivery {
    pub delivered: usize,
    /// Per sink, the events whose last attempt failed and why the last one did.
    pub failed: BTreeMap<String, (usize, String)>,
    /// Events still in the outbox afterwards (failed, not yet due, or of a removed sink).
    pub left: usize,
}

impl Delivery {
    pub fn json(&self) -> Value {
        let failed: serde_json::Map<String, Value> = self
            .failed
            .iter()
            .map(|(sink, (count, error))| (sink.clone(), json!({"events": count, "error": error})))
            .collect();
        json!({"delivered": self.delivered, "failed": failed, "left": self.left})
    }
}

/// What the outbox of the workspace's ledger holds.
pub fn outbox(workspace: &Workspace) -> Result<Outbox> {
    outbox_in(workspace, &workspace.open_store_for_reading()?)
}

/// What the outbox of `store` holds (the dashboard's open ledger, or an operation's).
pub fn outbox_in(workspace: &Workspace, store: &Store) -> Result<Outbox> {
    let queued = store.queued()?;
    let reader = store.read()?;
    let mut events = Vec::with_capacity(queued.len());
    for queued in queued {
        let stored = entry_at(&reader, queued.seq)?;
        let configured = configured(workspace, &queued.sink);
        events.push(Owed { entry: stored.id, kind: stored.entry.kind(), configured, queued });
    }
    Ok(Outbox { events })
}

/// Whether `[[notify]]` names sink `name`.
fn configured(workspace: &Workspace, name: &str) -> bool {
    workspace.manifest.notify.iter().any(|sink| sink.name == name)
}

/// Delivers every event in the outbox now, due or not (`ledger notify --flush`); a failed one
/// stays for the next attempt.
pub fn flush(workspace: &Workspace, progress: &dyn Progress) -> Result<Delivery> {
    deliver(workspace, &workspace.open_store()?, false, progress)
}

/// After an operation's work: delivers the events that are due, with a few attempts, and says on
/// `progress` what is left. It never fails the operation.
pub fn deliver_after(workspace: &Workspace, store: &Store, progress: &dyn Progress) {
    if workspace.manifest.notify.is_empty() {
        return;
    }
    match deliver(workspace, store, true, progress) {
        Ok(delivery) => {
            for (sink, (count, error)) in &delivery.failed {
                progress.warning(&format!(
                    "could not deliver {count} event(s) to {sink}: {error}; they wait in the outbox (`ledger notify --status`, `ledger notify --flush`)"
                ));
            }
        }
        Err(error) => progress.warning(&format!("events were not delivered: {error}")),
    }
}

fn deliver(
    workspace: &Workspace,
    store: &Store,
    due_only: bool,
    progress: &dyn Progress,
) -> Result<Delivery> {
    let mut delivery = Delivery::default();
    let mut senders = Senders::new(workspace);
    let mut documents = BTreeMap::new();
    // The first round takes what is due; each later one what failed in the round before.
    let mut failed_last_round: Option<BTreeSet<(String, u64)>> = None;
    for wait in std::iter::once(None).chain(WAITS_IN_AN_OPERATION.map(Some)) {
        let now = Timestamp::now();
        // The outbox's rows alone: an entry is read only when its event is sent.
        let due: Vec<Queued> = store
            .queued()?
            .into_iter()
            .filter(|queued| match &failed_last_round {
                None => configured(workspace, &queued.sink) && (!due_only || queued.not_before <= now),
                Some(failed) => failed.contains(&(queued.sink.clone(), queued.seq)),
            })
            .collect();
        if due.is_empty() {
            break;
        }
        if let Some(wait) = wait {
            std::thread::sleep(wait);
        }
        let attempts = senders.send(store, &due, &mut documents, progress)?;
        store.settle(&attempts)?;
        delivery.failed.clear();
        let mut failed = BTreeSet::new();
        for (queued, attempt) in &attempts {
            match attempt {
                Attempt::Delivered => delivery.delivered += 1,
                Attempt::Failed { error, .. } => {
                    let count = delivery.failed.entry(queued.sink.clone()).or_insert((0, String::new()));
                    count.0 += 1;
                    count.1.clone_from(error);
                    failed.insert((queued.sink.clone(), queued.seq));
                }
            }
        }
        failed_last_round = Some(failed);
    }
    delivery.left = store.queued()?.len();
    Ok(delivery)
}

/// The sinks, with what sending to them needs (secrets, clients) found once per delivery run.
struct Senders<'w> {
    workspace: &'w Workspace,
    poster: Option<Poster>,
    /// Per sink: its URL and secret, or why they cannot be had.
    secrets: BTreeMap<String, std::result::Result<(String, Option<String>), String>>,
    /// The project's AWS connection (SSM secrets), and EventBridge's per region.
    clouds: BTreeMap<Option<String>, std::result::Result<Cloud, String>>,
}

impl<'w> Senders<'w> {
    fn new(workspace: &'w Workspace) -> Senders<'w> {
        Senders { workspace, poster: None, secrets: BTreeMap::new(), clouds: BTreeMap::new() }
    }

    /// One attempt at each of `due`, sink by sink in recording order; a sink's first failure
    /// ends its attempts of this round (later events keep their turn). `documents` keeps each
    /// event made, by its entry's seq, for the rounds after this one.
    fn send(
        &mut self,
        store: &Store,
        due: &[Queued],
        documents: &mut BTreeMap<u64, Value>,
        progress: &dyn Progress,
    ) -> Result<Vec<(Queued, Attempt)>> {
        let reader = store.read()?;
        let releases = Releases::new(&reader, &self.workspace.trust);
        for queued in due {
            if let std::collections::btree_map::Entry::Vacant(slot) = documents.entry(queued.seq) {
                slot.insert(event_document(self.workspace, &releases, &entry_at(&reader, queued.seq)?)?);
            }
        }
        let documents = &*documents;
        let mut attempts = Vec::new();
        for sink in &self.workspace.manifest.notify {
            let events: Vec<(Queued, &Value)> = due
                .iter()
                .filter(|queued| queued.sink == sink.name)
                .map(|queued| (queued.clone(), &documents[&queued.seq]))
                .collect();
            if events.is_empty() {
                continue;
            }
            let sent = self.send_to(sink, &events);
            let count = sent.iter().filter(|result| result.is_ok()).count();
            if count > 0 {
                progress.note(&format!("delivered {count} event(s) to {}", sink.name));
            }
            for ((queued, _), result) in events.into_iter().zip(sent) {
                let attempt = match result {
                    Ok(()) => Attempt::Delivered,
                    Err(error) => Attempt::Failed { retry_at: retry_at(queued.attempts), error },
                };
                attempts.push((queued, attempt));
            }
        }
        Ok(attempts)
    }

    /// Each event's result, in order; after the first failure the rest are not tried and fail
    /// with the same error.
    fn send_to(&mut self, sink: &Sink, events: &[(Queued, &Value)]) -> Vec<std::result::Result<(), String>> {
        let mut results = Vec::with_capacity(events.len());
        let mut first_failure: Option<String> = None;
        match &sink.target {
            Target::Webhook { .. } | Target::Slack { .. } => {
                for (_, document) in events {
                    if let Some(error) = &first_failure {
                        results.push(Err(error.clone()));
                        continue;
                    }
                    let result = self.post(sink, document);
                    if let Err(error) = &result {
                        first_failure = Some(error.clone());
                    }
                    results.push(result);
                }
            }
            Target::EventBridge { bus, source, region } => {
                for batch in events.chunks(EVENTS_PER_PUT) {
                    if let Some(error) = &first_failure {
                        results.extend(batch.iter().map(|_| Err(error.clone())));
                        continue;
                    }
                    match self.put(bus, source, region.as_deref(), batch) {
                        Ok(each) => results.extend(each),
                        Err(error) => {
                            results.extend(batch.iter().map(|_| Err(error.clone())));
                            first_failure = Some(error);
                        }
                    }
                }
            }
        }
        results
    }

    /// POSTs one event to a webhook or Slack sink.
    fn post(&mut self, sink: &Sink, document: &Value) -> std::result::Result<(), String> {
        let (url, secret) = self.url_and_secret(sink)?;
        let slack = matches!(sink.target, Target::Slack { .. });
        let body = if slack { slack_message(document) } else { document.clone() };
        let body = serde_json::to_vec(&body).map_err(|error| error.to_string())?;
        let mut headers = Vec::new();
        if !slack {
            let id = document["id"].as_str().unwrap_or_default().to_string();
            headers.push(("X-Ledger-Event", document["kind"].as_str().unwrap_or_default().to_string()));
            headers.push(("X-Ledger-Delivery", id.clone()));
            headers.push(("Idempotency-Key", id));
            if let Some(secret) = &secret {
                headers.push((SIGNATURE_HEADER, signature(secret.as_bytes(), &body)));
            }
        }
        let poster = self.poster.get_or_insert_with(Poster::new);
        let sent = block_on(poster.post(&url, &headers, body)).map_err(|error| error.to_string())?;
        sent.map_err(|error: SendError| error.to_string())
    }

    /// PutEvents of one batch (at most [`EVENTS_PER_PUT`]): each event's result.
    fn put(
        &mut self,
        bus: &str,
        source: &str,
        region: Option<&str>,
        batch: &[(Queued, &Value)],
    ) -> std::result::Result<Vec<std::result::Result<(), String>>, String> {
        let events: Vec<BusEvent> = batch
            .iter()
            .map(|(_, document)| BusEvent {
                detail_type: detail_type(document["kind"].as_str().unwrap_or_default()),
                detail: document.to_string(),
                resources: Vec::new(),
            })
            .collect();
        let cloud = self.cloud(region.map(str::to_string))?;
        let client = cloud.eventbridge();
        let put = block_on(put_events(&client, bus, source, &events)).map_err(|error| error.to_string())?;
        put.map_err(|error| error.to_string())
    }

    /// A webhook's or Slack's URL, and a webhook's signing secret, read once per run.
    fn url_and_secret(&mut self, sink: &Sink) -> std::result::Result<(String, Option<String>), String> {
        if let Some(known) = self.secrets.get(&sink.name) {
            return known.clone();
        }
        let found = match &sink.target {
            Target::Webhook { url, secret } => {
                let url = match url {
                    SinkValue::Literal(url) => Ok(url.clone()),
                    SinkValue::Secret(secret) => self.secret(secret),
                };
                url.and_then(|url| Ok((url, secret.as_ref().map(|secret| self.secret(secret)).transpose()?)))
            }
            Target::Slack { url } => self.secret(url).map(|url| (url, None)),
            Target::EventBridge { .. } => Err("an EventBridge sink has no URL".to_string()),
        };
        self.secrets.insert(sink.name.clone(), found.clone());
        found
    }

    fn secret(&mut self, secret: &Secret) -> std::result::Result<String, String> {
        match secret {
            Secret::Env(variable) => match std::env::var(variable) {
                Ok(value) if !value.is_empty() => Ok(value),
                _ => Err(format!("the environment variable {variable} is not set")),
            },
            Secret::Ssm(parameter) => {
                let cloud = self.cloud(None)?;
                let value =
                    block_on(cloud.parameters().secret(parameter)).map_err(|error| error.to_string())?;
                match value.map_err(|error| error.to_string())? {
                    Some(value) => Ok(value),
                    None => Err(format!("there is no SSM parameter {parameter}")),
                }
            }
        }
    }

    /// The AWS connection for `region` (`None`: the project's defaults), made once per run.
    fn cloud(&mut self, region: Option<String>) -> std::result::Result<&Cloud, String> {
        let workspace = self.workspace;
        let connection = self.clouds.entry(region.clone()).or_insert_with(|| {
            let settings = AwsSettings {
                profile: workspace.settings.profile.clone(),
                region: region
                    .or_else(|| workspace.settings.region.clone())
                    .or_else(|| workspace.project_region()),
                role_arn: None,
            };
            crate::cloud::connect_with(&settings).map_err(|error| error.to_string())
        });
        connection.as_ref().map_err(Clone::clone)
    }
}

fn entry_at(reader: &impl Source, seq: u64) -> Result<StoredEntry> {
    reader
        .entry_at(seq)?
        .ok_or_else(|| Error::failed(format!("the outbox names entry #{seq}, which is not stored")))
}

/// When to try again after `failures_before` failed attempts and this one.
fn retry_at(failures_before: u32) -> Timestamp {
    let wait =
        FIRST_RETRY.saturating_mul(2u32.saturating_pow(failures_before.min(16))).min(MOST_BETWEEN_RETRIES);
    Timestamp(Timestamp::now().0.saturating_add(i64::try_from(wait.as_micros()).unwrap_or(i64::MAX)))
}

/// The event of `stored`, as webhooks receive it and EventBridge carries it as its detail:
/// `{"ledger_event": 1, "id", "kind", "project", "entry", "environment", "url", "summary"}`, where `entry` is
/// the entry as `ledger show --output json` prints it, `environment` the state of the
/// environment a deployment or outcome is about (`status --output json`'s shape) when the event
/// is sent, and `url` the entry's dashboard page when `project.dashboard_url` is set.
fn event_document<S: Source>(
    workspace: &Workspace,
    releases: &Releases<'_, S>,
    stored: &StoredEntry,
) -> Result<Value> {
    let entry = json::entry(releases, stored)?;
    // An outcome is about its deployment's environment, and tells its deployment's story.
    let deployment = match (&stored.entry.body, stored.entry.parents.first()) {
        (Body::Outcome(_), Some(deployment)) => releases.source().entry(deployment)?,
        _ => None,
    };
    let env = match &stored.entry.body {
        Body::Deployment(deployment) => Some(deployment.env.as_str()),
        Body::Outcome(_) => deployment.as_ref().and_then(|d| d.entry.as_deployment()).map(|d| d.env.as_str()),
        _ => None,
    };
    let environment = match env {
        Some(env) => EnvStatus::load(releases, env)?.json(),
        None => Value::Null,
    };
    let url =
        workspace.manifest.project.dashboard_url.as_ref().map(|base| format!("{base}/entry/{}", stored.id));
    Ok(json!({
        "ledger_event": 1,
        "id": stored.id.to_hex(),
        "kind": stored.entry.kind().as_str(),
        "project": workspace.manifest.project.id,
        "entry": entry,
        "environment": environment,
        "url": url,
        "summary": summary(releases, stored, deployment.as_ref())?,
    }))
}

/// EventBridge's detail-type of an entry kind: `Ledger Deployment`, `Ledger Release Set`, ….
fn detail_type(kind: &str) -> String {
    let words: Vec<String> = kind
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
        })
        .collect();
    format!("Ledger {}", words.join(" "))
}

/// Who did what, where, and how it ended, in a few lines of plain text (what a chat shows);
/// `deployment`: an outcome's.
fn summary<S: Source>(
    releases: &Releases<'_, S>,
    stored: &StoredEntry,
    deployment: Option<&StoredEntry>,
) -> Result<Value> {
    let entry = &stored.entry;
    let actor = entry.actor.as_str();
    let release = |id: Option<EntryId>| releases.human(id);
    let mut lines = Vec::new();
    // Why: the entry's message; an outcome's is its deployment's.
    let mut why = entry.message.clone();
    let headline = match &entry.body {
        Body::Release(release_entry) => {
            format!("{actor} released {}: {}", release_entry.service, release_entry.image_ref())
        }
        Body::ReleaseSet(set) => format!(
            "{actor} made release set {} of {} ({} service(s))",
            stored.id.short(),
            set.service_set.as_deref().unwrap_or("every service"),
            set.releases.len()
        ),
        Body::Deployment(deployment) => {
            for (service, change) in &deployment.changes {
                let to = release(Some(change.to))?;
                lines.push(match change.from {
                    Some(from) => format!("{service}: {} -> {to}", release(Some(from))?),
                    None => format!("{service}: {to} (new here)"),
                });
            }
            format!("{actor} started deployment {} to {}", stored.id.short(), deployment.env)
        }
        Body::Outcome(outcome) => {
            let (env, by) = deployment
                .and_then(|d| d.entry.as_deployment().map(|dep| (dep.env.as_str(), d.entry.actor.as_str())))
                .unwrap_or_default();
            why = deployment.map(|d| d.entry.message.clone()).unwrap_or_default();
            for (service, result) in &outcome.services {
                let running = match result.running {
                    Some(running) => format!(", runs {}", release(Some(running))?),
                    None => String::new(),
                };
                let detail = match result.result {
                    DeployResult::Succeeded => String::new(),
                    _ if result.said().is_empty() => String::new(),
                    _ => format!(": {}", result.said()),
                };
                lines.push(format!(
                    "{service}: {}{detail}{running}",
                    result.result.as_str().replace('_', " ")
                ));
            }
            let deployment_id = entry.parents.first().map(EntryId::short).unwrap_or_default();
            format!(
                "deployment {deployment_id} to {env} by {by}: {}",
                outcome.result.as_str().replace('_', " ")
            )
        }
        Body::Approval(approval) => {
            format!("{actor} approved release set {} for {}", approval.release_set.short(), approval.env)
        }
        Body::Freeze(freeze) => format!("{actor} froze {}", freeze.env),
        Body::Unfreeze(unfreeze) => format!("{actor} unfroze {}", unfreeze.env),
        Body::Quarantine(quarantine) => format!("{actor} quarantined {}", quarantine.target.short()),
        Body::TaskRun(run) => {
            lines.push(run.detail.clone());
            let purpose = match run.purpose {
                TaskPurpose::Manual => "one-off",
                other => other.as_str(),
            };
            let ended = if run.succeeded { "succeeded" } else { "failed" };
            format!("{purpose} task of {} in {} {ended} (run by {actor})", run.service, run.env)
        }
    };
    Ok(json!({"headline": headline, "lines": lines, "why": why}))
}

/// Slack's incoming-webhook payload for an event: `text` (the notification's own text) and
/// `blocks` (a section with the summary, a context with the entry and its dashboard link).
/// Stored text is made inert and Slack's control characters (`&`, `<`, `>`) escaped.
fn slack_message(document: &Value) -> Value {
    let text = |value: &Value| slack_escape(value.as_str().unwrap_or_default());
    let summary = &document["summary"];
    let headline = text(&summary["headline"]);
    let mut body = format!("*{headline}*");
    for line in summary["lines"].as_array().into_iter().flatten() {
        body.push_str(&format!("\n• {}", text(line)));
    }
    let why = text(&summary["why"]);
    if !why.is_empty() {
        body.push_str(&format!("\n_Why:_ {why}"));
    }
    let body: String = body.chars().take(SLACK_SECTION_TEXT).collect();
    let id = document["id"].as_str().unwrap_or_default();
    let mut context =
        format!("{} `{}` · {}", text(&document["kind"]), &id[..id.len().min(12)], text(&document["project"]));
    if let Some(url) = document["url"].as_str() {
        context.push_str(&format!(" · <{url}|open in the dashboard>"));
    }
    json!({
        "text": headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    })
}

/// The longest text Slack takes in a section block.
const SLACK_SECTION_TEXT: usize = 3000;

fn slack_escape(text: &str) -> String {
    inert(text).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
