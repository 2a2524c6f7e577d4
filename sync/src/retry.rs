//! Retrying throttled, 5xx and unanswered AWS calls with exponential backoff. The SDK's own
//! retries are turned off (see `connect`), so this is the one retry policy, and the scripted
//! fake exercises it.

use std::time::Duration;

use crate::error::AwsError;

#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// Calls made at most, the first included.
    pub attempts: u32,
    /// The wait before the first retry; it doubles for each later one.
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { attempts: 6, first_delay: Duration::from_millis(200), max_delay: Duration::from_secs(5) }
    }
}

impl Backoff {
    /// Makes `call` until it succeeds, fails for good, or the attempts are used up.
    pub async fn retry<T>(&self, mut call: impl AsyncFnMut() -> Result<T, AwsError>) -> Result<T, AwsError> {
        let mut delay = self.first_delay;
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) if error.kind.is_retryable() && attempt < self.attempts => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.max_delay);
                    attempt += 1;
                }
                Err(error) => return Err(AwsError { attempts: attempt, ..error }),
            }
        }
    }
}
