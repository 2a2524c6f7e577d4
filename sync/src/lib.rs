//! The cloud edge of the release ledger: the only crate that talks to AWS.
//!
//! - [`rollout`]: applying a deployment to ECS, waiting for the truth, writing SSM.
//! - [`ecs`], [`codedeploy`], [`ssm`], [`ecr`]: the calls, behind narrow traits so tests can script faults.
//! - [`live`]: what ECS runs now, for drift and imports.
//! - [`task`]: one-off tasks: a deployment's `before` and `verify` tasks, `ledger run`.
//! - [`task_fields`]: which task definition fields a new revision carries over.
//! - [`task_json`]: task definitions normalised, their digest and their differences.
//! - [`connect`]: credentials, region, assumed roles, `AWS_ENDPOINT_URL`.
//! - [`s3`]: the sharing protocol's remote on S3 (the protocol itself is `ledger-remote`).
//! - [`kms`]: signing entries with an AWS KMS key.
//! - [`notify`]: sending events (webhooks, Slack, EventBridge).

pub mod codedeploy;
pub mod connect;
pub mod ecr;
pub mod ecs;
pub mod error;
pub mod kms;
pub mod live;
pub mod notify;
pub mod retry;
pub mod rollout;
pub mod s3;
pub mod ssm;
pub mod task;
pub mod task_fields;
pub mod task_json;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod rollout_tests;
#[cfg(test)]
mod task_tests;

pub use connect::{AwsSettings, Cloud, ConnectError};
pub use error::{AwsError, ErrorKind};
pub use kms::{KmsError, KmsSigner};
pub use retry::Backoff;
