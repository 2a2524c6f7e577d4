//! The CodeDeploy calls that deploy an ECS service whose deployment controller is CODE_DEPLOY,
//! behind a narrow trait so that tests can script how its deployments end, and the real client
//! behind it: CreateDeployment with an AppSpec naming the new task definition, and
//! BatchGetDeployments (up to [`BATCH_GET_DEPLOYMENTS_MAX`] a call) to follow them.

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_codedeploy::types::{AppSpecContent, DeploymentInfo, RevisionLocation, RevisionLocationType};

use crate::error::{AwsError, ErrorKind, from_sdk};

/// The CodeDeploy application and deployment group that deploy a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentGroup {
    pub application: String,
    pub deployment_group: String,
}

/// BatchGetDeployments answers for at most this many deployments a call.
pub const BATCH_GET_DEPLOYMENTS_MAX: usize = 25;

/// What CodeDeploy says of one of its deployments.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CodeDeployView {
    pub id: String,
    /// As CodeDeploy spells it: `Created`, `Queued`, `InProgress`, `Baking`, `Ready`,
    /// `Succeeded`, `Failed`, `Stopped`.
    pub status: String,
    /// `errorInformation`: its code and message, when it failed or was stopped.
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// `rollbackInfo`: CodeDeploy rolled this deployment back (its message, or the id of the
    /// deployment that did).
    pub rollback: Option<String>,
}

impl CodeDeployView {
    /// CodeDeploy has finished with it: `Succeeded`, `Failed` or `Stopped`. `Ready` (waiting for
    /// the traffic to be rerouted by hand) is not an end.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "Succeeded" | "Failed" | "Stopped")
    }
}

/// What BatchGetDeployments said of one deployment asked for.
pub type DescribedCodeDeployment = Result<CodeDeployView, AwsError>;

pub trait CodeDeploy {
    /// Starts a deployment of `group` with AppSpec `appspec` (JSON, see [`appspec`]); its id.
    fn create_deployment(
        &self,
        group: &DeploymentGroup,
        appspec: &str,
        description: &str,
    ) -> impl Future<Output = Result<String, AwsError>>;

    /// Deployments `ids` (at most [`BATCH_GET_DEPLOYMENTS_MAX`]) in one call: one
    /// [`DescribedCodeDeployment`] per id, in the order asked.
    fn batch_get_deployments(
        &self,
        ids: &[&str],
    ) -> impl Future<Output = Result<Vec<DescribedCodeDeployment>, AwsError>>;
}

/// The AppSpec (JSON) of a deployment of an ECS service to `task_definition`, its load balancer
/// sending traffic to `container` on `port`.
pub fn appspec(task_definition: &str, container: &str, port: i32) -> String {
    serde_json::json!({
        "version": "0.0",
        "Resources": [{
            "TargetService": {
                "Type": "AWS::ECS::Service",
                "Properties": {
                    "TaskDefinition": task_definition,
                    "LoadBalancerInfo": { "ContainerName": container, "ContainerPort": port },
                },
            },
        }],
    })
    .to_string()
}

/// Whether `id` (a recorded `ecs_deployment`) is a CodeDeploy deployment's id (`d-…`).
pub fn is_codedeploy_id(id: &str) -> bool {
    id.strip_prefix("d-")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

pub const CREATE_DEPLOYMENT: &str = "codedeploy:CreateDeployment";
pub const BATCH_GET_DEPLOYMENTS: &str = "codedeploy:BatchGetDeployments";

/// A deployment BatchGetDeployments did not answer for.
pub fn codedeploy_not_found(id: &str) -> AwsError {
    AwsError::not_found(BATCH_GET_DEPLOYMENTS, format!("CodeDeploy deployment {id} not found"))
}

/// CodeDeploy through the AWS SDK.
pub struct AwsCodeDeploy(pub aws_sdk_codedeploy::Client);

impl CodeDeploy for AwsCodeDeploy {
    async fn create_deployment(
        &self,
        group: &DeploymentGroup,
        appspec: &str,
        description: &str,
    ) -> Result<String, AwsError> {
        let revision = RevisionLocation::builder()
            .revision_type(RevisionLocationType::AppSpecContent)
            .app_spec_content(AppSpecContent::builder().content(appspec).build())
            .build();
        let output = self
            .0
            .create_deployment()
            .application_name(&group.application)
            .deployment_group_name(&group.deployment_group)
            .revision(revision)
            .description(description)
            .send()
            .await
            .map_err(|e| from_sdk(CREATE_DEPLOYMENT, e))?;
        output.deployment_id.filter(|id| !id.is_empty()).ok_or_else(|| {
            AwsError::new(CREATE_DEPLOYMENT, ErrorKind::Rejected, "", "CodeDeploy returned no deployment id")
        })
    }

    async fn batch_get_deployments(&self, ids: &[&str]) -> Result<Vec<DescribedCodeDeployment>, AwsError> {
        let output = self
            .0
            .batch_get_deployments()
            .set_deployment_ids(Some(ids.iter().map(|id| id.to_string()).collect()))
            .send()
            .await
            .map_err(|e| from_sdk(BATCH_GET_DEPLOYMENTS, e))?;
        let found: BTreeMap<&str, &DeploymentInfo> =
            output.deployments_info().iter().filter_map(|d| Some((d.deployment_id()?, d))).collect();
        Ok(ids
            .iter()
            .map(|id| match found.get(id) {
                Some(info) => Ok(codedeploy_view(info)),
                None => Err(codedeploy_not_found(id)),
            })
            .collect())
    }
}

fn codedeploy_view(info: &DeploymentInfo) -> CodeDeployView {
    let error = info.error_information();
    let rollback = info.rollback_info().and_then(|r| {
        let message = r.rollback_message().filter(|m| !m.is_empty());
        let by = r.rollback_deployment_id().filter(|id| !id.is_empty());
        message.map(str::to_string).or_else(|| by.map(|id| format!("rolled back by {id}")))
    });
    CodeDeployView {
        id: info.deployment_id().unwrap_or_default().to_string(),
        status: info.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
        error_code: error.and_then(|e| e.code()).map(|c| c.as_str().to_string()),
        error_message: error.and_then(|e| e.message()).map(str::to_string),
        rollback,
    }
}
