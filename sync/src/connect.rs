//! Connecting to AWS: the standard credential chain, `--profile`/`--region`, the role an
//! environment assumes, and `AWS_ENDPOINT_URL` (read by aws-config), so the same binary runs
//! against the local emulator.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::SharedCredentialsProvider;
use aws_smithy_http_client::tls;

use crate::codedeploy::AwsCodeDeploy;
use crate::ecs::AwsEcs;
use crate::error::{AwsError, from_sdk};
use crate::ssm::AwsParameters;

/// Where and as whom to connect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// A profile of the shared AWS config files (`--profile`), else the standard chain.
    pub profile: Option<String>,
    /// The region; when `None`, the standard chain (`AWS_REGION`, the profile) decides.
    pub region: Option<String>,
    /// A role to assume on top of the chain's credentials.
    pub role_arn: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "no AWS region: set `region` for the environment (or [aws] region) in ledger.toml, or pass --region"
    )]
    NoRegion,
}

/// Clients for one environment's account and region.
pub struct Cloud {
    config: SdkConfig,
}

impl Cloud {
    pub async fn connect(settings: &AwsSettings) -> Result<Cloud, ConnectError> {
        // One retry policy, ours (see `retry`); bounded waits, so nothing hangs on a dead network.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            );
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        loader = loader.http_client(https);
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let mut config = loader.load().await;
        if config.region().is_none() {
            return Err(ConnectError::NoRegion);
        }
        if let Some(role) = &settings.role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                .session_name("ledger")
                .configure(&config)
                .build()
                .await;
            config =
                config.into_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build();
        }
        Ok(Cloud { config })
    }

    pub fn ecs(&self) -> AwsEcs {
        AwsEcs(aws_sdk_ecs::Client::new(&self.config))
    }

    pub fn codedeploy(&self) -> AwsCodeDeploy {
        AwsCodeDeploy(aws_sdk_codedeploy::Client::new(&self.config))
    }

    pub fn parameters(&self) -> AwsParameters {
        AwsParameters(aws_sdk_ssm::Client::new(&self.config))
    }

    /// An S3 client; path-style addressing when `AWS_ENDPOINT_URL` points at another endpoint
    /// (an emulator on 127.0.0.1 has no bucket subdomains).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.config)
            .force_path_style(self.config.endpoint_url().is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.config)
    }

    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.config)
    }

    pub fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.config)
    }

    /// The ARN of the principal these credentials act as (STS GetCallerIdentity).
    pub async fn caller(&self) -> Result<String, AwsError> {
        const ACTION: &str = "sts:GetCallerIdentity";
        let output = aws_sdk_sts::Client::new(&self.config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| from_sdk(ACTION, e))?;
        Ok(output.arn.unwrap_or_default())
    }
}
