//! The trust policy, `[signing]` in ledger.toml: which keys may sign (an `allowed_signers`
//! file), from when entries must be signed, and who may sign which kinds of entry where. One
//! judgement of a signed or unsigned entry, [`Trust::judge`], serves admission, `verify` and
//! every view that shows a signature.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ssh_encoding::Decode;
use ssh_key::SshSig;
use ssh_key::public::KeyData;

use super::allowed_signers::AllowedSigners;
use super::{HASH, NAMESPACE};
use crate::entry::{Entry, EntryKind, Signature, StoredEntry};
use crate::policy::{Approver, Teams};
use crate::timestamp::Timestamp;

/// `[signing]`, checked when the manifest is loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningPolicy {
    /// Where `allowed_signers` was read from (for messages).
    pub allowed_signers_path: PathBuf,
    pub allowed_signers: AllowedSigners,
    /// The kinds that must be signed; every kind when `require = "all"` (the default).
    pub required: Vec<EntryKind>,
    /// Entries recorded before this time need no signature (unsigned-before-policy).
    pub since: Option<Timestamp>,
    /// Who may sign each kind: everywhere, or per environment for kinds that have one.
    pub rules: BTreeMap<EntryKind, SignerRule>,
    /// The key this machine signs with, when ledger.toml names one (see docs/signing.md).
    pub key: Option<String>,
}

/// Who may sign one kind of entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignerRule {
    Everywhere(Vec<Approver>),
    /// Environment → who may sign there; an environment not listed has no restriction.
    PerEnvironment(BTreeMap<String, Vec<Approver>>),
}

/// The kinds whose entries belong to an environment, for which rules may name one.
pub const KINDS_WITH_ENVIRONMENT: [EntryKind; 6] = [
    EntryKind::Deployment,
    EntryKind::Outcome,
    EntryKind::Approval,
    EntryKind::Freeze,
    EntryKind::Unfreeze,
    EntryKind::TaskRun,
];

/// What the trust policy makes of one entry's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// Signed by `signer` (the actor, one of the key's principals) with the key whose SHA256
    /// fingerprint is `key`, which the policy allows for this entry.
    Valid { signer: String, key: String },
    /// Signed, and not to be believed: `key` is the signing key's fingerprint when the
    /// signature names one.
    Invalid { key: Option<String>, problem: String },
    /// Signed, by a key that checks, with no `[signing]` policy to say whose key it is: taken
    /// in (nothing needs a signature without a policy) and shown as unverified.
    Unverified { key: String },
    /// Unsigned, and the policy needs no signature on it (no policy, a kind not required).
    Unsigned,
    /// Unsigned, recorded before the policy's `since`.
    UnsignedBeforePolicy,
    /// Unsigned where the policy needs a signature.
    Missing,
}

impl Judgement {
    /// Whether the entry may stand under the policy.
    pub fn is_acceptable(&self) -> bool {
        matches!(
            self,
            Judgement::Valid { .. }
                | Judgement::Unverified { .. }
                | Judgement::Unsigned
                | Judgement::UnsignedBeforePolicy
        )
    }

    /// Why the entry may not stand, when it may not.
    pub fn problem(&self) -> Option<String> {
        match self {
            Judgement::Invalid { problem, .. } => Some(problem.clone()),
            Judgement::Missing => {
                Some("it is not signed, and the signing policy needs a signature on it".into())
            }
            _ => None,
        }
    }
}

/// The signing policy with the teams its rules name: what judges signatures. Without a
/// policy, a signed entry is reported but not believed (there is no `allowed_signers` to
/// name its signer), and nothing needs a signature.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    policy: Option<SigningPolicy>,
    teams: Teams,
}

impl Trust {
    pub fn new(policy: Option<SigningPolicy>, teams: Teams) -> Trust {
        Trust { policy, teams }
    }

    pub fn policy(&self) -> Option<&SigningPolicy> {
        self.policy.as_ref()
    }

    /// Whether a new entry of `kind` recorded now (at `at`) must be signed.
    pub fn requires_signature(&self, kind: EntryKind, at: Timestamp) -> bool {
        self.policy.as_ref().is_some_and(|policy| policy.requires(kind, at))
    }

    /// Judges `stored`'s signature; `env` is the environment the entry belongs to (an
    /// outcome's is its deployment's), when it has one.
    pub fn judge(&self, stored: &StoredEntry, env: Option<&str>) -> Judgement {
        self.judge_verified(stored, env, verify_signature(&stored.entry, stored.signature.as_ref()))
    }

    /// [`Trust::judge`] of an entry whose signature [`verify_signature`] checked already (on
    /// whichever thread: the checks that need no policy are the costly part).
    pub fn judge_verified(
        &self,
        stored: &StoredEntry,
        env: Option<&str>,
        verified: SignatureCheck,
    ) -> Judgement {
        let entry = &stored.entry;
        let (key_data, key) = match verified {
            SignatureCheck::Unsigned => {
                return match &self.policy {
                    Some(policy) if policy.requires(entry.kind(), entry.at) => Judgement::Missing,
                    Some(policy) if policy.since.is_some_and(|since| entry.at < since) => {
                        Judgement::UnsignedBeforePolicy
                    }
                    _ => Judgement::Unsigned,
                };
            }
            SignatureCheck::Bad { key, problem } => return Judgement::Invalid { key, problem },
            SignatureCheck::Good { key_data, key } => (key_data, key),
        };
        let invalid = |key: String, problem: String| Judgement::Invalid { key: Some(key), problem };
        let Some(policy) = &self.policy else {
            return Judgement::Unverified { key };
        };
        let signer = principal_of(&entry.actor);
        let lines: Vec<_> = policy.allowed_signers.lines_for(&key_data).collect();
        if lines.is_empty() {
            let problem = format!(
                "it is signed by key {key}, which {} does not list",
                policy.allowed_signers_path.display()
            );
            return invalid(key, problem);
        }
        let as_actor: Vec<_> = lines
            .iter()
            .filter(|line| line.names_principal(signer) && line.allows_namespace(NAMESPACE))
            .collect();
        if as_actor.is_empty() {
            let principals: Vec<&str> = lines.iter().map(|line| line.principals.as_str()).collect();
            let problem = format!(
                "it is recorded as by {signer:?}, and key {key} signs only for {} in {}",
                principals.join(", "),
                policy.allowed_signers_path.display()
            );
            return invalid(key, problem);
        }
        if !as_actor.iter().any(|line| line.valid_at(entry.at)) {
            let problem = format!(
                "key {key} was not valid for {signer:?} at {} (see valid-after/valid-before in {})",
                entry.at.to_rfc3339(),
                policy.allowed_signers_path.display()
            );
            return invalid(key, problem);
        }
        if let Some(allowed) = policy.allowed_for(entry.kind(), env)
            && !allowed.iter().any(|approver| self.names(approver, signer))
        {
            let place = env.map(|env| format!(" to {env}")).unwrap_or_default();
            let names: Vec<String> = allowed.iter().map(approver_text).collect();
            let problem = format!(
                "{signer:?} may not sign {}{place}: [signing.rules] allows {}",
                entry.kind().as_str(),
                names.join(", ")
            );
            return invalid(key, problem);
        }
        Judgement::Valid { signer: signer.to_string(), key }
    }

    fn names(&self, approver: &Approver, principal: &str) -> bool {
        match approver {
            Approver::Person(person) => person == principal,
            Approver::Team(team) => self
                .teams
                .get(team)
                .is_some_and(|members| members.iter().any(|member| principal_of(member) == principal)),
        }
    }
}

impl SigningPolicy {
    /// Whether an entry of `kind` recorded at `at` must be signed.
    pub fn requires(&self, kind: EntryKind, at: Timestamp) -> bool {
        self.required.contains(&kind) && self.since.is_none_or(|since| at >= since)
    }

    /// Who may sign an entry of `kind` in `env`, when a rule says.
    fn allowed_for(&self, kind: EntryKind, env: Option<&str>) -> Option<&[Approver]> {
        match self.rules.get(&kind)? {
            SignerRule::Everywhere(allowed) => Some(allowed),
            SignerRule::PerEnvironment(by_env) => by_env.get(env?).map(Vec::as_slice),
        }
    }
}

/// What a signature proves by itself, before the policy says whose key it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    Unsigned,
    /// Made by the key it names (`key`: its fingerprint), in [`NAMESPACE`], over this entry.
    Good {
        key_data: KeyData,
        key: String,
    },
    /// Not a signature of this entry: `key` when the signature names one.
    Bad {
        key: Option<String>,
        problem: String,
    },
}

/// Checks `entry`'s signature by itself: an SSHSIG, in [`NAMESPACE`], with a known hash,
/// that verifies over the entry's format-1 bytes with the key it names.
pub fn verify_signature(entry: &Entry, signature: Option<&Signature>) -> SignatureCheck {
    let Some(signature) = signature else { return SignatureCheck::Unsigned };
    let sshsig = match decode_sshsig(&signature.0) {
        Ok(sshsig) => sshsig,
        Err(problem) => return SignatureCheck::Bad { key: None, problem },
    };
    let public_key = ssh_key::PublicKey::new(sshsig.public_key().clone(), "");
    let key = super::fingerprint(&public_key);
    let problem = if sshsig.namespace() != NAMESPACE {
        format!("its signature is for {:?}, not for ledger entries ({NAMESPACE:?})", sshsig.namespace())
    } else if sshsig.hash_alg() != HASH && sshsig.hash_alg() != ssh_key::HashAlg::Sha256 {
        "its signature uses an unknown hash".into()
    } else {
        match public_key.verify(NAMESPACE, &entry.encode(), &sshsig) {
            Ok(()) => return SignatureCheck::Good { key_data: public_key.key_data().clone(), key },
            Err(error) => format!("its signature does not verify: {error}"),
        }
    };
    SignatureCheck::Bad { key: Some(key), problem }
}

/// The principal an actor signs as: the person (without the cloud principal recorded after
/// them, `name (arn:…)`), and of `Name <address>` the address.
pub fn principal_of(actor: &str) -> &str {
    let person = match actor.strip_suffix(')').and_then(|rest| rest.rfind(" (")) {
        Some(end) => &actor[..end],
        None => actor,
    };
    match (person.rfind('<'), person.strip_suffix('>')) {
        (Some(start), Some(_)) => &person[start + 1..person.len() - 1],
        _ => person,
    }
}

fn approver_text(approver: &Approver) -> String {
    match approver {
        Approver::Person(person) => person.clone(),
        Approver::Team(team) => format!("team:{team}"),
    }
}

/// The SSHSIG stored as an entry's signature (the whole of it, nothing after).
pub fn decode_sshsig(bytes: &[u8]) -> Result<SshSig, String> {
    let mut rest = bytes;
    let sshsig =
        SshSig::decode(&mut rest).map_err(|error| format!("its signature is not an SSHSIG: {error}"))?;
    if !rest.is_empty() {
        return Err(format!("its signature has {} bytes after the SSHSIG", rest.len()));
    }
    Ok(sshsig)
}
