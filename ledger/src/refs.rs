//! Ref names: `env/<env>` (an environment's head), `service/<service>` (its latest release),
//! `set/<set>` or `set/@all` (the latest release set), `gates/<env>` (the environment's
//! approvals and manual freezes), `quarantine` (releases marked bad), and
//! `remote/<remote>/<ref>` (where a remote's ref was at the last exchange). Built, parsed and matched here only, so that no
//! other code takes a ref name apart, and a name that does not parse never reaches a path,
//! an S3 key or a table.

use std::fmt;
use std::ops::Deref;

use crate::name::{NameKind, validate};

/// What a ref names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum RefKind {
    /// An environment's head.
    Env(String),
    /// A service's latest release.
    Service(String),
    /// The latest release set of a service set, or of all services (`None`).
    Set(Option<String>),
    /// An environment's approvals, freezes and unfreezes.
    Gates(String),
    /// Every quarantine.
    Quarantine,
    /// An environment's one-off task runs.
    Tasks(String),
    /// Where ref `name` of remote `remote` was when this ledger last exchanged with it.
    Tracking { remote: String, name: Box<RefName> },
}

/// A ref's name, as its kind and as the text stored and shown (`env/prod`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefName {
    kind: RefKind,
    text: String,
}

/// The set name that stands for all services.
const ALL_SERVICES: &str = "@all";

/// The name of the ref of quarantines.
const QUARANTINE: &str = "quarantine";

impl RefName {
    pub fn env(env: &str) -> RefName {
        RefName::of(RefKind::Env(env.to_string()))
    }

    pub fn service(service: &str) -> RefName {
        RefName::of(RefKind::Service(service.to_string()))
    }

    /// The latest release set of `service_set`, or of all services (`None`).
    pub fn set(service_set: Option<&str>) -> RefName {
        RefName::of(RefKind::Set(service_set.map(str::to_string)))
    }

    /// The approvals, freezes and unfreezes of `env`.
    pub fn gates(env: &str) -> RefName {
        RefName::of(RefKind::Gates(env.to_string()))
    }

    /// The one-off task runs of `env` (`before`, `verify`, `ledger run`).
    pub fn tasks(env: &str) -> RefName {
        RefName::of(RefKind::Tasks(env.to_string()))
    }

    /// Every quarantine.
    pub fn quarantine() -> RefName {
        RefName::of(RefKind::Quarantine)
    }

    /// Where `name` of remote `remote` was at the last exchange.
    pub fn tracking(remote: &str, name: &RefName) -> RefName {
        RefName::of(RefKind::Tracking { remote: remote.to_string(), name: Box::new(name.clone()) })
    }

    /// The text every tracking ref of `remote` starts with.
    pub fn tracking_prefix(remote: &str) -> String {
        format!("remote/{remote}/")
    }

    fn of(kind: RefKind) -> RefName {
        // Joined directly rather than formatted: `verify` names a ref for every entry.
        let join = |prefix: &str, name: &str| [prefix, name].concat();
        let text = match &kind {
            RefKind::Env(env) => join("env/", env),
            RefKind::Service(service) => join("service/", service),
            RefKind::Set(set) => join("set/", set.as_deref().unwrap_or(ALL_SERVICES)),
            RefKind::Gates(env) => join("gates/", env),
            RefKind::Quarantine => QUARANTINE.to_string(),
            RefKind::Tasks(env) => join("tasks/", env),
            RefKind::Tracking { remote, name } => join(&RefName::tracking_prefix(remote), name),
        };
        RefName { kind, text }
    }

    /// The ref `text` names, when every name in it is valid; `None` otherwise.
    pub fn parse(text: &str) -> Option<RefName> {
        if text == QUARANTINE {
            return Some(RefName::quarantine());
        }
        let (kind, rest) = text.split_once('/')?;
        let valid = |kind: NameKind, name: &str| validate(kind, name).is_ok().then(|| name.to_string());
        let parsed = match kind {
            "env" => RefKind::Env(valid(NameKind::Environment, rest)?),
            "service" => RefKind::Service(valid(NameKind::Service, rest)?),
            "set" if rest == ALL_SERVICES => RefKind::Set(None),
            "set" => RefKind::Set(Some(valid(NameKind::ServiceSet, rest)?)),
            "gates" => RefKind::Gates(valid(NameKind::Environment, rest)?),
            "tasks" => RefKind::Tasks(valid(NameKind::Environment, rest)?),
            "remote" => {
                let (remote, name) = rest.split_once('/')?;
                let name = RefName::parse(name).filter(|name| !name.is_tracking())?;
                RefKind::Tracking { remote: valid(NameKind::Remote, remote)?, name: Box::new(name) }
            }
            _ => return None,
        };
        Some(RefName::of(parsed))
    }

    /// The environment, for an environment's head.
    pub fn env_name(&self) -> Option<&str> {
        match &self.kind {
            RefKind::Env(env) => Some(env),
            _ => None,
        }
    }

    /// When an exchange moves this ref among others: releases and sets (0) before the
    /// deployments that name them (1), and approvals, quarantines and task runs, which name
    /// releases, sets and deployments, last (2).
    pub fn exchange_rank(&self) -> u8 {
        match &self.kind {
            RefKind::Service(_) | RefKind::Set(_) => 0,
            RefKind::Env(_) => 1,
            RefKind::Gates(_) | RefKind::Quarantine | RefKind::Tasks(_) => 2,
            RefKind::Tracking { name, .. } => name.exchange_rank(),
        }
    }

    pub fn is_tracking(&self) -> bool {
        matches!(self.kind, RefKind::Tracking { .. })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Deref for RefName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for RefName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_built_and_parsed_back() {
        let names = [
            RefName::env("prod"),
            RefName::service("api"),
            RefName::set(Some("frontend")),
            RefName::set(None),
            RefName::tracking("origin", &RefName::env("stage")),
            RefName::gates("prod"),
            RefName::quarantine(),
            RefName::tracking("origin", &RefName::quarantine()),
            RefName::tasks("prod"),
            RefName::tracking("origin", &RefName::tasks("stage")),
        ];
        let texts = [
            "env/prod",
            "service/api",
            "set/frontend",
            "set/@all",
            "remote/origin/env/stage",
            "gates/prod",
            "quarantine",
            "remote/origin/quarantine",
            "tasks/prod",
            "remote/origin/tasks/stage",
        ];
        for (name, text) in names.iter().zip(texts) {
            assert_eq!(name.as_str(), text);
            assert_eq!(RefName::parse(text).as_ref(), Some(name), "{text}");
        }
        assert_eq!(RefName::parse("env/prod").unwrap().env_name(), Some("prod"));
        assert!(RefName::parse("remote/origin/set/@all").unwrap().is_tracking());
    }

    #[test]
    fn what_does_not_parse_is_refused() {
        for bad in [
            "env/../x",
            "env/",
            "env/a/b",
            "other/x",
            "service/API",
            "set/@x",
            "env",
            "remote/origin",
            "remote/origin/remote/x/env/a",
            "remote/../env/a",
            "gates/",
            "gates/../x",
            "tasks/",
            "tasks/../x",
            "quarantine/x",
        ] {
            assert_eq!(RefName::parse(bad), None, "{bad}");
        }
    }
}
