//! Signed entries (see docs/signing.md): the SSHSIG signature an entry carries, what signs it
//! (an SSH key file, an ssh-agent, or a cloud key behind [`EntrySigner`]), and the trust policy
//! that says whose signatures are believed for which entries.
//!
//! The signed message is always the entry's format-1 bytes (`[1] ++ postcard(Entry)`), signed
//! as an SSHSIG in the namespace [`NAMESPACE`] with the hash [`HASH`], so that
//! `ssh-keygen -Y verify -n ledger-entry` checks a ledger signature with nothing but OpenSSH.

pub mod agent;
pub mod allowed_signers;
pub mod key_file;
pub mod trust;

pub use ssh_key::{HashAlg, PublicKey, SshSig};
pub use trust::{Judgement, SignerRule, SigningPolicy, Trust};

use ssh_encoding::Encode;

use crate::entry::{Entry, Signature};

/// The SSHSIG namespace of every entry signature: a signature made for anything else (a git
/// commit, a file) is never taken for an entry's.
pub const NAMESPACE: &str = "ledger-entry";

/// The hash SSHSIG applies to the message before signing.
pub const HASH: HashAlg = HashAlg::Sha512;

/// What signs the entries this ledger records.
pub trait EntrySigner: Send + Sync {
    /// The public key whose signatures this signer makes (what `allowed_signers` must name).
    fn public_key(&self) -> &PublicKey;

    /// An SSHSIG over `message` (an entry's format-1 bytes) in [`NAMESPACE`] with [`HASH`],
    /// made by [`EntrySigner::public_key`].
    fn sign(&self, message: &[u8]) -> Result<SshSig, SignError>;
}

/// A signature that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The signer cannot be reached or used (no agent, no such key in it, a key file that
    /// cannot be read, a cloud key that is not there): the text says what to do.
    #[error("{0}")]
    Unavailable(String),
    /// The signer was reached and refused or failed to sign.
    #[error("{0}")]
    Failed(String),
}

/// The signature `signer` makes for `entry`: an SSHSIG over its format-1 bytes, checked to be
/// by the signer's key and in [`NAMESPACE`] before it is recorded.
pub fn sign(signer: &dyn EntrySigner, entry: &Entry) -> Result<Signature, SignError> {
    let message = entry.encode();
    let sshsig = signer.sign(&message)?;
    signer.public_key().verify(NAMESPACE, &message, &sshsig).map_err(|error| {
        SignError::Failed(format!("the signer made a signature that does not verify: {error}"))
    })?;
    let mut bytes = Vec::new();
    sshsig.encode(&mut bytes).map_err(|error| SignError::Failed(error.to_string()))?;
    Ok(Signature(bytes))
}

/// A key's SHA256 fingerprint as `ssh-keygen -l` prints it (`SHA256:…`).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The key types an entry may be signed with, as a user reads them in a message.
pub const SUPPORTED_KEYS: &str = "ed25519, ecdsa-sha2-nistp256 or rsa";

/// Whether `key` is of a type entries may be signed with ([`SUPPORTED_KEYS`]).
pub fn is_supported(key: &ssh_key::public::KeyData) -> bool {
    use ssh_key::{Algorithm, EcdsaCurve};
    matches!(
        key.algorithm(),
        Algorithm::Ed25519 | Algorithm::Ecdsa { curve: EcdsaCurve::NistP256 } | Algorithm::Rsa { .. }
    )
}
