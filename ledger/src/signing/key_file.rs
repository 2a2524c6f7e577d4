//! Signing with an SSH private key read from a file (`[signing] key = "~/.ssh/id_ed25519"`):
//! an unencrypted key in OpenSSH's format signs directly; an encrypted one is left to ssh-agent,
//! which asks for its passphrase once (see [`super::agent`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use rsa::pkcs1v15;
use rsa::sha2::Sha512;
use rsa::signature::{SignatureEncoding, Signer};
use ssh_key::private::{KeypairData, RsaKeypair};
use ssh_key::{Algorithm, HashAlg, Mpint, PrivateKey, PublicKey, Signature, SshSig};

use super::{EntrySigner, HASH, NAMESPACE, SUPPORTED_KEYS, SignError, is_supported};

/// The shortest RSA key that signs, as ssh-key verifies.
const MIN_RSA_BITS: usize = 2048;

/// The largest key file read, as OpenSSH's own limit (an RSA key of 16384 bits is ~13 KiB).
const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;

/// An SSH private key loaded from a file, signing in-process.
pub struct KeyFileSigner {
    path: PathBuf,
    key: PrivateKey,
    /// An RSA key, ready to sign with SHA-512 (built once: building it checks the key).
    rsa: Option<pkcs1v15::SigningKey<Sha512>>,
}

impl KeyFileSigner {
    /// Reads the OpenSSH private key at `path` (ed25519, ecdsa-sha2-nistp256 or rsa, without
    /// a passphrase). A key with a passphrase is refused with the way to use it through
    /// ssh-agent instead.
    pub fn load(path: &Path) -> Result<KeyFileSigner, SignError> {
        let shown = path.display();
        let text = read_bounded(path)
            .map_err(|err| SignError::Unavailable(format!("cannot read the SSH key file {shown}: {err}")))?;
        let key = PrivateKey::from_openssh(&text).map_err(|err| {
            SignError::Unavailable(format!(
                "{shown} is not an OpenSSH private key ({err}){}",
                not_a_private_key_hint(path, &text)
            ))
        })?;
        if key.is_encrypted() {
            return Err(SignError::Unavailable(format!(
                "the SSH key {shown} is protected by a passphrase, which ledger does not ask for: \
                 load it into ssh-agent with `ssh-add {shown}` and sign through the agent"
            )));
        }
        if !is_supported(key.public_key().key_data()) {
            return Err(SignError::Unavailable(format!(
                "the SSH key {shown} is an {} key; entries are signed with {SUPPORTED_KEYS} keys",
                key.algorithm()
            )));
        }
        let rsa = match key.key_data() {
            KeypairData::Rsa(keypair) => Some(rsa_signing_key(keypair).map_err(|problem| {
                SignError::Unavailable(format!("the RSA key {shown} cannot sign: {problem}"))
            })?),
            _ => None,
        };
        Ok(KeyFileSigner { path: path.to_path_buf(), key, rsa })
    }
}

impl EntrySigner for KeyFileSigner {
    fn public_key(&self) -> &PublicKey {
        self.key.public_key()
    }

    /// Signs as `ssh-keygen -Y sign` does: ed25519, ecdsa-sha2-nistp256, or rsa-sha2-512 for an
    /// RSA key.
    fn sign(&self, message: &[u8]) -> Result<SshSig, SignError> {
        let failed = |err: String| {
            SignError::Failed(format!("signing with the SSH key {}: {err}", self.path.display()))
        };
        let Some(rsa) = &self.rsa else {
            return SshSig::sign(&self.key, NAMESPACE, HASH, message).map_err(|err| failed(err.to_string()));
        };
        let signed_data =
            SshSig::signed_data(NAMESPACE, HASH, message).map_err(|err| failed(err.to_string()))?;
        let signature = rsa.try_sign(&signed_data).map_err(|err| failed(err.to_string()))?;
        let signature = Signature::new(Algorithm::Rsa { hash: Some(HashAlg::Sha512) }, signature.to_vec())
            .map_err(|err| failed(err.to_string()))?;
        SshSig::new(self.key.public_key().key_data().clone(), NAMESPACE, HASH, signature)
            .map_err(|err| failed(err.to_string()))
    }
}

/// The RSA key of an OpenSSH key file, for PKCS#1 v1.5 signatures with SHA-512
/// (`rsa-sha2-512`). Built here from n, e, d, p and q: ssh-key 0.6.7's own conversion passes p
/// twice, so its RSA signing always fails.
fn rsa_signing_key(keypair: &RsaKeypair) -> Result<pkcs1v15::SigningKey<Sha512>, String> {
    let number = |value: &Mpint| {
        value.as_positive_bytes().map(rsa::BigUint::from_bytes_be).ok_or("a negative RSA component")
    };
    let key = rsa::RsaPrivateKey::from_components(
        number(&keypair.public.n)?,
        number(&keypair.public.e)?,
        number(&keypair.private.d)?,
        vec![number(&keypair.private.p)?, number(&keypair.private.q)?],
    )
    .map_err(|err| err.to_string())?;
    let bits = rsa::traits::PublicKeyParts::size(&key) * 8;
    if bits < MIN_RSA_BITS {
        return Err(format!("it has {bits} bits, fewer than the {MIN_RSA_BITS} an RSA key needs"));
    }
    Ok(pkcs1v15::SigningKey::new(key))
}

/// At most [`MAX_KEY_FILE_BYTES`] of the file, as text.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?.take(MAX_KEY_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_KEY_FILE_BYTES} bytes, which no SSH key is"
        )));
    }
    Ok(text)
}

/// What to do when a file is not an OpenSSH private key but looks like a neighbour of one.
fn not_a_private_key_hint(path: &Path, text: &str) -> String {
    if PublicKey::from_openssh(text).is_ok() {
        return ": this is a public key; name the private key file beside it".to_string();
    }
    if text.trim_start().starts_with("-----BEGIN") {
        return format!(
            ": a key in the older PEM format can be rewritten in OpenSSH's with `ssh-keygen -p -f {}`",
            path.display()
        );
    }
    String::new()
}
