//! This machine's signer (see docs/signing.md): what signs the entries a recording operation
//! makes. Chosen from `LEDGER_SIGNING_KEY`, else `[signing] key` in ledger.toml, else the
//! ssh-agent's first key that `allowed_signers` lists for the acting person.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger::signing::agent::AgentSigner;
use ledger::signing::key_file::KeyFileSigner;
use ledger::signing::trust::principal_of;
use ledger::signing::{EntrySigner, NAMESPACE, PublicKey, SignError, fingerprint};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// The variable that names this machine's signing key, over `[signing] key`.
pub const SIGNING_KEY_VAR: &str = "LEDGER_SIGNING_KEY";

/// What a signing key setting names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    /// An OpenSSH private key file, unencrypted.
    File(PathBuf),
    /// A public key file (`.pub`) whose private half the ssh-agent holds.
    Agent(PathBuf),
    /// An AWS KMS key (id, ARN or `alias/…`), used through the environment's AWS credentials.
    Kms(String),
}

impl KeySpec {
    /// `kms:<key>`, a `.pub` file (the agent's key), or a private key file; a relative path is
    /// taken from `base`, and `~/` from the home directory.
    pub fn parse(text: &str, base: &Path) -> Result<KeySpec> {
        let text = text.trim();
        if let Some(key) = text.strip_prefix("kms:") {
            if key.is_empty() {
                return Err(Error::usage("kms: names no key; give kms:<key id, ARN or alias/name>"));
            }
            return Ok(KeySpec::Kms(key.to_string()));
        }
        if text.is_empty() {
            return Err(Error::usage(format!("{SIGNING_KEY_VAR} is empty"))
                .hint("give a private key file, a .pub file of a key in ssh-agent, or kms:<key>"));
        }
        let path = match (text.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
            _ => base.join(text),
        };
        Ok(match path.extension().is_some_and(|extension| extension == "pub") {
            true => KeySpec::Agent(path),
            false => KeySpec::File(path),
        })
    }
}

/// This machine's signer for `workspace`, if it has one: `None` when nothing names a key and
/// the agent (if any) holds none that `allowed_signers` lists for the actor.
pub fn signer_for(workspace: &Workspace) -> Result<Option<Arc<dyn EntrySigner>>> {
    let policy = workspace.manifest.signing.as_ref();
    let spec = match std::env::var(SIGNING_KEY_VAR) {
        Ok(text) => Some(KeySpec::parse(&text, &crate::workspace::current_dir()?)?),
        Err(_) => match policy.and_then(|policy| policy.key.as_deref()) {
            Some(text) => Some(KeySpec::parse(text, workspace.manifest.project_dir())?),
            None => None,
        },
    };
    let signer: Arc<dyn EntrySigner> = match spec {
        Some(KeySpec::File(path)) => Arc::new(KeyFileSigner::load(&path).map_err(unavailable)?),
        Some(KeySpec::Agent(path)) => {
            let public_key = PublicKey::read_openssh_file(&path).map_err(|error| {
                Error::usage(format!("cannot read the public key {}: {error}", path.display()))
            })?;
            Arc::new(AgentSigner::connect(&agent_socket()?, &public_key).map_err(unavailable)?)
        }
        Some(KeySpec::Kms(key)) => crate::cloud::kms_signer(workspace, &key)?,
        None => {
            let (Some(policy), Some(socket)) = (policy, std::env::var_os("SSH_AUTH_SOCK")) else {
                return Ok(None);
            };
            let socket = PathBuf::from(socket);
            let actor = workspace.actor()?;
            let principal = principal_of(&actor);
            let listed = AgentSigner::identities(&socket).map_err(unavailable)?.into_iter().find(|key| {
                policy
                    .allowed_signers
                    .lines_for(key.key_data())
                    .any(|line| line.names_principal(principal) && line.allows_namespace(NAMESPACE))
            });
            match listed {
                Some(key) => Arc::new(AgentSigner::connect(&socket, &key).map_err(unavailable)?),
                None => return Ok(None),
            }
        }
    };
    Ok(Some(signer))
}

/// This machine's signer as `ledger signer` shows it: its key, and the `allowed_signers` line
/// that lets it sign as the acting person.
pub struct SignerInfo {
    /// The public key in OpenSSH's one-line form.
    pub key: String,
    pub fingerprint: String,
    /// The principal entries recorded here are signed as (the actor's address).
    pub principal: String,
    /// Whether `allowed_signers` already lets this key sign as `principal`.
    pub listed: bool,
    /// `{"key", "fingerprint", "principal", "listed", "allowed_signers_line"}`.
    pub json: Value,
}

impl SignerInfo {
    /// The line to add to `allowed_signers` so this key signs as `principal`.
    pub fn allowed_signers_line(&self) -> String {
        format!("{} namespaces=\"{NAMESPACE}\" {}", self.principal, self.key)
    }
}

/// What this machine signs with, for the acting person; a usage error when nothing does.
pub fn describe(workspace: &Workspace) -> Result<SignerInfo> {
    let signer = signer_for(workspace)?.ok_or_else(|| {
        Error::usage("this machine has no signing key")
            .hint(format!("set {SIGNING_KEY_VAR} to a private key file, a .pub file of a key in ssh-agent, or kms:<key>; or `ssh-add` a key that allowed_signers lists for you"))
    })?;
    let public_key = signer.public_key();
    let key = PublicKey::new(public_key.key_data().clone(), "")
        .to_openssh()
        .map_err(|error| Error::internal(error.to_string()))?;
    let actor = workspace.actor()?;
    let principal = principal_of(&actor).to_string();
    let listed = workspace.manifest.signing.as_ref().is_some_and(|policy| {
        policy
            .allowed_signers
            .lines_for(public_key.key_data())
            .any(|line| line.names_principal(&principal) && line.allows_namespace(NAMESPACE))
    });
    let mut info =
        SignerInfo { key, fingerprint: fingerprint(public_key), principal, listed, json: Value::Null };
    info.json = json!({
        "key": info.key,
        "fingerprint": info.fingerprint,
        "principal": info.principal,
        "listed": info.listed,
        "allowed_signers_line": info.allowed_signers_line(),
    });
    Ok(info)
}

fn agent_socket() -> Result<PathBuf> {
    std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from).ok_or_else(|| {
        Error::usage(
            "the signing key is a .pub file, to be used through ssh-agent, and SSH_AUTH_SOCK is not set",
        )
        .hint("start ssh-agent and `ssh-add` the key, or name the private key file instead")
    })
}

fn unavailable(error: SignError) -> Error {
    Error::usage(format!("cannot sign: {error}"))
        .hint(format!("set {SIGNING_KEY_VAR} (or [signing] key) to a private key file, a .pub file of a key in ssh-agent, or kms:<key>"))
}
