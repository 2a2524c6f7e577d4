//! Signing entries with an AWS KMS key (docs/signing.md, "AWS KMS"): an asymmetric
//! `ECC_NIST_P256` key whose ECDSA signatures are re-encoded as ordinary SSHSIG signatures
//! under an `ecdsa-sha2-nistp256` public key, which `ssh-keygen -Y verify` checks like any other.

use std::future::Future;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyUsageType, MessageType, SigningAlgorithmSpec};
use ledger::signing::{EntrySigner, HASH, NAMESPACE, PublicKey, SignError, SshSig};
use p256::pkcs8::DecodePublicKey;
use tokio::runtime::Runtime;

use crate::connect::{AwsSettings, Cloud, ConnectError};
use crate::error::{AwsError, ErrorKind, from_sdk};
use crate::retry::Backoff;

/// The key spec a KMS key needs to sign entries (with the usage SIGN_VERIFY and the
/// algorithm ECDSA_SHA_256), and how to create one.
const KEY_SPEC: &str = "ECC_NIST_P256";
const CREATE_KEY: &str =
    "create it with `aws kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY`";

/// Why a [`KmsSigner`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The runtime or the thread that make the KMS calls could not start.
    #[error("cannot run KMS calls: {0}")]
    Runtime(std::io::Error),
    /// GetPublicKey failed: no such key or alias, access denied, no answer.
    #[error("cannot use KMS key `{key}` to sign: {}{}", sentence(source), what_to_do(source))]
    Unreachable { key: String, source: AwsError },
    /// The key exists but cannot make the signatures entries carry.
    #[error(
        "KMS key `{key}` cannot sign ledger entries: {found}; it must be an {KEY_SPEC} key for SIGN_VERIFY with ECDSA_SHA_256 ({CREATE_KEY})"
    )]
    Unsuitable { key: String, found: String },
    /// KMS answered with a public key that is not a P-256 key.
    #[error("KMS key `{key}`: its public key is not an {KEY_SPEC} public key: {reason}")]
    BadPublicKey { key: String, reason: String },
}

impl From<KmsError> for SignError {
    fn from(error: KmsError) -> SignError {
        SignError::Unavailable(error.to_string())
    }
}

/// The user's next step after a failed KMS call, as a sentence tail (empty when the error's
/// own text says it).
fn what_to_do(error: &AwsError) -> &'static str {
    match error.kind {
        ErrorKind::NotFound => {
            "; no such key or alias in this account and region: check the key id or `alias/...`, the region and the credentials' account"
        }
        ErrorKind::Transport | ErrorKind::Throttled | ErrorKind::ServerError => {
            "; KMS did not answer: check the network and the region (AWS_ENDPOINT_URL points ledger at another endpoint)"
        }
        ErrorKind::AccessDenied => "",
        ErrorKind::Rejected if is_key_state(&error.code) => "; enable the key (or name another) and retry",
        ErrorKind::Rejected => "",
    }
}

/// An error's text without its closing full stop, to go on with `; ...`.
fn sentence(error: &AwsError) -> String {
    error.to_string().trim_end_matches('.').to_string()
}

/// KMS's refusals that are about the key's state, not the request: the key is there but
/// cannot be used now.
fn is_key_state(code: &str) -> bool {
    matches!(
        code,
        "DisabledException"
            | "KMSInvalidStateException"
            | "KeyUnavailableException"
            | "DependencyTimeoutException"
    )
}

/// An [`EntrySigner`] backed by an AWS KMS `ECC_NIST_P256` key.
///
/// Its calls run on a runtime of its own, driven from a thread of their own for the length of
/// a call, so [`EntrySigner::sign`] can be called from any thread, inside an async runtime or not.
pub struct KmsSigner {
    /// The key as it was named (id, ARN or `alias/...`), for messages.
    key: String,
    /// The key's id as KMS answered it: signing names it, so an alias moved meanwhile cannot
    /// make signatures under another key than [`KmsSigner::public_key`].
    key_id: String,
    public_key: PublicKey,
    client: aws_sdk_kms::Client,
    /// `Some` until dropped.
    runtime: Option<Runtime>,
}

impl KmsSigner {
    /// Connects with `settings` (the profile, region and role other AWS clients take, and
    /// `AWS_ENDPOINT_URL`) and reads the public key of `key` (a key id, key ARN, alias ARN or
    /// `alias/<name>`), which must be an `ECC_NIST_P256` key for `SIGN_VERIFY` with
    /// `ECDSA_SHA_256`.
    pub fn connect(settings: &AwsSettings, key: &str) -> Result<KmsSigner, KmsError> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(KmsError::Runtime)?;
        let (client, key_id, public_key) = on_own_thread(&runtime, || async {
            let client = Cloud::connect(settings).await?.kms();
            let answer = Backoff::default()
                .retry(async || {
                    client
                        .get_public_key()
                        .key_id(key)
                        .send()
                        .await
                        .map_err(|e| from_sdk("kms:GetPublicKey", e))
                })
                .await
                .map_err(|source| unreachable_or_unsuitable(key, source))?;
            let (key_id, public_key) = check_public_key(key, &answer)?;
            Ok::<_, KmsError>((client, key_id, public_key))
        })
        .map_err(KmsError::Runtime)??;
        Ok(KmsSigner { key: key.to_string(), key_id, public_key, client, runtime: Some(runtime) })
    }

    /// KMS's DER signature of `data`; the outer error when the call could not be run at all.
    fn sign_data(&self, data: &[u8]) -> std::io::Result<Result<Vec<u8>, AwsError>> {
        let runtime = self.runtime.as_ref().expect("the runtime lives until the signer is dropped");
        let backoff = Backoff::default();
        let call = || {
            backoff.retry(async || {
                let answer = self
                    .client
                    .sign()
                    .key_id(&self.key_id)
                    .message(Blob::new(data))
                    .message_type(MessageType::Raw)
                    .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                    .send()
                    .await
                    .map_err(|e| from_sdk("kms:Sign", e))?;
                Ok(answer.signature.map(Blob::into_inner).unwrap_or_default())
            })
        };
        on_own_thread(runtime, call)
    }
}

impl Drop for KmsSigner {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime; nothing runs on this
        // one between calls, so nothing is lost by not waiting.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl EntrySigner for KmsSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn sign(&self, message: &[u8]) -> Result<SshSig, SignError> {
        let failed = |what: &str, reason: String| {
            SignError::Failed(format!("KMS key `{}`: {what}: {reason}", self.key))
        };
        // KMS hashes the signed data with SHA-256, which is what an ecdsa-sha2-nistp256
        // signature is over (RFC 5656).
        let data = SshSig::signed_data(NAMESPACE, HASH, message)
            .map_err(|e| failed("cannot build the signed data", e.to_string()))?;
        let der = self
            .sign_data(&data)
            .map_err(|e| failed("cannot run the KMS call", e.to_string()))?
            .map_err(|error| sign_error(&self.key, error))?;
        let signature =
            ssh_signature(&der).map_err(|reason| failed("KMS answered an unusable signature", reason))?;
        let sshsig = SshSig::new(self.public_key.key_data().clone(), NAMESPACE, HASH, signature)
            .map_err(|e| failed("cannot build the SSHSIG", e.to_string()))?;
        // A signature that does not verify would be refused wherever the entry goes: never make one.
        self.public_key.verify(NAMESPACE, message, &sshsig).map_err(|e| {
            failed("KMS's signature does not verify under the key's public key", e.to_string())
        })?;
        Ok(sshsig)
    }
}

/// Runs the future `make` makes to completion on `runtime`, from a thread of its own, so that
/// the caller may be inside another runtime (where blocking on one panics). An error if that
/// thread could not start or panicked.
fn on_own_thread<T: Send, F: Future<Output = T>>(
    runtime: &Runtime,
    make: impl FnOnce() -> F + Send,
) -> std::io::Result<T> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("ledger-kms".into())
            .spawn_scoped(scope, || runtime.block_on(make()))?
            .join()
            .map_err(|_| std::io::Error::other("the thread of the KMS call panicked"))
    })
}

/// A failed GetPublicKey: a key that is there but is not asymmetric is unsuitable (KMS refuses
/// GetPublicKey for symmetric keys), anything else could not be reached.
fn unreachable_or_unsuitable(key: &str, source: AwsError) -> KmsError {
    if source.code == "UnsupportedOperationException" {
        return KmsError::Unsuitable {
            key: key.to_string(),
            found: format!("it is not asymmetric ({})", source.message.trim_end_matches('.')),
        };
    }
    KmsError::Unreachable { key: key.to_string(), source }
}

/// The key's id and its public key as an SSH key, once GetPublicKey's answer shows a key that
/// signs as entries need.
fn check_public_key(
    key: &str,
    answer: &aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput,
) -> Result<(String, PublicKey), KmsError> {
    // `KeySpec` is the field to read; `CustomerMasterKeySpec` carries the same value, and is the
    // only one some KMS implementations (the emulator) answer.
    #[allow(deprecated)]
    let spec = match (answer.key_spec(), answer.customer_master_key_spec()) {
        (Some(spec), _) => spec.as_str(),
        (None, Some(spec)) => spec.as_str(),
        (None, None) => "(none)",
    };
    let usage = answer.key_usage().map_or("(none)", KeyUsageType::as_str);
    let signs_p256 = answer.signing_algorithms().contains(&SigningAlgorithmSpec::EcdsaSha256);
    if spec != KEY_SPEC || answer.key_usage() != Some(&KeyUsageType::SignVerify) || !signs_p256 {
        let algorithms: Vec<&str> =
            answer.signing_algorithms().iter().map(SigningAlgorithmSpec::as_str).collect();
        let found = format!(
            "it has KeySpec {spec}, KeyUsage {usage}, signing algorithms [{}]",
            algorithms.join(", ")
        );
        return Err(KmsError::Unsuitable { key: key.to_string(), found });
    }
    let bad = |reason: String| KmsError::BadPublicKey { key: key.to_string(), reason };
    let der = answer.public_key().ok_or_else(|| bad("GetPublicKey answered no public key".into()))?;
    let public_key = ssh_public_key(der.as_ref()).map_err(bad)?;
    let key_id = answer.key_id().unwrap_or(key).to_string();
    Ok((key_id, public_key))
}

/// A DER SubjectPublicKeyInfo of a P-256 key (what KMS GetPublicKey answers) as an
/// `ecdsa-sha2-nistp256` SSH public key.
fn ssh_public_key(der: &[u8]) -> Result<PublicKey, String> {
    let verifying_key = p256::ecdsa::VerifyingKey::from_public_key_der(der).map_err(|e| e.to_string())?;
    let key_data = ssh_key::public::KeyData::Ecdsa(ssh_key::public::EcdsaPublicKey::from(&verifying_key));
    Ok(PublicKey::new(key_data, ""))
}

/// A DER ECDSA signature (what KMS Sign answers) as an SSH `ecdsa-sha2-nistp256` signature
/// (mpint r, mpint s), its S in the low half: both halves verify, the low one is canonical.
fn ssh_signature(der: &[u8]) -> Result<ssh_key::Signature, String> {
    let signature = p256::ecdsa::Signature::from_der(der).map_err(|e| e.to_string())?;
    let signature = signature.normalize_s().unwrap_or(signature);
    ssh_key::Signature::try_from(&signature).map_err(|e| e.to_string())
}

/// A failed KMS Sign as a [`SignError`]: the key cannot be used (not there, not allowed, not
/// answering, disabled), or KMS refused the request.
fn sign_error(key: &str, error: AwsError) -> SignError {
    let unavailable = match error.kind {
        ErrorKind::Rejected => is_key_state(&error.code),
        ErrorKind::Throttled
        | ErrorKind::ServerError
        | ErrorKind::Transport
        | ErrorKind::AccessDenied
        | ErrorKind::NotFound => true,
    };
    let text = format!("cannot sign with KMS key `{key}`: {}{}", sentence(&error), what_to_do(&error));
    if unavailable { SignError::Unavailable(text) } else { SignError::Failed(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_high_s_signature_is_normalised_to_low_s() {
        use p256::ecdsa::signature::Signer;
        let signing_key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let signature: p256::ecdsa::Signature = signing_key.sign(b"message");
        let low = signature.normalize_s().unwrap_or(signature);
        let high = p256::ecdsa::Signature::from_scalars(low.r(), -*low.s()).unwrap();
        assert!(high.normalize_s().is_some(), "the test signature's S is in the high half");
        let converted = ssh_signature(high.to_der().as_bytes()).unwrap();
        assert_eq!(converted, ssh_key::Signature::try_from(&low).unwrap());
    }

    #[test]
    fn a_key_answered_with_key_spec_alone_is_read_and_a_symmetric_one_is_unsuitable() {
        use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
        use aws_sdk_kms::types::KeySpec;
        let verifying_key = *p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap().verifying_key();
        // SubjectPublicKeyInfo { id-ecPublicKey, prime256v1 }, then the uncompressed point.
        let mut der = b"\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07\x03\x42\x00".to_vec();
        der.extend_from_slice(verifying_key.to_encoded_point(false).as_bytes());
        let answer = GetPublicKeyOutput::builder()
            .key_id("arn:aws:kms:us-east-1:123456789012:key/k")
            .public_key(Blob::new(der))
            .key_spec(KeySpec::EccNistP256)
            .key_usage(KeyUsageType::SignVerify)
            .signing_algorithms(SigningAlgorithmSpec::EcdsaSha256)
            .build();
        let (key_id, public_key) = check_public_key("alias/ci", &answer).unwrap();
        assert_eq!(key_id, "arn:aws:kms:us-east-1:123456789012:key/k");
        assert_eq!(
            p256::ecdsa::VerifyingKey::try_from(public_key.key_data().ecdsa().unwrap()).unwrap(),
            verifying_key
        );

        let symmetric = AwsError::from_response(
            "kms:GetPublicKey",
            400,
            "UnsupportedOperationException",
            "GetPublicKey is not supported for symmetric keys.",
        );
        let error = unreachable_or_unsuitable("alias/ci", symmetric);
        assert!(matches!(error, KmsError::Unsuitable { .. }), "{error:?}");
        assert!(error.to_string().contains("--key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY"), "{error}");
    }

    #[test]
    fn errors_that_leave_the_key_unusable_are_unavailable_and_say_what_to_do() {
        let missing = AwsError::from_response("kms:Sign", 400, "NotFoundException", "Key 'x' does not exist");
        let SignError::Unavailable(text) = sign_error("alias/ci", missing) else { panic!("not unavailable") };
        assert!(text.contains("alias/ci") && text.contains("no such key or alias"), "{text}");
        let disabled = AwsError::from_response("kms:Sign", 400, "DisabledException", "disabled");
        assert!(matches!(sign_error("k", disabled), SignError::Unavailable(_)));
        let refused = AwsError::from_response("kms:Sign", 400, "ValidationException", "bad");
        assert!(matches!(sign_error("k", refused), SignError::Failed(_)));
    }
}
