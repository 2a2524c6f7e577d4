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

pub use ssh_key::{HashAlg, PublicKey, SshSig};

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
