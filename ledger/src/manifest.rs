//! `ledger.toml`: the project, its environments, services and service sets.
//!
//! Every error names the file, the line and the key, so a user can fix it without guessing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::calendar::FreezeWindow;
use crate::entry::EntryKind;
use crate::image::ImageRef;
use crate::name::{self, NameKind};
use crate::notify::{RawSink, Sink, parse_sinks};
use crate::policy::{self, Approver, Policy, Teams};
use crate::signing::allowed_signers::AllowedSigners;
use crate::signing::trust::KINDS_WITH_ENVIRONMENT;
use crate::signing::{SignerRule, SigningPolicy, Trust};
use crate::timestamp::Timestamp;

pub const MANIFEST_FILE: &str = "ledger.toml";

/// Words with a meaning of their own on the command line, so not usable as set names.
pub const RESERVED_SET_NAMES: &[&str] = &["latest"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub path: PathBuf,
    pub project: Project,
    pub environments: BTreeMap<String, Environment>,
    /// The environments in the order the manifest declares them (usually the order releases
    /// travel: dev, stage, prod).
    pub environment_order: Vec<String>,
    pub services: BTreeMap<String, Service>,
    pub service_sets: BTreeMap<String, Vec<String>>,
    /// `[aws]`: the project's AWS defaults. With it, `register` also writes
    /// `/{project}/images/latest/<service>` (unless `write_latest = false`).
    pub aws: Option<AwsDefaults>,
    /// `[remote]`: the shared ledger the project pushes to and pulls from.
    pub remote: Option<RemoteSettings>,
    /// `[teams]`: groups of actors that `approvers = ["team:<name>"]` names.
    pub teams: Teams,
    /// `[signing]`: whose signatures are believed, and which entries need one.
    pub signing: Option<SigningPolicy>,
    /// `[[notify]]`: where events about recorded entries are sent.
    pub notify: Vec<Sink>,
}

/// A shared remote: its name here, its URL and how S3 encrypts what ledger writes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSettings {
    #[serde(default = "origin")]
    pub name: String,
    /// `s3://bucket/prefix` or `file:///absolute/path`.
    pub url: String,
    /// Server-side encryption on S3: `AES256` or `aws:kms` [default: the bucket's].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<String>,
    /// The KMS key for `sse = "aws:kms"` [default: the account's aws/s3 key].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

fn origin() -> String {
    "origin".into()
}

impl RemoteSettings {
    /// Checks the name, the URL's scheme and the encryption settings; `Err` says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        name::validate(NameKind::Remote, &self.name).map_err(|error| error.to_string())?;
        let path = self.url.strip_prefix("file://");
        if !(self.url.starts_with("s3://") || path.is_some_and(|path| path.starts_with('/'))) {
            return Err(format!(
                "remote URL {:?}: use s3://bucket/prefix or file:///absolute/path",
                self.url
            ));
        }
        match (self.sse.as_deref(), &self.kms_key_id) {
            (None | Some("AES256"), None) | (Some("aws:kms"), _) => Ok(()),
            (None | Some("AES256"), Some(_)) => Err("kms_key_id needs sse = \"aws:kms\"".into()),
            (Some(other), _) => Err(format!("sse {other:?}: use \"AES256\" or \"aws:kms\"")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsDefaults {
    /// The region of environments that do not name one, and of ECR and the latest parameters.
    pub region: Option<String>,
    pub write_latest: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
    /// Where the team's dashboard (`ledger serve`) is reached, for links in events.
    pub dashboard_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    /// Applying here needs the user to type the environment's id (or `--yes`).
    pub protected: bool,
    /// Where deployments are rolled out; `None`: a record-only environment.
    pub ecs: Option<EcsEnvironment>,
    /// What a release set must pass to be deployed here (`requires`, `soak`, `approvals`,
    /// `approvers`, `freeze`, `override`); see docs/policy.md.
    pub policy: Policy,
}

/// An environment on ECS: its cluster, account and the SSM parameters that follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsEnvironment {
    pub cluster: String,
    /// `None`: `[aws] region`, else the standard AWS chain decides.
    pub region: Option<String>,
    pub role_arn: Option<String>,
    /// Parameters `<ssm_prefix>/<service>` hold the images deployed here.
    pub ssm_prefix: String,
    /// How long an apply waits for its rollouts.
    pub timeout: Duration,
    /// How often it looks.
    pub poll_interval: Duration,
    /// `verify`: the task run once every service of a deployment succeeded; its exit code
    /// decides the outcome.
    pub verify: Option<TaskSpec>,
}

/// A one-off task a deployment runs: a service's `before` (a migration, with the release's
/// image) or an environment's `verify`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    /// The task definition family (or `family:revision`); `None` (`before` only): the
    /// service's own task definition.
    pub task: Option<String>,
    /// The command that replaces the container's.
    pub command: Vec<String>,
    /// How long to wait for the task to stop.
    pub timeout: Duration,
    /// `verify` only: the container whose command is replaced (`None`: the definition's first).
    pub container: Option<String>,
}

/// How long a `before` or `verify` task may run when its `timeout` is not given.
pub const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(10 * 60);

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub image_repository: String,
    /// The ECS service's name per environment, where it is not the service's id.
    pub ecs_service: EcsServiceName,
    /// The container whose image is replaced.
    pub container: String,
    /// `before`: the task run with the release's image before the service is updated.
    pub before: Option<TaskSpec>,
    /// `codedeploy`: the CodeDeploy application and deployment group that deploy a service whose
    /// deployment controller is CODE_DEPLOY.
    pub codedeploy: Option<CodeDeployGroup>,
}

/// `codedeploy = { application = "…", deployment_group = "…" }` of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeDeployGroup {
    pub application: String,
    pub deployment_group: String,
}

/// `ecs_service = "name"`, or `ecs_service = { prod = "name", … }` (other environments: the
/// service's id).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum EcsServiceName {
    Everywhere(String),
    PerEnvironment(BTreeMap<String, String>),
}

impl Service {
    /// The ECS service that runs service `id` in `env`.
    pub fn ecs_service_in<'a>(&'a self, id: &'a str, env: &str) -> &'a str {
        match &self.ecs_service {
            EcsServiceName::Everywhere(name) => name,
            EcsServiceName::PerEnvironment(names) => names.get(env).map_or(id, String::as_str),
        }
    }
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
    aws: Option<RawAws>,
    remote: Option<Spanned<RemoteSettings>>,
    #[serde(default)]
    teams: BTreeMap<Spanned<String>, Spanned<Vec<Spanned<String>>>>,
    signing: Option<RawSigning>,
    #[serde(default)]
    notify: Vec<Spanned<RawSink>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigning {
    allowed_signers: Spanned<String>,
    require: Option<Spanned<RawRequire>>,
    since: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    #[serde(default)]
    rules: BTreeMap<Spanned<String>, Spanned<RawSignerRule>>,
}

/// `require = "all"`, or the kinds that must be signed.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawRequire {
    All(String),
    Kinds(Vec<String>),
}

/// `<kind> = [who…]`, or `<kind>.<env> = [who…]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSignerRule {
    Everywhere(Vec<String>),
    PerEnvironment(BTreeMap<String, Vec<String>>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAws {
    region: Option<Spanned<String>>,
    #[serde(default = "yes")]
    write_latest: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    id: Spanned<String>,
    dashboard_url: Option<Spanned<String>>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    name: Option<String>,
    #[serde(default)]
    protected: bool,
    cluster: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    role_arn: Option<Spanned<String>>,
    ssm_prefix: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    poll_interval: Option<Spanned<String>>,
    verify: Option<Spanned<RawTask>>,
    // Policy keys (see docs/policy.md).
    requires: Option<Vec<Spanned<String>>>,
    soak: Option<Spanned<String>>,
    approvals: Option<Spanned<i64>>,
    approvers: Option<Spanned<Vec<Spanned<String>>>>,
    freeze: Option<Vec<Spanned<String>>>,
    #[serde(rename = "override")]
    allow_override: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    image_repository: Spanned<String>,
    ecs_service: Option<Spanned<EcsServiceName>>,
    container: Option<Spanned<String>>,
    before: Option<Spanned<RawTask>>,
    codedeploy: Option<RawCodeDeploy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCodeDeploy {
    application: Spanned<String>,
    deployment_group: Spanned<String>,
}

/// `{ task = "<family>", command = ["…"], timeout = "10m" }` (and `container` for `verify`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    task: Option<Spanned<String>>,
    command: Spanned<Vec<String>>,
    timeout: Option<Spanned<String>>,
    container: Option<Spanned<String>>,
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
        if let Some(url) = &raw_project.dashboard_url {
            crate::notify::valid_url(url.get_ref())
                .map_err(|message| locate(Some(url.span()), Some("project.dashboard_url".into()), message))?;
        }
        let project = Project {
            name: raw_project.name.unwrap_or_else(|| raw_project.id.get_ref().clone()),
            id: raw_project.id.into_inner(),
            dashboard_url: raw_project
                .dashboard_url
                .map(|url| url.into_inner().trim_end_matches('/').to_string()),
        };

        let check = |value: &Spanned<String>, key: String, valid: fn(&str) -> Result<(), String>| {
            valid(value.get_ref()).map_err(|message| locate(Some(value.span()), Some(key), message))
        };
        // `before` (of a service) or `verify` (of an environment), at `key`.
        let task_spec = |raw: Spanned<RawTask>,
                         key: String,
                         is_verify: bool|
         -> Result<TaskSpec, ManifestError> {
            let span = raw.span();
            let raw = raw.into_inner();
            let task = match raw.task {
                Some(task) => {
                    check(&task, format!("{key}.task"), valid_task_family)?;
                    Some(task.into_inner())
                }
                None if is_verify => {
                    return Err(locate(
                        Some(span),
                        Some(key),
                        "give the task definition family to run: `verify = { task = \"<family>\", command = [...] }`"
                            .into(),
                    ));
                }
                None => None,
            };
            let command_span = raw.command.span();
            let command = raw.command.into_inner();
            if command.is_empty() || command.iter().any(|arg| arg.contains('\0')) {
                return Err(locate(
                    Some(command_span),
                    Some(format!("{key}.command")),
                    "give the command to run as a non-empty list, such as [\"bin/migrate\", \"up\"]".into(),
                ));
            }
            let timeout = match &raw.timeout {
                None => DEFAULT_TASK_TIMEOUT,
                Some(text) => parse_duration(text.get_ref())
                    .map_err(|message| locate(Some(text.span()), Some(format!("{key}.timeout")), message))?,
            };
            let container = match raw.container {
                Some(container) if !is_verify => {
                    return Err(locate(
                        Some(container.span()),
                        Some(format!("{key}.container")),
                        "a `before` task runs the release's image in the service's `container`; set `container` on the service instead"
                            .into(),
                    ));
                }
                Some(container) => {
                    check(&container, format!("{key}.container"), valid_ecs_name)?;
                    Some(container.into_inner())
                }
                None => None,
            };
            Ok(TaskSpec { task, command, timeout, container })
        };
        let aws = match raw.aws {
            Some(raw_aws) => {
                if let Some(region) = &raw_aws.region {
                    check(region, "aws.region".into(), valid_region)?;
                }
                Some(AwsDefaults {
                    region: raw_aws.region.map(Spanned::into_inner),
                    write_latest: raw_aws.write_latest,
                })
            }
            None => None,
        };

        let remote = match raw.remote {
            Some(remote) => {
                let span = remote.span();
                let remote = remote.into_inner();
                remote.check().map_err(|message| locate(Some(span), Some("remote".into()), message))?;
                Some(remote)
            }
            None => None,
        };

        let teams = parse_teams(raw.teams, &locate)?;

        let mut declared: Vec<(usize, String)> =
            raw.environments.keys().map(|id| (id.span().start, id.get_ref().clone())).collect();
        declared.sort();
        let environment_order: Vec<String> = declared.into_iter().map(|(_, id)| id).collect();
        let mut environments = BTreeMap::new();
        // Each environment's `requires`, where written: the graph a cycle is looked for in.
        let mut requirements = BTreeMap::new();
        for (id, raw_env) in raw.environments {
            let key = format!("environments.{}", id.get_ref());
            check_name(NameKind::Environment, &id, key.clone())?;
            let policy = parse_policy(&raw_env, id.get_ref(), &environment_order, &teams, &locate)?;
            let spans: Vec<_> = raw_env
                .requires
                .iter()
                .flatten()
                .map(|required| (required.get_ref().clone(), required.span()))
                .collect();
            requirements.insert(id.get_ref().clone(), spans);
            let ecs = match raw_env.cluster {
                Some(cluster) => {
                    check(&cluster, format!("{key}.cluster"), valid_ecs_name)?;
                    let optional =
                        |value: &Option<Spanned<String>>,
                         field: &str,
                         valid: fn(&str) -> Result<(), String>| {
                            value.as_ref().map_or(Ok(()), |v| check(v, format!("{key}.{field}"), valid))
                        };
                    optional(&raw_env.region, "region", valid_region)?;
                    optional(&raw_env.role_arn, "role_arn", valid_role_arn)?;
                    optional(&raw_env.ssm_prefix, "ssm_prefix", valid_ssm_prefix)?;
                    let duration =
                        |value: &Option<Spanned<String>>, field: &str, default: Duration| match value {
                            None => Ok(default),
                            Some(text) => parse_duration(text.get_ref()).map_err(|message| {
                                locate(Some(text.span()), Some(format!("{key}.{field}")), message)
                            }),
                        };
                    Some(EcsEnvironment {
                        cluster: cluster.into_inner(),
                        region: raw_env.region.map(Spanned::into_inner),
                        role_arn: raw_env.role_arn.map(Spanned::into_inner),
                        ssm_prefix: raw_env
                            .ssm_prefix
                            .map(Spanned::into_inner)
                            .unwrap_or_else(|| format!("/{}/images/{}", project.id, id.get_ref())),
                        timeout: duration(&raw_env.timeout, "timeout", DEFAULT_TIMEOUT)?,
                        poll_interval: duration(
                            &raw_env.poll_interval,
                            "poll_interval",
                            DEFAULT_POLL_INTERVAL,
                        )?,
                        verify: raw_env
                            .verify
                            .map(|raw| task_spec(raw, format!("{key}.verify"), true))
                            .transpose()?,
                    })
                }
                None => {
                    let ecs_only = [
                        ("region", &raw_env.region),
                        ("role_arn", &raw_env.role_arn),
                        ("ssm_prefix", &raw_env.ssm_prefix),
                        ("timeout", &raw_env.timeout),
                        ("poll_interval", &raw_env.poll_interval),
                    ];
                    let verify_span = raw_env.verify.as_ref().map(|verify| (verify.span(), "verify"));
                    let found = ecs_only
                        .into_iter()
                        .find_map(|(field, value)| value.as_ref().map(|value| (value.span(), field)))
                        .or(verify_span);
                    if let Some((span, field)) = found {
                        return Err(locate(
                            Some(span),
                            Some(format!("{key}.{field}")),
                            "only means something for an environment on ECS: set `cluster` too, or remove it"
                                .into(),
                        ));
                    }
                    None
                }
            };
            let env = Environment {
                name: raw_env.name.unwrap_or_else(|| id.get_ref().clone()),
                protected: raw_env.protected,
                ecs,
                policy,
            };
            environments.insert(id.into_inner(), env);
        }
        if let Some((env, span, cycle)) = requires_cycle(&requirements, &environment_order) {
            return Err(locate(
                Some(span),
                Some(format!("environments.{env}.requires")),
                format!(
                    "the requirements make a cycle: {}; nothing could ever be deployed",
                    cycle.join(" → ")
                ),
            ));
        }

        let mut services = BTreeMap::new();
        for (id, raw_service) in raw.services {
            let key = format!("services.{}", id.get_ref());
            check_name(NameKind::Service, &id, key.clone())?;
            let repository = &raw_service.get_ref().image_repository.clone();
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
            let raw_service = raw_service.into_inner();
            let ecs_service = match raw_service.ecs_service {
                None => EcsServiceName::Everywhere(id.get_ref().clone()),
                Some(spanned) => {
                    let span = spanned.span();
                    let field = format!("{key}.ecs_service");
                    let names = match spanned.get_ref() {
                        EcsServiceName::Everywhere(name) => vec![name],
                        EcsServiceName::PerEnvironment(names) => {
                            if let Some(unknown) = names.keys().find(|env| !environments.contains_key(*env)) {
                                return Err(locate(
                                    Some(span),
                                    Some(field),
                                    format!(
                                        "unknown environment {unknown:?} (known: {})",
                                        join_or_none(environments.keys())
                                    ),
                                ));
                            }
                            names.values().collect()
                        }
                    };
                    for name in names {
                        valid_ecs_name(name)
                            .map_err(|message| locate(Some(span.clone()), Some(field.clone()), message))?;
                    }
                    spanned.into_inner()
                }
            };
            let container = match raw_service.container {
                Some(container) => {
                    check(&container, format!("{key}.container"), valid_ecs_name)?;
                    container.into_inner()
                }
                None => id.get_ref().clone(),
            };
            let before =
                raw_service.before.map(|raw| task_spec(raw, format!("{key}.before"), false)).transpose()?;
            let codedeploy = match raw_service.codedeploy {
                Some(raw) => {
                    check(&raw.application, format!("{key}.codedeploy.application"), valid_codedeploy_name)?;
                    check(
                        &raw.deployment_group,
                        format!("{key}.codedeploy.deployment_group"),
                        valid_codedeploy_name,
                    )?;
                    Some(CodeDeployGroup {
                        application: raw.application.into_inner(),
                        deployment_group: raw.deployment_group.into_inner(),
                    })
                }
                None => None,
            };
            services.insert(
                id.into_inner(),
                Service { image_repository: parsed.repository, ecs_service, container, before, codedeploy },
            );
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

        let manifest_dir = path.parent().unwrap_or(Path::new("."));
        let signing = match raw.signing {
            Some(raw_signing) => {
                Some(parse_signing(raw_signing, manifest_dir, &environments, &teams, &locate)?)
            }
            None => None,
        };
        let notify = parse_sinks(raw.notify, &environments, &locate)?;
        Ok(Manifest {
            path: path.to_path_buf(),
            project,
            environments,
            environment_order,
            services,
            service_sets,
            aws,
            remote,
            teams,
            signing,
            notify,
        })
    }

    /// Finds `ledger.toml` in `start` or the nearest parent that has one.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        start.ancestors().map(|dir| dir.join(MANIFEST_FILE)).find(|candidate| candidate.is_file())
    }

    /// The directory holding the manifest: where `.ledger/` lives by default.
    pub fn project_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// What judges entries' signatures under this manifest.
    pub fn trust(&self) -> Trust {
        Trust::new(self.signing.clone(), self.teams.clone())
    }
}

/// A function building a located error: `locate(span, key, message)`.
pub(crate) trait Locate:
    Fn(Option<std::ops::Range<usize>>, Option<String>, String) -> ManifestError
{
}
impl<F: Fn(Option<std::ops::Range<usize>>, Option<String>, String) -> ManifestError> Locate for F {}

/// `[teams]`: each a valid name with one or more distinct actors.
fn parse_teams(
    raw: BTreeMap<Spanned<String>, Spanned<Vec<Spanned<String>>>>,
    locate: &impl Locate,
) -> Result<Teams, ManifestError> {
    let mut teams = Teams::new();
    for (name, members) in raw {
        let key = format!("teams.{}", name.get_ref());
        name::validate(NameKind::Team, name.get_ref())
            .map_err(|error| locate(Some(name.span()), Some(key.clone()), error.to_string()))?;
        if members.get_ref().is_empty() {
            return Err(locate(Some(members.span()), Some(key), "a team needs at least one member".into()));
        }
        let mut seen = BTreeSet::new();
        for member in members.get_ref() {
            match Approver::parse(member.get_ref()) {
                Ok(Approver::Person(_)) => {}
                Ok(Approver::Team(_)) => {
                    return Err(locate(
                        Some(member.span()),
                        Some(key),
                        format!("{:?}: a team lists people, not other teams", member.get_ref()),
                    ));
                }
                Err(message) => return Err(locate(Some(member.span()), Some(key), message)),
            }
            if !seen.insert(member.get_ref()) {
                return Err(locate(
                    Some(member.span()),
                    Some(key),
                    format!("{:?} is listed twice", member.get_ref()),
                ));
            }
        }
        teams.insert(name.into_inner(), members.into_inner().into_iter().map(Spanned::into_inner).collect());
    }
    Ok(teams)
}

/// `[signing]`: the `allowed_signers` file (read now, relative to the manifest), what must be
/// signed from when, and who may sign what. Rules name kinds, environments the manifest
/// declares (for kinds that have one) and people or declared teams.
fn parse_signing(
    raw: RawSigning,
    manifest_dir: &Path,
    environments: &BTreeMap<String, Environment>,
    teams: &Teams,
    locate: &impl Locate,
) -> Result<SigningPolicy, ManifestError> {
    let key = |name: &str| Some(format!("signing.{name}"));
    let allowed_signers_path = manifest_dir.join(raw.allowed_signers.get_ref());
    let allowed_signers = AllowedSigners::load(&allowed_signers_path).map_err(|error| {
        locate(Some(raw.allowed_signers.span()), key("allowed_signers"), error.to_string())
    })?;
    let kind_named = |text: &str, span: Range<usize>, at: &str| {
        EntryKind::parse(text).ok_or_else(|| {
            let known: Vec<&str> = EntryKind::ALL.iter().map(|kind| kind.as_str()).collect();
            locate(Some(span), key(at), format!("unknown kind {text:?}; kinds: {}", known.join(", ")))
        })
    };
    let required = match raw.require {
        None => EntryKind::ALL.to_vec(),
        Some(require) => match require.get_ref() {
            RawRequire::All(all) if all == "all" => EntryKind::ALL.to_vec(),
            RawRequire::All(other) => {
                let message = format!(
                    "{other:?}: give \"all\", or a list of kinds such as [\"deployment\", \"approval\"]"
                );
                return Err(locate(Some(require.span()), key("require"), message));
            }
            RawRequire::Kinds(kinds) => kinds
                .iter()
                .map(|kind| kind_named(kind, require.span(), "require"))
                .collect::<Result<_, _>>()?,
        },
    };
    let since = match &raw.since {
        None => None,
        Some(since) => Some(
            Timestamp::parse_rfc3339(since.get_ref())
                .map_err(|error| locate(Some(since.span()), key("since"), error.to_string()))?,
        ),
    };
    let who = |list: &[String], span: Range<usize>, at: &str| -> Result<Vec<Approver>, ManifestError> {
        let mut approvers = Vec::new();
        for text in list {
            let refuse = |message: String| locate(Some(span.clone()), key(at), message);
            let approver = Approver::parse(text).map_err(refuse)?;
            if let Approver::Team(team) = &approver
                && !teams.contains_key(team)
            {
                return Err(refuse(format!(
                    "unknown team {team:?}; teams are declared in [teams] (known: {})",
                    join_or_none(teams.keys())
                )));
            }
            approvers.push(approver);
        }
        if approvers.is_empty() {
            return Err(locate(Some(span), key(at), "name at least one signer, or remove the rule".into()));
        }
        Ok(approvers)
    };
    let mut rules = BTreeMap::new();
    for (kind_text, rule) in &raw.rules {
        let at = format!("rules.{}", kind_text.get_ref());
        let kind = kind_named(kind_text.get_ref(), kind_text.span(), &at)?;
        let rule = match rule.get_ref() {
            RawSignerRule::Everywhere(list) => SignerRule::Everywhere(who(list, rule.span(), &at)?),
            RawSignerRule::PerEnvironment(by_env) => {
                if !KINDS_WITH_ENVIRONMENT.contains(&kind) {
                    let message = format!(
                        "{} entries belong to no environment: give one list for all of them",
                        kind.as_str()
                    );
                    return Err(locate(Some(rule.span()), key(&at), message));
                }
                let mut per_env = BTreeMap::new();
                for (env, list) in by_env {
                    let at = format!("{at}.{env}");
                    if !environments.contains_key(env) {
                        let message = format!(
                            "unknown environment {env:?}; declared: {}",
                            join_or_none(environments.keys())
                        );
                        return Err(locate(Some(rule.span()), key(&at), message));
                    }
                    per_env.insert(env.clone(), who(list, rule.span(), &at)?);
                }
                SignerRule::PerEnvironment(per_env)
            }
        };
        rules.insert(kind, rule);
    }
    Ok(SigningPolicy {
        allowed_signers_path,
        allowed_signers,
        required,
        since,
        rules,
        key: raw.key.map(Spanned::into_inner),
    })
}

/// An environment's policy keys, checked against the declared environments and teams.
fn parse_policy(
    raw: &RawEnvironment,
    env: &str,
    environments: &[String],
    teams: &Teams,
    locate: &impl Locate,
) -> Result<Policy, ManifestError> {
    let key = |field: &str| Some(format!("environments.{env}.{field}"));
    let mut requires = Vec::new();
    for required in raw.requires.iter().flatten() {
        let name = required.get_ref();
        let refuse = |message: String| locate(Some(required.span()), key("requires"), message);
        if name == env {
            return Err(refuse(format!("{name:?} cannot require itself")));
        }
        if !environments.contains(name) {
            return Err(refuse(format!(
                "unknown environment {name:?} (known: {})",
                join_or_none(environments.iter().filter(|known| *known != env))
            )));
        }
        if requires.contains(name) {
            return Err(refuse(format!("{name:?} is listed twice")));
        }
        requires.push(name.clone());
    }
    let soak = match &raw.soak {
        None => None,
        Some(text) => {
            let refuse = |message: String| locate(Some(text.span()), key("soak"), message);
            if requires.is_empty() {
                return Err(refuse(
                    "soak is the time spent in the environments of `requires`: set `requires` too".into(),
                ));
            }
            Some(policy::parse_span(text.get_ref()).map_err(refuse)?)
        }
    };
    let approvals = match &raw.approvals {
        None => 0,
        Some(count) => u32::try_from(*count.get_ref()).map_err(|_| {
            locate(
                Some(count.span()),
                key("approvals"),
                format!("{}: give the number of approvals needed, 0 or more", count.get_ref()),
            )
        })?,
    };
    let mut approvers = Vec::new();
    if let Some(list) = &raw.approvers {
        if approvals == 0 {
            return Err(locate(
                Some(list.span()),
                key("approvers"),
                "only means something with `approvals` above 0: set it too, or remove this".into(),
            ));
        }
        for entry in list.get_ref() {
            let refuse = |message: String| locate(Some(entry.span()), key("approvers"), message);
            let approver = Approver::parse(entry.get_ref()).map_err(refuse)?;
            if let Approver::Team(team) = &approver
                && !teams.contains_key(team)
            {
                return Err(refuse(format!(
                    "unknown team {team:?}; teams are declared in [teams] (known: {})",
                    join_or_none(teams.keys())
                )));
            }
            if approvers.contains(&approver) {
                return Err(refuse(format!("{:?} is listed twice", entry.get_ref())));
            }
            approvers.push(approver);
        }
    }
    let freeze = raw
        .freeze
        .iter()
        .flatten()
        .map(|text| {
            FreezeWindow::parse(text.get_ref())
                .map_err(|error| locate(Some(text.span()), key("freeze"), error.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok(Policy {
        requires,
        soak,
        approvals,
        approvers,
        freeze,
        allow_override: raw.allow_override.unwrap_or(true),
    })
}

/// Each environment's `requires`: the required environments and where each is written.
type Requirements = BTreeMap<String, Vec<(String, std::ops::Range<usize>)>>;

/// A cycle among the environments' `requires`, if any: the environment whose entry closes it,
/// where that entry is written, and the cycle told from there (`prod → stage → prod`).
fn requires_cycle(
    requirements: &Requirements,
    order: &[String],
) -> Option<(String, std::ops::Range<usize>, Vec<String>)> {
    fn visit(
        env: &str,
        requirements: &Requirements,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<(String, std::ops::Range<usize>, Vec<String>)> {
        if done.contains(env) {
            return None;
        }
        path.push(env.to_string());
        for (required, span) in requirements.get(env).map_or(&[][..], Vec::as_slice) {
            if let Some(start) = path.iter().position(|on_path| on_path == required) {
                let mut cycle = vec![env.to_string()];
                cycle.extend_from_slice(&path[start..]);
                return Some((env.to_string(), span.clone(), cycle));
            }
            if let Some(found) = visit(required, requirements, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(env.to_string());
        None
    }
    let mut done = BTreeSet::new();
    order.iter().find_map(|env| visit(env, requirements, &mut Vec::new(), &mut done))
}

/// CodeDeploy application and deployment group names: up to 100 letters, digits and `._-+=,@`.
fn valid_codedeploy_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-+=,@".contains(c);
    if name.is_empty() || name.len() > 100 || !name.chars().all(allowed) {
        return Err(format!("{name:?} is not a CodeDeploy name (1 to 100 letters, digits and `._-+=,@`)"));
    }
    Ok(())
}

/// ECS cluster, service and container names: up to 255 letters, digits, hyphens and underscores.
fn valid_ecs_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(format!("{name:?} is not an ECS name: 1 to 255 letters, digits, - and _")) }
}

/// A task definition family, or `family:revision`.
fn valid_task_family(text: &str) -> Result<(), String> {
    let (family, revision) = text.split_once(':').unwrap_or((text, "1"));
    let revision_ok =
        !revision.is_empty() && revision.len() <= 10 && revision.bytes().all(|b| b.is_ascii_digit());
    match valid_ecs_name(family) {
        Ok(()) if revision_ok => Ok(()),
        _ => Err(format!(
            "{text:?} is not a task definition family (letters, digits, - and _), or family:revision"
        )),
    }
}

fn valid_region(region: &str) -> Result<(), String> {
    let ok = !region.is_empty()
        && region.len() <= 32
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok { Ok(()) } else { Err(format!("{region:?} is not an AWS region, such as eu-west-1")) }
}

fn valid_role_arn(arn: &str) -> Result<(), String> {
    let ok = arn.starts_with("arn:aws")
        && arn.contains(":role/")
        && arn.len() <= 2048
        && arn.is_ascii()
        && !arn.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
    if ok {
        Ok(())
    } else {
        Err(format!("{arn:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"))
    }
}

/// An SSM parameter path: `/a/b`, no empty or `..` segment, no trailing slash.
fn valid_ssm_prefix(prefix: &str) -> Result<(), String> {
    let segments_ok = prefix.strip_prefix('/').is_some_and(|rest| {
        rest.split('/').all(|segment| {
            !segment.is_empty()
                && segment != ".."
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        })
    });
    if segments_ok && prefix.len() <= 900 {
        Ok(())
    } else {
        Err(format!(
            "{prefix:?} is not an SSM path prefix such as /catalogue/images/prod (segments of letters, digits, _ . -)"
        ))
    }
}

/// `500ms`, `90s`, `15m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 =
        number.parse().map_err(|_| format!("{text:?} is not a duration such as 90s, 15m or 1h"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(3600)),
        _ => return Err(format!("{text:?} is not a duration such as 90s, 15m or 1h")),
    };
    if duration.is_zero() || duration > Duration::from_secs(24 * 3600) {
        return Err(format!("{text:?}: give a duration above zero and at most 24h"));
    }
    Ok(duration)
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
# dashboard_url = "https://ledger.example.com"  # where `ledger serve` is reached: events link to it

[environments.stage]
name = "Staging"            # an environment with no `cluster` is record-only
# On ECS, `apply` rolls out to the cluster, waits, and writes <ssm_prefix>/<service>:
# cluster = "catalogue-stage"
# region = "eu-west-1"                                 # else [aws] region, else AWS_REGION
# role_arn = "arn:aws:iam::123456789012:role/deployer" # assumed for this environment
# ssm_prefix = "/catalogue/images/stage"               # the default
# timeout = "15m"                                      # how long apply waits (default)
# poll_interval = "5s"                                 # longest wait between polls (default)
# verify = { task = "catalogue-smoke", command = ["./smoke"], timeout = "10m" } # run once every service succeeded

[environments.prod]
name = "Production"
protected = true            # apply/promote/rollback here ask you to type "prod"
# What may be deployed here (docs/policy.md):
# requires = ["stage"]                    # only what succeeded in stage
# soak = "2h"                             # ... and has run there this long without a failure
# approvals = 2                           # distinct approvers, never who registered or applies it
# approvers = ["alice@example.com", "team:release-managers"]  # who may approve (default: anyone)
# freeze = ["Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/London"] # no deployments in these windows
# override = false                        # forbid --override here (default: allowed)

[services.api]
image_repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api"
# ecs_service = "catalogue-api"  # default: the service id; or { prod = "api-prod" } per environment
# container = "api"              # the container whose image is replaced (default: the service id)
# before = { command = ["bin/migrate"], timeout = "10m" } # run with the new image before the service is updated
# codedeploy = { application = "AppECS-api", deployment_group = "DgpECS-api" } # a CODE_DEPLOY service

[services.search]
image_repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/search"

[services.worker]
image_repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/worker"

[service_sets]
frontend = ["api", "search"]

# [aws]                 # the project's AWS defaults
# region = "eu-west-1"
# write_latest = true   # register writes /catalogue/images/latest/<service> (the default with [aws])

# [teams]               # groups that `approvers` names as "team:<name>"
# release-managers = ["alice@example.com", "bob@example.com"]

# [remote]              # the team's shared ledger: register, release and apply sync with it
# url = "s3://team-ledgers/catalogue"   # or file:///path/to/a/directory
# name = "origin"                       # the default
# sse = "aws:kms"                       # server-side encryption: "AES256" or "aws:kms"
# kms_key_id = "alias/ledger"           # with "aws:kms" [default: the aws/s3 key]

# [[notify]]            # tell the team of every entry recorded here (README, "Events")
# name = "deploys"
# type = "webhook"      # or "slack" (url = { env = "SLACK_WEBHOOK_URL" }), or "eventbridge" (bus = "default")
# url = "https://hooks.example.com/ledger"
# secret = { env = "LEDGER_WEBHOOK_SECRET" }  # or { ssm = "/catalogue/webhook-secret" }: signs each body
# kinds = ["outcome"]   # filters (each optional): entry kinds, environments, results
# environments = ["prod"]
# results = ["failed", "rolled_back"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(Path::new("ledger.toml"), text)
    }

    #[test]
    fn a_remote_is_checked() {
        let base = "[project]\nid = \"p\"\n";
        let remote = parse(&format!("{base}[remote]\nurl = \"s3://bucket/team\"\nsse = \"aws:kms\"\n"))
            .unwrap()
            .remote
            .unwrap();
        assert_eq!((remote.name.as_str(), remote.url.as_str()), ("origin", "s3://bucket/team"));
        for (bad, says) in [
            ("url = \"http://x\"", "use s3://bucket/prefix or file:///absolute/path"),
            ("url = \"file://relative\"", "use s3://bucket/prefix or file:///absolute/path"),
            ("url = \"s3://b/x\"\nname = \"../x\"", "invalid remote id"),
            ("url = \"s3://b/x\"\nsse = \"none\"", "use \"AES256\" or \"aws:kms\""),
            ("url = \"s3://b/x\"\nkms_key_id = \"k\"", "kms_key_id needs sse"),
            ("url = \"s3://b/x\"\nkey = 1", "unknown field"),
        ] {
            let error = parse(&format!("{base}[remote]\n{bad}\n")).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn before_and_verify_tasks() {
        let text = r#"
[project]
id = "p"
[environments.stage]
cluster = "c"
verify = { task = "smoke", command = ["./smoke", "stage"], timeout = "5m", container = "runner" }
[services.api]
image_repository = "r/api"
before = { command = ["bin/migrate"] }
[services.web]
image_repository = "r/web"
before = { task = "web-migrate:3", command = ["m"], timeout = "90s" }
"#;
        let manifest = parse(text).unwrap();
        let verify = manifest.environments["stage"].ecs.as_ref().unwrap().verify.clone().unwrap();
        assert_eq!(verify.task.as_deref(), Some("smoke"));
        assert_eq!(verify.command, ["./smoke", "stage"]);
        assert_eq!((verify.timeout, verify.container.as_deref()), (Duration::from_secs(300), Some("runner")));
        let api = manifest.services["api"].before.clone().unwrap();
        assert_eq!((api.task, api.timeout), (None, DEFAULT_TASK_TIMEOUT));
        let web = manifest.services["web"].before.clone().unwrap();
        assert_eq!((web.task.as_deref(), web.timeout), (Some("web-migrate:3"), Duration::from_secs(90)));

        let base = "[project]\nid = \"p\"\n";
        for (bad, key, says) in [
            (
                "[environments.e]\nverify = { task = \"s\", command = [\"x\"] }",
                "environments.e.verify",
                "environment on ECS",
            ),
            (
                "[environments.e]\ncluster = \"c\"\nverify = { command = [\"x\"] }",
                "environments.e.verify",
                "give the task definition family",
            ),
            (
                "[services.a]\nimage_repository = \"r/a\"\nbefore = { command = [] }",
                "services.a.before.command",
                "non-empty list",
            ),
            (
                "[services.a]\nimage_repository = \"r/a\"\nbefore = { task = \"a b\", command = [\"x\"] }",
                "services.a.before.task",
                "not a task definition family",
            ),
            (
                "[services.a]\nimage_repository = \"r/a\"\nbefore = { command = [\"x\"], container = \"c\" }",
                "services.a.before.container",
                "set `container` on the service",
            ),
            (
                "[services.a]\nimage_repository = \"r/a\"\nbefore = { command = [\"x\"], timeout = \"soon\" }",
                "services.a.before.timeout",
                "not a duration",
            ),
        ] {
            let error = parse(&format!("{base}{bad}\n")).unwrap_err();
            assert_eq!(error.key.as_deref(), Some(key), "{bad}: {error}");
            assert!(error.to_string().contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn codedeploy_group() {
        let text = "[project]\nid = \"p\"\n[services.api]\nimage_repository = \"r/api\"\n\
                    codedeploy = { application = \"AppECS-c-api\", deployment_group = \"DgpECS-c-api\" }\n";
        let manifest = parse(text).unwrap();
        let group = manifest.services["api"].codedeploy.clone().unwrap();
        assert_eq!(
            (group.application.as_str(), group.deployment_group.as_str()),
            ("AppECS-c-api", "DgpECS-c-api")
        );

        let base = "[project]\nid = \"p\"\n[services.a]\nimage_repository = \"r/a\"\n";
        for (bad, key, line, says) in [
            (
                "codedeploy = { application = \"a b\", deployment_group = \"g\" }",
                Some("services.a.codedeploy.application"),
                Some(5),
                "not a CodeDeploy name",
            ),
            (
                "codedeploy = { application = \"a\", deployment_group = \"\" }",
                Some("services.a.codedeploy.deployment_group"),
                Some(5),
                "not a CodeDeploy name",
            ),
            ("codedeploy = { application = \"a\" }", None, None, "missing field `deployment_group`"),
        ] {
            let error = parse(&format!("{base}{bad}\n")).unwrap_err();
            assert_eq!((error.key.as_deref(), error.line), (key, line), "{bad}: {error}");
            assert!(error.to_string().contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn example_parses() {
        let manifest = parse(EXAMPLE).unwrap();
        assert_eq!(manifest.project.id, "catalogue");
        assert!(manifest.environments["prod"].protected);
        assert!(!manifest.environments["stage"].protected);
        assert_eq!(manifest.environment_order, ["stage", "prod"]);
        assert_eq!(manifest.service_sets["frontend"], ["api", "search"]);
    }

    #[test]
    fn ecs_environments_and_service_names() {
        let text = r#"
[project]
id = "shop"
[aws]
region = "eu-west-1"
[environments.stage]
cluster = "shop-stage"
poll_interval = "250ms"
[environments.prod]
cluster = "shop-prod"
region = "us-east-1"
role_arn = "arn:aws:iam::123456789012:role/deployer"
ssm_prefix = "/shop/prod/images"
timeout = "20m"
[environments.sandbox]
[services.api]
image_repository = "r/api"
ecs_service = { prod = "api-live" }
container = "app"
[services.web]
image_repository = "r/web"
ecs_service = "shop-web"
"#;
        let manifest = parse(text).unwrap();
        assert_eq!(manifest.aws, Some(AwsDefaults { region: Some("eu-west-1".into()), write_latest: true }));
        let stage = manifest.environments["stage"].ecs.clone().unwrap();
        assert_eq!(stage.ssm_prefix, "/shop/images/stage");
        assert_eq!((stage.timeout, stage.poll_interval), (DEFAULT_TIMEOUT, Duration::from_millis(250)));
        let prod = manifest.environments["prod"].ecs.clone().unwrap();
        assert_eq!(prod.ssm_prefix, "/shop/prod/images");
        assert_eq!(prod.timeout, Duration::from_secs(1200));
        assert_eq!(prod.region.as_deref(), Some("us-east-1"));
        assert_eq!(manifest.environments["sandbox"].ecs, None);
        assert_eq!(manifest.environment_order, ["stage", "prod", "sandbox"]);
        let api = &manifest.services["api"];
        assert_eq!(
            (api.ecs_service_in("api", "prod"), api.ecs_service_in("api", "stage")),
            ("api-live", "api")
        );
        assert_eq!(api.container, "app");
        assert_eq!(manifest.services["web"].ecs_service_in("web", "prod"), "shop-web");
        assert_eq!(manifest.services["web"].container, "web");
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

        let ecs_key_without_cluster = "[project]\nid = \"p\"\n[environments.stage]\ntimeout = \"5m\"\n";
        let error = parse(ecs_key_without_cluster).unwrap_err();
        assert_eq!((error.line, error.key.as_deref()), (Some(4), Some("environments.stage.timeout")));
        for (bad, key) in [
            ("cluster = \"a/b\"", "cluster"),
            ("cluster = \"c\"\nssm_prefix = \"/a/../b\"", "ssm_prefix"),
            ("cluster = \"c\"\nssm_prefix = \"a/b\"", "ssm_prefix"),
            ("cluster = \"c\"\ntimeout = \"soon\"", "timeout"),
            ("cluster = \"c\"\ntimeout = \"0s\"", "timeout"),
            ("cluster = \"c\"\nrole_arn = \"deployer\"", "role_arn"),
            ("cluster = \"c\"\nregion = \"EU West\"", "region"),
        ] {
            let text = format!("[project]\nid = \"p\"\n[environments.stage]\n{bad}\n");
            let error = parse(&text).unwrap_err();
            assert_eq!(
                error.key.as_deref(),
                Some(format!("environments.stage.{key}").as_str()),
                "{bad}: {error}"
            );
        }
        let unknown_env = "[project]\nid = \"p\"\n[services.api]\nimage_repository = \"r/a\"\necs_service = { prod = \"x\" }\n";
        assert!(parse(unknown_env).unwrap_err().message.contains("unknown environment \"prod\""));
        let bad_container =
            "[project]\nid = \"p\"\n[services.api]\nimage_repository = \"r/a\"\ncontainer = \"../x\"\n";
        assert_eq!(parse(bad_container).unwrap_err().key.as_deref(), Some("services.api.container"));
        assert!(parse("not toml at all").is_err());
    }
}
