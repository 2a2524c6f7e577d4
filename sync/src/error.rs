//! One error type for every AWS call: which IAM action failed, what kind of failure it was
//! (so the retry policy and the user's next step can be decided), and AWS's own words.

use std::fmt;

/// Why an AWS call failed, as far as the caller's next step is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttled: retried with backoff.
    Throttled,
    /// A 5xx from AWS: retried with backoff.
    ServerError,
    /// No response (connection refused, timeout): retried with backoff.
    Transport,
    /// IAM refused the action.
    AccessDenied,
    /// The named cluster, service, task definition, parameter, image or KMS key does not exist.
    NotFound,
    /// AWS refused the request as given (a client error other than the above).
    Rejected,
}

impl ErrorKind {
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Throttled | ErrorKind::ServerError | ErrorKind::Transport)
    }
}

/// A failed AWS call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct AwsError {
    /// The IAM action, e.g. `ecs:UpdateService`.
    pub action: &'static str,
    pub kind: ErrorKind,
    /// AWS's error code, e.g. `ThrottlingException` (empty when there was no response).
    pub code: String,
    pub message: String,
    /// How many times the call was made before giving up.
    pub attempts: u32,
}

impl AwsError {
    pub fn new(
        action: &'static str,
        kind: ErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        AwsError { action, kind, code: code.into(), message: message.into(), attempts: 1 }
    }

    pub fn not_found(action: &'static str, message: impl Into<String>) -> Self {
        AwsError::new(action, ErrorKind::NotFound, "", message)
    }

    /// The cluster named does not exist (in this account and region).
    pub fn is_cluster_not_found(&self) -> bool {
        self.code == "ClusterNotFoundException"
    }

    /// Classifies an error response by its code and HTTP status.
    pub fn from_response(action: &'static str, status: u16, code: &str, message: &str) -> Self {
        let kind = match code {
            "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "ProvisionedThroughputExceededException" => ErrorKind::Throttled,
            "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => ErrorKind::AccessDenied,
            "ClusterNotFoundException"
            | "ServiceNotFoundException"
            | "ParameterNotFound"
            | "ImageNotFoundException"
            | "RepositoryNotFoundException"
            | "NotFoundException" => ErrorKind::NotFound,
            _ if status == 429 => ErrorKind::Throttled,
            _ if status >= 500 => ErrorKind::ServerError,
            _ => ErrorKind::Rejected,
        };
        AwsError::new(action, kind, code, message)
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = if self.code.is_empty() { String::new() } else { format!("{}: ", self.code) };
        match self.kind {
            ErrorKind::AccessDenied => write!(
                f,
                "AWS denied {action}: {code}{message}; the IAM policy of the caller must allow `{action}` (see the README's minimal policy)",
                action = self.action,
                message = self.message
            ),
            _ => {
                write!(f, "{}: {code}{}", self.action, self.message)?;
                if self.attempts > 1 {
                    write!(f, " (gave up after {} attempts)", self.attempts)?;
                }
                Ok(())
            }
        }
    }
}

/// Turns an SDK error into an [`AwsError`] for `action`.
pub(crate) fn from_sdk<E>(
    action: &'static str,
    error: aws_sdk_ecs::error::SdkError<E, aws_sdk_ecs::config::http::HttpResponse>,
) -> AwsError
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_ecs::error::SdkError;
    match &error {
        SdkError::ServiceError(context) => AwsError::from_response(
            action,
            context.raw().status().as_u16(),
            context.err().code().unwrap_or(""),
            context.err().message().unwrap_or("no message"),
        ),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            AwsError::new(action, ErrorKind::Transport, "", error_chain(&error))
        }
        _ => AwsError::new(action, ErrorKind::Rejected, "", error_chain(&error)),
    }
}

/// An error and its sources on one line: the SDK's top-level messages alone say little.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_responses_and_names_the_refused_action() {
        let denied =
            AwsError::from_response("ecs:UpdateService", 400, "AccessDeniedException", "not allowed");
        assert_eq!(denied.kind, ErrorKind::AccessDenied);
        assert!(denied.to_string().contains("must allow `ecs:UpdateService`"), "{denied}");
        let throttled =
            AwsError::from_response("ecs:DescribeServices", 400, "ThrottlingException", "Rate exceeded");
        assert!(throttled.kind.is_retryable());
        assert_eq!(AwsError::from_response("ssm:PutParameter", 503, "", "").kind, ErrorKind::ServerError);
        assert_eq!(AwsError::from_response("ssm:PutParameter", 429, "Odd", "").kind, ErrorKind::Throttled);
        let rejected = AwsError::from_response("ecs:UpdateService", 400, "ClientException", "inactive");
        assert!(!rejected.kind.is_retryable());
    }
}
