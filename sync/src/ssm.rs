//! The SSM parameters that hold each environment's images, so Terraform's data blocks stay in
//! step with what was deployed.

use std::future::Future;

use aws_sdk_ssm::types::ParameterType;

use crate::error::{AwsError, ErrorKind, from_sdk};

pub trait Parameters {
    /// Writes `value` to `name`, overwriting; returns the parameter's new version.
    fn put(&self, name: &str, value: &str) -> impl Future<Output = Result<i64, AwsError>>;

    /// The value of `name`, or `None` when there is no such parameter.
    fn get(&self, name: &str) -> impl Future<Output = Result<Option<String>, AwsError>>;
}

/// SSM Parameter Store through the AWS SDK.
pub struct AwsParameters(pub aws_sdk_ssm::Client);

impl Parameters for AwsParameters {
    async fn put(&self, name: &str, value: &str) -> Result<i64, AwsError> {
        let output = self
            .0
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| from_sdk("ssm:PutParameter", e))?;
        Ok(output.version)
    }

    async fn get(&self, name: &str) -> Result<Option<String>, AwsError> {
        self.value(name, false).await
    }
}

impl AwsParameters {
    /// The decrypted value of `name` (a SecureString or a String), or `None` when there is no
    /// such parameter.
    pub async fn secret(&self, name: &str) -> Result<Option<String>, AwsError> {
        self.value(name, true).await
    }

    async fn value(&self, name: &str, decrypted: bool) -> Result<Option<String>, AwsError> {
        let request = self.0.get_parameter().name(name).with_decryption(decrypted);
        match request.send().await.map_err(|e| from_sdk("ssm:GetParameter", e)) {
            Ok(output) => Ok(output.parameter.and_then(|p| p.value)),
            Err(error) if error.kind == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// `<prefix>/<service>`. Prefixes and service names are validated before they get here.
pub fn parameter_name(prefix: &str, service: &str) -> String {
    format!("{}/{service}", prefix.trim_end_matches('/'))
}
