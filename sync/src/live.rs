//! What ECS runs now: for `status --live` (drift), `import` (adopting an environment) and
//! `diff --task-definitions` (comparing environments); and how a running task definition
//! differs from the one ledger registered.

use serde_json::Value;

use crate::ecs::{Ecs, RolloutState, describe_service};
use crate::error::AwsError;
use crate::retry::Backoff;
use crate::task_json::{self, FieldChange};

/// One service as ECS runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveService {
    /// The revision of the PRIMARY deployment (the service's own, when it has none).
    pub task_definition: String,
    pub ecs_deployment: Option<String>,
    /// When ECS started the PRIMARY deployment, if it said.
    pub started_at: Option<ledger::Timestamp>,
    /// The PRIMARY deployment's rollout (`Unknown` without one).
    pub rollout_state: RolloutState,
    /// The image of the service's container; `None` when the revision has no such container.
    pub image: Option<String>,
    /// The revision, normalised (see [`task_json::normalise`]).
    pub definition: Value,
}

/// Reads service `name` of `cluster`: two calls, DescribeServices and DescribeTaskDefinition.
pub async fn read_live<E: Ecs>(
    ecs: &E,
    backoff: &Backoff,
    cluster: &str,
    name: &str,
    container: &str,
) -> Result<LiveService, AwsError> {
    let service = describe_service(ecs, backoff, cluster, name).await?;
    let primary = service.primary();
    let task_definition = primary.map_or(service.task_definition.clone(), |p| p.task_definition.clone());
    let definition = backoff.retry(async || ecs.describe_task_definition(&task_definition).await).await?;
    Ok(LiveService {
        image: definition.image_of(container).map(str::to_string),
        definition: definition.normalised(),
        ecs_deployment: primary.map(|p| p.id.clone()),
        started_at: primary.and_then(|p| p.created_at),
        rollout_state: primary.map_or(RolloutState::Unknown, |p| p.rollout_state.clone()),
        task_definition,
    })
}

/// A task definition ledger registered, as an outcome recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    pub arn: String,
    /// The digest of its normalised JSON, when the outcome recorded one.
    pub digest: Option<String>,
}

/// The fields in which revision `running` (`running_arn`, normalised) differs from `registered`:
/// none when it is that revision, or one with the same digest (registered again by hand, with
/// nothing changed); otherwise `registered` is described (one DescribeTaskDefinition) and compared.
pub async fn changed_since<E: Ecs>(
    ecs: &E,
    backoff: &Backoff,
    running_arn: &str,
    running: &Value,
    registered: &Registered,
) -> Result<Vec<FieldChange>, AwsError> {
    if running_arn == registered.arn || registered.digest.as_deref() == Some(&task_json::digest(running)) {
        return Ok(Vec::new());
    }
    let ours = backoff.retry(async || ecs.describe_task_definition(&registered.arn).await).await?;
    Ok(task_json::changes(&ours.normalised(), running))
}
