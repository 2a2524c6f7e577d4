//! Events: the sinks `[[notify]]` names in `ledger.toml`, and the filters that choose which
//! entries each one hears of. Entries recorded here are queued for them in the store's outbox, in
//! the transaction that records them ([`crate::store::Writer`]); delivering is the application
//! layer's.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::entry::{Body, Entry, EntryKind};
use crate::manifest::{Environment, Locate, ManifestError, join_or_none};
use crate::name::{self, NameKind};

/// One `[[notify]]`: where events go, and which entries it is told of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sink {
    /// Its name: the outbox keeps what it still owes under it.
    pub name: String,
    pub target: Target,
    pub filter: Filter,
}

/// Where a sink sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An HTTP POST of the event's JSON, signed with HMAC-SHA256 when a secret is given.
    Webhook { url: Value, secret: Option<Secret> },
    /// A Slack incoming webhook; its URL holds its token, so it is never written in the manifest.
    Slack { url: Secret },
    /// Amazon EventBridge: PutEvents on `bus`, with source `source`.
    EventBridge { bus: String, source: String, region: Option<String> },
}

/// A value written in the manifest, or a secret read when it is needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Literal(String),
    Secret(Secret),
}

/// Where a secret is read from when an event is sent: never the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    /// An environment variable of the process that delivers.
    Env(String),
    /// An SSM parameter (a SecureString is decrypted).
    Ssm(String),
}

/// Which entries a sink hears of; an empty list allows everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub kinds: BTreeSet<EntryKind>,
    pub environments: BTreeSet<String>,
    /// `succeeded`, `failed`, `rolled_back`, `submitted` (outcomes; task runs succeed or fail).
    pub results: BTreeSet<String>,
}

/// The results a filter may name.
pub const RESULTS: [&str; 4] = ["succeeded", "failed", "rolled_back", "submitted"];

/// What a filter looks at of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts<'a> {
    pub kind: EntryKind,
    /// The environment it is about (an outcome's is its deployment's), if any.
    pub env: Option<&'a str>,
    /// How it ended: an outcome's result, or a task run's.
    pub result: Option<&'static str>,
}

impl<'a> Facts<'a> {
    /// The facts of `entry`; `deployment_env` is the environment of the deployment an outcome
    /// concludes.
    pub fn of(entry: &'a Entry, deployment_env: Option<&'a str>) -> Facts<'a> {
        let (env, result) = match &entry.body {
            Body::Deployment(deployment) => (Some(deployment.env.as_str()), None),
            Body::Outcome(outcome) => (deployment_env, Some(outcome.result.as_str())),
            Body::Approval(approval) => (Some(approval.env.as_str()), None),
            Body::Freeze(freeze) => (Some(freeze.env.as_str()), None),
            Body::Unfreeze(unfreeze) => (Some(unfreeze.env.as_str()), None),
            Body::TaskRun(run) => {
                (Some(run.env.as_str()), Some(if run.succeeded { "succeeded" } else { "failed" }))
            }
            Body::Release(_) | Body::ReleaseSet(_) | Body::Quarantine(_) => (None, None),
        };
        Facts { kind: entry.kind(), env, result }
    }
}

impl Filter {
    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        let allows = |list: &BTreeSet<String>, value: Option<&str>| {
            list.is_empty() || value.is_some_and(|value| list.contains(value))
        };
        (self.kinds.is_empty() || self.kinds.contains(&facts.kind))
            && allows(&self.environments, facts.env)
            && allows(&self.results, facts.result)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSink {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    url: Option<Spanned<RawValue>>,
    secret: Option<Spanned<RawValue>>,
    bus: Option<Spanned<String>>,
    source: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    #[serde(default)]
    kinds: Vec<Spanned<String>>,
    #[serde(default)]
    environments: Vec<Spanned<String>>,
    #[serde(default)]
    results: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawValue {
    Literal(String),
    Secret(RawSecret),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    env: Option<String>,
    ssm: Option<String>,
}

const SECRET_FORM: &str = "give { env = \"VARIABLE\" } or { ssm = \"/parameter/name\" }";

/// `[[notify]]` tables, each checked: a unique valid name, a known type with what it needs, and
/// filters naming known kinds, environments and results.
pub(crate) fn parse_sinks(
    raw: Vec<Spanned<RawSink>>,
    environments: &BTreeMap<String, Environment>,
    locate: &impl Locate,
) -> Result<Vec<Sink>, ManifestError> {
    let mut sinks: Vec<Sink> = Vec::new();
    for (index, raw) in raw.into_iter().enumerate() {
        let span = raw.span();
        let raw = raw.into_inner();
        let at = |key: &str| Some(format!("notify[{index}].{key}"));
        let name = raw.name.get_ref();
        name::validate(NameKind::Sink, name)
            .map_err(|error| locate(Some(raw.name.span()), at("name"), error.to_string()))?;
        if sinks.iter().any(|sink| &sink.name == name) {
            return Err(locate(Some(raw.name.span()), at("name"), format!("a second sink named {name:?}")));
        }
        let secret = |value: &RawSecret, span: Range<usize>, key: &str| -> Result<Secret, ManifestError> {
            let located = |message: String| locate(Some(span), at(key), message);
            match (&value.env, &value.ssm) {
                (Some(variable), None) if !variable.is_empty() => Ok(Secret::Env(variable.clone())),
                (None, Some(parameter)) if parameter.starts_with('/') => Ok(Secret::Ssm(parameter.clone())),
                (None, Some(parameter)) => {
                    Err(located(format!("{parameter:?}: an SSM parameter name starts with /")))
                }
                _ => Err(located(SECRET_FORM.to_string())),
            }
        };
        let unused = |keys: &[(&str, Option<Range<usize>>)]| -> Result<(), ManifestError> {
            match keys.iter().find(|(_, span)| span.is_some()) {
                Some((key, span)) => {
                    Err(locate(span.clone(), at(key), format!("not a key of a {} sink", raw.kind.get_ref())))
                }
                None => Ok(()),
            }
        };
        let required = |key: &str, what: &str| {
            locate(Some(span.clone()), at(key), format!("the {} sink needs {what}", raw.kind.get_ref()))
        };
        let span_of = |value: &Option<Spanned<String>>| value.as_ref().map(Spanned::span);
        let target = match raw.kind.get_ref().as_str() {
            "webhook" => {
                unused(&[
                    ("bus", span_of(&raw.bus)),
                    ("source", span_of(&raw.source)),
                    ("region", span_of(&raw.region)),
                ])?;
                let url = raw.url.as_ref().ok_or_else(|| required("url", "url = \"https://…\""))?;
                let url = match url.get_ref() {
                    RawValue::Literal(text) => {
                        valid_url(text).map_err(|message| locate(Some(url.span()), at("url"), message))?;
                        Value::Literal(text.clone())
                    }
                    RawValue::Secret(value) => Value::Secret(secret(value, url.span(), "url")?),
                };
                let secret = match &raw.secret {
                    None => None,
                    Some(value) => match value.get_ref() {
                        RawValue::Secret(found) => Some(secret(found, value.span(), "secret")?),
                        RawValue::Literal(_) => {
                            let message = format!("a secret is never written in the manifest: {SECRET_FORM}");
                            return Err(locate(Some(value.span()), at("secret"), message));
                        }
                    },
                };
                Target::Webhook { url, secret }
            }
            "slack" => {
                unused(&[
                    ("secret", raw.secret.as_ref().map(Spanned::span)),
                    ("bus", span_of(&raw.bus)),
                    ("source", span_of(&raw.source)),
                    ("region", span_of(&raw.region)),
                ])?;
                let url = raw
                    .url
                    .as_ref()
                    .ok_or_else(|| required("url", "url = { env = \"SLACK_WEBHOOK_URL\" }"))?;
                match url.get_ref() {
                    RawValue::Literal(_) => {
                        let message = format!(
                            "a Slack webhook URL holds its token, so it is not written here: {SECRET_FORM}"
                        );
                        return Err(locate(Some(url.span()), at("url"), message));
                    }
                    RawValue::Secret(value) => Target::Slack { url: secret(value, url.span(), "url")? },
                }
            }
            "eventbridge" => {
                unused(&[
                    ("url", raw.url.as_ref().map(Spanned::span)),
                    ("secret", raw.secret.as_ref().map(Spanned::span)),
                ])?;
                let bus =
                    raw.bus.as_ref().ok_or_else(|| required("bus", "bus = \"<event bus name or ARN>\""))?;
                if bus.get_ref().is_empty() || bus.get_ref().len() > 1600 {
                    return Err(locate(Some(bus.span()), at("bus"), "an event bus name or ARN".into()));
                }
                let source =
                    raw.source.as_ref().map_or_else(|| "ledger".to_string(), |s| s.get_ref().clone());
                if source.is_empty() || source.len() > 256 || source.starts_with("aws.") {
                    let message = "a source of 1 to 256 characters, not starting with \"aws.\"".into();
                    return Err(locate(span_of(&raw.source), at("source"), message));
                }
                Target::EventBridge {
                    bus: bus.get_ref().clone(),
                    source,
                    region: raw.region.as_ref().map(|r| r.get_ref().clone()),
                }
            }
            other => {
                let message = format!("unknown sink type {other:?}; types: webhook, slack, eventbridge");
                return Err(locate(Some(raw.kind.span()), at("type"), message));
            }
        };
        let mut filter = Filter::default();
        for kind in &raw.kinds {
            let parsed = EntryKind::parse(kind.get_ref()).ok_or_else(|| {
                let known: Vec<&str> = EntryKind::ALL.iter().map(|kind| kind.as_str()).collect();
                locate(
                    Some(kind.span()),
                    at("kinds"),
                    format!("unknown kind {:?}; kinds: {}", kind.get_ref(), known.join(", ")),
                )
            })?;
            filter.kinds.insert(parsed);
        }
        for env in &raw.environments {
            if !environments.contains_key(env.get_ref()) {
                let message = format!(
                    "unknown environment {:?} (known: {})",
                    env.get_ref(),
                    join_or_none(environments.keys())
                );
                return Err(locate(Some(env.span()), at("environments"), message));
            }
            filter.environments.insert(env.get_ref().clone());
        }
        for result in &raw.results {
            if !RESULTS.contains(&result.get_ref().as_str()) {
                let message =
                    format!("unknown result {:?}; results: {}", result.get_ref(), RESULTS.join(", "));
                return Err(locate(Some(result.span()), at("results"), message));
            }
            filter.results.insert(result.get_ref().clone());
        }
        sinks.push(Sink { name: name.clone(), target, filter });
    }
    Ok(sinks)
}

pub(crate) fn valid_url(text: &str) -> Result<(), String> {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !text.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(format!("{text:?}: give an http:// or https:// URL")),
    }
}
