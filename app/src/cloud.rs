//! The way into AWS: connecting for an environment (the profile and region of the settings,
//! the environment's region and role), the AWS principal recorded beside the actor, and AWS
//! errors as application errors.

use std::sync::Arc;

use ledger::Stamp;
use ledger::manifest::EcsEnvironment;
use ledger::signing::EntrySigner;
use ledger_sync::kms::KmsSigner;
use ledger_sync::rollout::EnvTarget;
use ledger_sync::{AwsError, AwsSettings, Cloud, ConnectError, ErrorKind as AwsErrorKind};

use crate::error::{Error, ErrorKind, Result};
use crate::runtime::block_on;
use crate::workspace::Workspace;

/// Connects with the environment's region and role (`None`: the project's AWS defaults).
pub fn connect(workspace: &Workspace, ecs: Option<&EcsEnvironment>) -> Result<Cloud> {
    connect_with(&aws_settings(workspace, ecs))
}

/// The profile, region and role to reach AWS with for an environment (`None`: the project's
/// AWS defaults).
fn aws_settings(workspace: &Workspace, ecs: Option<&EcsEnvironment>) -> AwsSettings {
    AwsSettings {
        profile: workspace.settings.profile.clone(),
        region: workspace
            .settings
            .region
            .clone()
            .or_else(|| ecs.and_then(|e| e.region.clone()))
            .or_else(|| workspace.project_region()),
        role_arn: ecs.and_then(|e| e.role_arn.clone()),
    }
}

/// A signer backed by the AWS KMS key `key` (id, ARN or `alias/…`), reached with the project's
/// AWS defaults (see docs/signing.md).
pub fn kms_signer(workspace: &Workspace, key: &str) -> Result<Arc<dyn EntrySigner>> {
    let signer = KmsSigner::connect(&aws_settings(workspace, None), key)
        .map_err(|error| Error::from_source(ErrorKind::Usage, error))?;
    Ok(Arc::new(signer))
}

/// Connects with `settings` as they are.
pub fn connect_with(settings: &AwsSettings) -> Result<Cloud> {
    Ok(block_on(Cloud::connect(settings))??)
}

/// `stamp` with the AWS principal the credentials act as beside the actor, as
/// `name (arn:aws:sts::…)`.
pub fn with_principal(stamp: Stamp, cloud: &Cloud) -> Result<Stamp> {
    let principal = block_on(cloud.caller())??;
    Ok(Stamp { actor: format!("{} ({principal})", stamp.actor), ..stamp })
}

/// Where `ledger_sync` rolls out for an environment on ECS.
pub fn env_target(ecs: &EcsEnvironment) -> EnvTarget {
    EnvTarget { ssm_prefix: ecs.ssm_prefix.clone(), timeout: ecs.timeout, poll_interval: ecs.poll_interval }
}

impl From<ConnectError> for Error {
    fn from(error: ConnectError) -> Error {
        Error::from_source(ErrorKind::Usage, error)
    }
}

impl From<AwsError> for Error {
    fn from(error: AwsError) -> Error {
        let hint = match error.kind {
            AwsErrorKind::Transport => Some(
                "check the network and the credentials (AWS_PROFILE, --profile); AWS_ENDPOINT_URL points ledger at another endpoint",
            ),
            AwsErrorKind::NotFound if error.is_cluster_not_found() => Some(
                "check the environment's `cluster` and `region` in ledger.toml (or --region) and the account the credentials are for",
            ),
            AwsErrorKind::Rejected if error.code.contains("Token") || error.code.contains("Credential") => {
                Some("the AWS credentials were refused: check AWS_PROFILE / --profile, or log in again")
            }
            _ => None,
        };
        let failed = Error::from_source(ErrorKind::Failed, error);
        match hint {
            Some(hint) => failed.hint(hint),
            None => failed,
        }
    }
}
