//! The CLI's way into AWS: connecting for an environment (`--profile`, `--region`, the
//! environment's region and role), the AWS principal recorded beside the actor, and AWS errors
//! as command errors.

use ledger::Stamp;
use ledger::manifest::EcsEnvironment;
use ledger_sync::rollout::EnvTarget;
use ledger_sync::{AwsError, AwsSettings, Cloud, ConnectError, ErrorKind, block_on};

use crate::error::CommandError;
use crate::workspace::Workspace;

/// Connects with the environment's region and role (`None`: the project's AWS defaults).
pub fn connect(workspace: &Workspace, ecs: Option<&EcsEnvironment>) -> Result<Cloud, CommandError> {
    let project_region = workspace.manifest.aws.as_ref().and_then(|aws| aws.region.clone());
    let settings = AwsSettings {
        profile: workspace.globals.profile.clone(),
        region: workspace
            .globals
            .region
            .clone()
            .or_else(|| ecs.and_then(|e| e.region.clone()))
            .or(project_region),
        role_arn: ecs.and_then(|e| e.role_arn.clone()),
    };
    run(Cloud::connect(&settings))?.map_err(|error: ConnectError| CommandError::user(error.to_string()))
}

/// `stamp` with the AWS principal the credentials act as beside the actor, as
/// `name (arn:aws:sts::…)`.
pub fn with_principal(stamp: Stamp, cloud: &Cloud) -> Result<Stamp, CommandError> {
    let principal = run(cloud.caller())??;
    Ok(Stamp { actor: format!("{} ({principal})", stamp.actor), ..stamp })
}

/// Where `ledger_sync` rolls out for an environment on ECS.
pub fn env_target(ecs: &EcsEnvironment) -> EnvTarget {
    EnvTarget {
        cluster: ecs.cluster.clone(),
        ssm_prefix: ecs.ssm_prefix.clone(),
        timeout: ecs.timeout,
        poll_interval: ecs.poll_interval,
    }
}

/// Runs AWS calls to completion.
pub fn run<F: Future>(future: F) -> Result<F::Output, CommandError> {
    block_on(future).map_err(|e| CommandError::failed(format!("cannot start the AWS client runtime: {e}")))
}

impl From<AwsError> for CommandError {
    fn from(error: AwsError) -> CommandError {
        let failed = CommandError::failed(error.to_string());
        match error.kind {
            ErrorKind::Transport => failed.with_hint(
                "check the network and the credentials (AWS_PROFILE, --profile); AWS_ENDPOINT_URL points ledger at another endpoint",
            ),
            ErrorKind::NotFound if error.is_cluster_not_found() => failed.with_hint(
                "check the environment's `cluster` and `region` in ledger.toml (or --region) and the account the credentials are for",
            ),
            ErrorKind::Rejected if error.code.contains("Token") || error.code.contains("Credential") => {
                failed.with_hint("the AWS credentials were refused: check AWS_PROFILE / --profile, or log in again")
            }
            _ => failed,
        }
    }
}
