//! `ledger.toml`: the project, its environments, services and service sets.
//!
//! Every error names the file, the line and the key, so a user can fix it without guessing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::image::ImageRef;
use crate::name::{self, NameKind};

pub const MANIFEST_FILE: &str = "ledger.toml";

/// Words with a meaning of their own on the command line, so not usable as set names.
pub const RESERVED_SET_NAMES: &[&str] = &["latest"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub path: PathBuf,
    pub project: Project,
    pub environments: BTreeMap<String, Environment>,
    pub services: BTreeMap<String, Service>,
    pub service_sets: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    /// Applying here needs the user to type the environment's id (or `--yes`).
    pub protected: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub image_repository: String,
}

/// A manifest error, located in its file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub struct ManifestError {
    pub path: PathBuf,
    /// 1-based line, when the error points into the file.
    pub line: Option<usize>,
    /// The dotted key the error is about, when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    project: Spanned<RawProject>,
    #[serde(default)]
    environments: BTreeMap<Spanned<String>, RawEnvironment>,
    #[serde(default)]
    services: BTreeMap<Spanned<String>, Spanned<RawService>>,
    #[serde(default)]
    service_sets: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    id: Spanned<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    name: Option<String>,
    #[serde(default)]
    protected: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    image_repository: Spanned<String>,
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|error| ManifestError {
            path: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read the manifest: {error}"),
        })?;
        Manifest::parse(path, &text)
    }

    /// Validates manifest `text`; `path` is used in errors and kept in the result.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let locate =
            |span: Option<std::ops::Range<usize>>, key: Option<String>, message: String| ManifestError {
                path: path.to_path_buf(),
                line: span.map(|span| line_of(text, span.start)),
                key,
                message,
            };
        let raw: RawManifest = toml::from_str(text).map_err(|error| {
            let message = error.message().trim();
            // A missing key is missing from a whole table: no one line to point at.
            let span = error.span().filter(|_| !message.starts_with("missing field"));
            match span.clone().and_then(|span| line_text(text, span.start)) {
                Some(line) => locate(span, None, format!("{message} (at `{line}`)")),
                None => locate(span, None, message.to_string()),
            }
        })?;

        let check_name = |kind: NameKind, name: &Spanned<String>, key: String| {
            name::validate(kind, name.get_ref())
                .map_err(|error| locate(Some(name.span()), Some(key), error.to_string()))
        };

        let raw_project = raw.project.into_inner();
        check_name(NameKind::Project, &raw_project.id, "project.id".into())?;
        let project = Project {
            name: raw_project.name.unwrap_or_else(|| raw_project.id.get_ref().clone()),
            id: raw_project.id.into_inner(),
        };

        let mut environments = BTreeMap::new();
        for (id, raw_env) in raw.environments {
            check_name(NameKind::Environment, &id, format!("environments.{}", id.get_ref()))?;
            let env = Environment {
                name: raw_env.name.unwrap_or_else(|| id.get_ref().clone()),
                protected: raw_env.protected,
            };
            environments.insert(id.into_inner(), env);
        }

        let mut services = BTreeMap::new();
        for (id, raw_service) in raw.services {
            let key = format!("services.{}", id.get_ref());
            check_name(NameKind::Service, &id, key.clone())?;
            let repository = &raw_service.get_ref().image_repository;
            let parsed = ImageRef::parse(repository.get_ref()).map_err(|error| {
                locate(Some(repository.span()), Some(format!("{key}.image_repository")), error.to_string())
            })?;
            if parsed.tag.is_some() || parsed.digest.is_some() {
                return Err(locate(
                    Some(repository.span()),
                    Some(format!("{key}.image_repository")),
                    "give the repository only, without a tag or digest".into(),
                ));
            }
            services.insert(id.into_inner(), Service { image_repository: parsed.repository });
        }

        let mut service_sets = BTreeMap::new();
        for (id, members) in raw.service_sets {
            let key = format!("service_sets.{}", id.get_ref());
            check_name(NameKind::ServiceSet, &id, key.clone())?;
            if RESERVED_SET_NAMES.contains(&id.get_ref().as_str()) {
                return Err(locate(
                    Some(id.span()),
                    Some(key),
                    format!("{:?} is reserved on the command line; choose another set name", id.get_ref()),
                ));
            }
            if environments.contains_key(id.get_ref()) {
                return Err(locate(
                    Some(id.span()),
                    Some(key),
                    "a service set cannot share its name with an environment (`ledger diff` takes either)"
                        .into(),
                ));
            }
            if members.is_empty() {
                return Err(locate(
                    Some(id.span()),
                    Some(key),
                    "a service set needs at least one service".into(),
                ));
            }
            let mut seen = BTreeSet::new();
            for member in &members {
                if !services.contains_key(member.get_ref()) {
                    return Err(locate(
                        Some(member.span()),
                        Some(key),
                        format!(
                            "unknown service {:?}; services are declared as [services.<id>] (known: {})",
                            member.get_ref(),
                            join_or_none(services.keys())
                        ),
                    ));
                }
                if !seen.insert(member.get_ref().clone()) {
                    return Err(locate(
                        Some(member.span()),
                        Some(key),
                        format!("service {:?} is listed twice", member.get_ref()),
                    ));
                }
            }
            service_sets.insert(id.into_inner(), members.into_iter().map(Spanned::into_inner).collect());
        }

        Ok(Manifest { path: path.to_path_buf(), project, environments, services, service_sets })
    }

    /// Finds `ledger.toml` in `start` or the nearest parent that has one.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        start.ancestors().map(|dir| dir.join(MANIFEST_FILE)).find(|candidate| candidate.is_file())
    }

    /// The directory holding the manifest: where `.ledger/` lives by default.
    pub fn project_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

/// `a, b, c`, or `none`.
pub fn join_or_none<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    let joined = names.into_iter().map(String::as_str).collect::<Vec<_>>().join(", ");
    if joined.is_empty() { "none".into() } else { joined }
}

/// The trimmed text of the line holding `offset`, if it is short enough to quote.
fn line_text(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?.trim();
    (!line.is_empty() && line.len() <= 80 && !line.chars().any(char::is_control)).then(|| line.to_string())
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// The sample manifest `ledger init --example` writes.
pub const EXAMPLE: &str = r#"# ledger.toml: what this project deploys, and where.
[project]
id = "catalogue"            # [a-z0-9][a-z0-9-]*, used in SSM paths and S3 keys
name = "Catalogue"

[environments.stage]
name = "Staging"            # an environment with no `cluster` is record-only

[environments.prod]
name = "Production"
protected = true            # apply/promote/rollback here ask you to type "prod"

[services.api]
image_repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api"

[services.search]
image_repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/search"

[services.worker]
image_repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/worker"

[service_sets]
frontend = ["api", "search"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(Path::new("ledger.toml"), text)
    }

    #[test]
    fn example_parses() {
        let manifest = parse(EXAMPLE).unwrap();
        assert_eq!(manifest.project.id, "catalogue");
        assert!(manifest.environments["prod"].protected);
        assert!(!manifest.environments["stage"].protected);
        assert_eq!(manifest.service_sets["frontend"], ["api", "search"]);
    }

    #[test]
    fn errors_name_line_and_key() {
        let unknown_key = "[project]\nid = \"p\"\n[services.api]\nimag_repository = \"r/a\"\n";
        let error = parse(unknown_key).unwrap_err();
        assert_eq!(error.line, Some(4), "{error}");
        assert!(error.to_string().contains("imag_repository"), "{error}");

        let bad_member = "[project]\nid = \"p\"\n[services.api]\nimage_repository = \"r/a\"\n[service_sets]\nweb = [\"api\",\n \"nope\"]\n";
        let error = parse(bad_member).unwrap_err();
        assert_eq!((error.line, error.key.as_deref()), (Some(7), Some("service_sets.web")));
        assert!(
            error.to_string().starts_with("ledger.toml:7: service_sets.web: unknown service \"nope\""),
            "{error}"
        );

        let bad_name = "[project]\nid = \"p\"\n[environments.\"../prod\"]\n";
        let error = parse(bad_name).unwrap_err();
        assert_eq!(error.line, Some(3), "{error}");

        let duplicate = "[project]\nid = \"p\"\n[services.api]\nimage_repository = \"r/a\"\n[services.api]\nimage_repository = \"r/b\"\n";
        let error = parse(duplicate).unwrap_err();
        assert_eq!(error.line, Some(5), "{error}");

        let twice = "[project]\nid = \"p\"\n[services.api]\nimage_repository = \"r/a\"\n[service_sets]\nweb = [\"api\", \"api\"]\n";
        assert!(parse(twice).unwrap_err().message.contains("twice"));

        let clash = "[project]\nid = \"p\"\n[environments.web]\n[services.api]\nimage_repository = \"r/a\"\n[service_sets]\nweb = [\"api\"]\n";
        assert!(parse(clash).unwrap_err().message.contains("environment"));

        let tagged = "[project]\nid = \"p\"\n[services.api]\nimage_repository = \"r/a:v1\"\n";
        assert_eq!(parse(tagged).unwrap_err().key.as_deref(), Some("services.api.image_repository"));

        assert!(parse("[project]\n").unwrap_err().message.contains("id"));
        assert!(parse("not toml at all").is_err());
    }
}
