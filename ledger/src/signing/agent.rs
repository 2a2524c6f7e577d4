//! Signing through a running ssh-agent, over its Unix socket (`SSH_AUTH_SOCK`), with the two
//! requests of the agent protocol (draft-miller-ssh-agent) that signing needs: list the keys,
//! and sign. The private key never leaves the agent, and a key with a passphrase is unlocked
//! there (`ssh-add`), never by ledger.
//!
//! The agent is untrusted input like any other: every length it sends is bounded, every answer
//! is waited for at most [`AGENT_TIMEOUT`], and a signature it returns is verified before use.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh_key::public::KeyData;
use ssh_key::{Algorithm, HashAlg, PublicKey, Signature, SshSig};

use super::{EntrySigner, HASH, NAMESPACE, SUPPORTED_KEYS, SignError, is_supported};

/// How long an agent may take to answer one request (it may be asking its user to confirm).
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest message an agent may send, as OpenSSH's own client and agent allow.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;

const SSH_AGENT_FAILURE: u8 = 5;
/// Failure as older agents (SSH2_AGENT_FAILURE, SSH_COM_AGENT2_FAILURE) say it; OpenSSH's
/// client takes both for [`SSH_AGENT_FAILURE`].
const OLD_AGENT_FAILURES: [u8; 2] = [30, 102];
const SSH_AGENTC_REQUEST_IDENTITIES: u8 = 11;
const SSH_AGENT_IDENTITIES_ANSWER: u8 = 12;
const SSH_AGENTC_SIGN_REQUEST: u8 = 13;
const SSH_AGENT_SIGN_RESPONSE: u8 = 14;
/// Sign-request flag: an RSA signature with SHA-512 (`rsa-sha2-512`), as SSHSIG requires.
const SSH_AGENT_RSA_SHA2_512: u32 = 4;

/// A key held by an ssh-agent, signing entries through it.
pub struct AgentSigner {
    socket: PathBuf,
    public_key: PublicKey,
    timeout: Duration,
}

/// The agent's socket as `SSH_AUTH_SOCK` names it.
pub fn socket_from_env() -> Result<PathBuf, SignError> {
    socket_from(std::env::var_os("SSH_AUTH_SOCK"))
}

fn socket_from(value: Option<std::ffi::OsString>) -> Result<PathBuf, SignError> {
    value.filter(|socket| !socket.is_empty()).map(PathBuf::from).ok_or_else(|| {
        SignError::Unavailable(
            "no ssh-agent: SSH_AUTH_SOCK is not set; start one (`eval $(ssh-agent)`) and add the key \
             (`ssh-add`), or configure a key file"
                .to_string(),
        )
    })
}

impl AgentSigner {
    /// An agent signer for `public_key`, once the agent at `socket` says it holds that key.
    pub fn connect(socket: &Path, public_key: &PublicKey) -> Result<AgentSigner, SignError> {
        AgentSigner::connect_with_timeout(socket, public_key, AGENT_TIMEOUT)
    }

    fn connect_with_timeout(
        socket: &Path,
        public_key: &PublicKey,
        timeout: Duration,
    ) -> Result<AgentSigner, SignError> {
        let fingerprint = public_key.fingerprint(HashAlg::Sha256);
        if !is_supported(public_key.key_data()) {
            return Err(SignError::Unavailable(format!(
                "the SSH key {fingerprint} is an {} key; entries are signed with {SUPPORTED_KEYS} keys",
                public_key.algorithm()
            )));
        }
        let held = Agent { socket, timeout }.identities()?;
        if !held.iter().any(|key| key.key_data() == public_key.key_data()) {
            return Err(SignError::Unavailable(format!(
                "the ssh-agent at {} does not hold the SSH key {fingerprint}: add it with `ssh-add <its \
                 private key file>` (`ssh-add -l` lists the keys the agent holds)",
                socket.display()
            )));
        }
        Ok(AgentSigner { socket: socket.to_path_buf(), public_key: public_key.clone(), timeout })
    }

    /// The keys the agent at `socket` holds that can sign entries (ed25519, ecdsa-sha2-nistp256
    /// and rsa), in the agent's order, with their comments: a way to choose a key when none is
    /// configured. Certificates and other key types the agent holds are left out.
    pub fn identities(socket: &Path) -> Result<Vec<PublicKey>, SignError> {
        let held = Agent { socket, timeout: AGENT_TIMEOUT }.identities()?;
        Ok(held.into_iter().filter(|key| is_supported(key.key_data())).collect())
    }
}

impl EntrySigner for AgentSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn sign(&self, message: &[u8]) -> Result<SshSig, SignError> {
        let key = self.public_key.key_data();
        let failed = |what: String| SignError::Failed(format!("signing with the ssh-agent: {what}"));
        let signed_data =
            SshSig::signed_data(NAMESPACE, HASH, message).map_err(|err| failed(err.to_string()))?;
        let agent = Agent { socket: &self.socket, timeout: self.timeout };
        let blob = agent.sign(&self.public_key, &signed_data)?;
        let signature = Signature::try_from(blob.as_slice())
            .map_err(|err| failed(format!("the agent's answer is not an SSH signature ({err})")))?;
        let expected = signature_algorithm(key);
        if signature.algorithm() != expected {
            return Err(failed(format!(
                "the agent signed with {} where {expected} was asked for",
                signature.algorithm()
            )));
        }
        let sshsig =
            SshSig::new(key.clone(), NAMESPACE, HASH, signature).map_err(|err| failed(err.to_string()))?;
        self.public_key.verify(NAMESPACE, message, &sshsig).map_err(|_| {
            failed(format!(
                "the agent's signature does not verify with the key {}",
                self.public_key.fingerprint(HashAlg::Sha256)
            ))
        })?;
        Ok(sshsig)
    }
}

/// The signature algorithm SSHSIG uses with `key`: the key's own, and SHA-512 for RSA.
fn signature_algorithm(key: &KeyData) -> Algorithm {
    match key.algorithm() {
        Algorithm::Rsa { .. } => Algorithm::Rsa { hash: Some(HashAlg::Sha512) },
        other => other,
    }
}

/// One agent at one socket: each request on a connection of its own.
struct Agent<'a> {
    socket: &'a Path,
    timeout: Duration,
}

impl Agent<'_> {
    /// Every key the agent holds that decodes as a plain public key.
    fn identities(&self) -> Result<Vec<PublicKey>, SignError> {
        let answer = self.request(SSH_AGENTC_REQUEST_IDENTITIES, &[], SSH_AGENT_IDENTITIES_ANSWER)?;
        let mut reader = Reader::new(&answer);
        let parsed = (|| {
            let count = reader.u32()?;
            let mut keys = Vec::new();
            for _ in 0..count {
                let blob = reader.string()?;
                let comment = reader.string()?;
                // A certificate or a key type this library does not know: not a signer here.
                if let Ok(mut key) = PublicKey::from_bytes(blob)
                    && !matches!(key.algorithm(), Algorithm::Other(_))
                {
                    key.set_comment(String::from_utf8_lossy(comment));
                    keys.push(key);
                }
            }
            reader.finish()?;
            Ok(keys)
        })();
        parsed.map_err(|problem: &str| self.broken(&format!("its list of keys {problem}")))
    }

    /// The agent's signature blob (algorithm name and signature) over `data` by `key`.
    fn sign(&self, key: &PublicKey, data: &[u8]) -> Result<Vec<u8>, SignError> {
        let key_blob = key.to_bytes().map_err(|err| SignError::Failed(format!("encoding the key: {err}")))?;
        let flags = match key.algorithm() {
            Algorithm::Rsa { .. } => SSH_AGENT_RSA_SHA2_512,
            _ => 0,
        };
        let mut body = Vec::with_capacity(key_blob.len() + data.len() + 12);
        put_string(&mut body, &key_blob)?;
        put_string(&mut body, data)?;
        body.extend_from_slice(&flags.to_be_bytes());
        let answer = self.request(SSH_AGENTC_SIGN_REQUEST, &body, SSH_AGENT_SIGN_RESPONSE)?;
        let mut reader = Reader::new(&answer);
        let blob = reader
            .string()
            .and_then(|blob| reader.finish().map(|()| blob.to_vec()))
            .map_err(|problem| self.broken(&format!("its signature {problem}")))?;
        Ok(blob)
    }

    /// Sends one request and returns the body of the answer of type `expected`.
    fn request(&self, kind: u8, body: &[u8], expected: u8) -> Result<Vec<u8>, SignError> {
        let shown = self.socket.display();
        let mut stream = UnixStream::connect(self.socket).map_err(|err| {
            SignError::Unavailable(format!(
                "cannot reach the ssh-agent at {shown} ({err}): start one (`eval $(ssh-agent)`) and \
                 add the key (`ssh-add`), or check SSH_AUTH_SOCK"
            ))
        })?;
        let io_failed = |err: std::io::Error| {
            if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                SignError::Failed(format!(
                    "the ssh-agent at {shown} did not answer within {:?}",
                    self.timeout
                ))
            } else {
                SignError::Failed(format!("talking to the ssh-agent at {shown}: {err}"))
            }
        };
        stream.set_read_timeout(Some(self.timeout)).map_err(io_failed)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io_failed)?;

        let mut message = Vec::with_capacity(body.len() + 5);
        message.extend_from_slice(&message_length(body.len() + 1)?.to_be_bytes());
        message.push(kind);
        message.extend_from_slice(body);
        stream.write_all(&message).map_err(io_failed)?;

        let mut length = [0u8; 4];
        stream.read_exact(&mut length).map_err(io_failed)?;
        let length = u32::from_be_bytes(length) as usize;
        if length == 0 || length > MAX_MESSAGE_BYTES {
            return Err(self.broken(&format!(
                "announced an answer of {length} bytes (the protocol allows 1 to {MAX_MESSAGE_BYTES})"
            )));
        }
        let mut answer = vec![0u8; length];
        stream.read_exact(&mut answer).map_err(io_failed)?;
        match answer[0] {
            kind if kind == expected => Ok(answer.split_off(1)),
            kind if kind == SSH_AGENT_FAILURE || OLD_AGENT_FAILURES.contains(&kind) => {
                Err(SignError::Failed(format!(
                    "the ssh-agent at {shown} refused the request (a key that needs confirming, \
                 or a locked agent: `ssh-add -X` unlocks it)"
                )))
            }
            other => Err(self.broken(&format!("answered with a message of type {other}, not {expected}"))),
        }
    }

    /// An agent that does not follow the protocol.
    fn broken(&self, what: &str) -> SignError {
        SignError::Failed(format!(
            "the ssh-agent at {} {what}: it does not speak the ssh-agent protocol",
            self.socket.display()
        ))
    }
}

/// The length field of a message of `length` bytes, if the protocol allows one that long.
fn message_length(length: usize) -> Result<u32, SignError> {
    u32::try_from(length).ok().filter(|_| length <= MAX_MESSAGE_BYTES).ok_or_else(|| {
        SignError::Failed(format!(
            "a request of {length} bytes is longer than an ssh-agent accepts ({MAX_MESSAGE_BYTES})"
        ))
    })
}

/// Appends an SSH `string`: its length, then its bytes.
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), SignError> {
    out.extend_from_slice(&message_length(bytes.len())?.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Reads the SSH wire types of an agent's answer, which is already bounded in length; a
/// length inside it that runs past its end is an error.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], &'static str> {
        if count > self.rest.len() {
            return Err("is cut short");
        }
        let (taken, rest) = self.rest.split_at(count);
        self.rest = rest;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn string(&mut self) -> Result<&'a [u8], &'static str> {
        let length = self.u32()? as usize;
        self.take(length)
    }

    fn finish(&self) -> Result<(), &'static str> {
        if self.rest.is_empty() { Ok(()) } else { Err("has bytes after its end") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// An agent that reads the request and then sends the first bytes of an answer, never the
    /// rest, and keeps the connection open.
    #[test]
    fn an_agent_that_stops_answering_is_given_up_on_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 5];
            stream.read_exact(&mut request).unwrap();
            stream.write_all(&[0, 0, 0, 40, SSH_AGENT_IDENTITIES_ANSWER]).unwrap();
            // Held open until the client gives up and closes its end.
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
        });
        let key = PublicKey::from_openssh(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti",
        )
        .unwrap();
        let error = AgentSigner::connect_with_timeout(&socket, &key, Duration::from_millis(200))
            .err()
            .expect("a silent agent is an error");
        assert!(error.to_string().contains("did not answer within"), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn an_unset_or_empty_ssh_auth_sock_is_no_agent() {
        for value in [None, Some("".into())] {
            let error = socket_from(value).err().unwrap();
            assert!(
                matches!(error, SignError::Unavailable(_)) && error.to_string().contains("SSH_AUTH_SOCK")
            );
        }
        assert_eq!(socket_from(Some("/run/agent.sock".into())).unwrap(), PathBuf::from("/run/agent.sock"));
    }

    #[test]
    fn lengths_inside_an_answer_never_run_past_its_end() {
        let mut reader = Reader::new(&[0, 0, 0, 9, 1, 2, 3]);
        assert_eq!(reader.string(), Err("is cut short"));
        let mut reader = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(reader.string(), Err("is cut short"));
        let mut reader = Reader::new(&[0, 0, 0, 1, 7, 8]);
        assert_eq!(reader.string(), Ok(&[7u8][..]));
        assert_eq!(reader.finish(), Err("has bytes after its end"));
    }
}
