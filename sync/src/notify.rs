//! Sending events out: an HTTP POST (webhooks, Slack), signed with HMAC-SHA256 when there is a
//! secret, and EventBridge PutEvents. Every send is bounded in time; whether and when to try
//! again is the caller's (the outbox).

use std::time::Duration;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;

use crate::error::{AwsError, error_chain, from_sdk};

/// How long one POST may take, connecting included.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How much of a refusing receiver's answer is kept in the error.
const ANSWER_SHOWN: usize = 200;

/// The header carrying a webhook body's signature: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Ledger-Signature-256";

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0:?} is not a URL ledger can send to (http:// or https://)")]
    BadUrl(String),
    #[error("no answer within {} s", SEND_TIMEOUT.as_secs())]
    Timeout,
    #[error("{0}")]
    Transport(String),
    #[error("the receiver answered HTTP {status}: {answer}")]
    Refused { status: u16, answer: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// An HTTP(S) client for webhooks: rustls on ring with the system's root certificates.
pub struct Poster {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Default for Poster {
    fn default() -> Poster {
        Poster::new()
    }
}

impl Poster {
    pub fn new() -> Poster {
        let mut roots = rustls::RootCertStore::empty();
        // A machine without root certificates can still send to http:// receivers; https ones
        // then fail with the TLS error, per event.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Poster { client: Client::builder(TokioExecutor::new()).build(connector) }
    }

    /// POSTs `body` (JSON) to `url` with `headers`; `Ok` only on a 2xx answer.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Result<(), SendError> {
        let uri: hyper::Uri = url.parse().map_err(|_| SendError::BadUrl(url.to_string()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(SendError::BadUrl(url.to_string()));
        }
        let mut request = hyper::Request::post(uri)
            .header("content-type", "application/json")
            .header("user-agent", concat!("ledger/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| SendError::Transport(error.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| SendError::Transport(error_chain(&error)))?;
            let status = response.status();
            let answer = response.into_body().collect().await.map(|body| body.to_bytes()).unwrap_or_default();
            if status.is_success() {
                return Ok(());
            }
            let answer =
                String::from_utf8_lossy(&answer[..answer.len().min(ANSWER_SHOWN)]).trim().to_string();
            Err(SendError::Refused { status: status.as_u16(), answer })
        };
        tokio::time::timeout(SEND_TIMEOUT, exchange).await.map_err(|_| SendError::Timeout)?
    }
}

/// `sha256=` and the hex of HMAC-SHA256 of `body` under `secret`: the value of
/// [`SIGNATURE_HEADER`].
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256={hex}")
}

/// One event for EventBridge.
pub struct BusEvent {
    pub detail_type: String,
    /// The JSON document, as text.
    pub detail: String,
    /// The entries it is about (its entry id, as EventBridge's `resources`).
    pub resources: Vec<String>,
}

/// PutEvents of `events` (at most 10: one call) on `bus` with `source`: each event's own
/// result, `Err` with EventBridge's reason for one it did not take.
pub async fn put_events(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    source: &str,
    events: &[BusEvent],
) -> Result<Vec<Result<(), String>>, AwsError> {
    const ACTION: &str = "events:PutEvents";
    let entries = events.iter().map(|event| {
        PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(source)
            .detail_type(&event.detail_type)
            .detail(&event.detail)
            .set_resources(Some(event.resources.clone()))
            .build()
    });
    let output = client
        .put_events()
        .set_entries(Some(entries.collect()))
        .send()
        .await
        .map_err(|e| from_sdk(ACTION, e))?;
    let results = output.entries.unwrap_or_default();
    Ok((0..events.len())
        .map(|index| match results.get(index) {
            Some(result) if result.error_code.is_none() && result.event_id.is_some() => Ok(()),
            Some(result) => Err(format!(
                "{}: {}",
                result.error_code.as_deref().unwrap_or("refused"),
                result.error_message.as_deref().unwrap_or("no reason given")
            )),
            None => Err("EventBridge answered for fewer events than it was sent".to_string()),
        })
        .collect())
}
