//! The trust policy: `[signing]` read from ledger.toml (and refused, with the key and line, when
//! wrong), and the judgement of signatures that are altered, made for something else, or not
//! signatures at all.

use std::path::Path;

use ledger::entry::{Body, Entry, EntryKind, Freeze, Signature, StoredEntry};
use ledger::manifest::Manifest;
use ledger::signing::key_file::KeyFileSigner;
use ledger::signing::trust::principal_of;
use ledger::signing::{self, EntrySigner, HASH, Judgement, SshSig, Trust};
use ledger::{EntryId, Timestamp};
use ledger_testutil::ssh::{generate_key, public_key_line};
use ssh_key::PrivateKey;

const BASE: &str = "[project]\nid = \"catalogue\"\n[teams]\nops = [\"jane@example.com\"]\n[environments.stage]\n[environments.prod]\n[services.api]\nimage_repository = \"registry.local/api\"\n";

/// A project directory with jane's key listed in `allowed_signers`.
struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let jane = generate_key(dir.path(), "jane", "ed25519", "");
        let line = format!("jane@example.com {}\n", public_key_line(&jane));
        std::fs::write(dir.path().join("allowed_signers"), line).unwrap();
        Keys { dir }
    }

    fn manifest(&self, signing: &str) -> Result<Manifest, String> {
        let path = self.dir.path().join("ledger.toml");
        Manifest::parse(&path, &format!("{BASE}{signing}")).map_err(|error| error.to_string())
    }

    fn trust(&self, signing: &str) -> Trust {
        self.manifest(signing).unwrap().trust()
    }

    fn signer(&self) -> KeyFileSigner {
        KeyFileSigner::load(&self.dir.path().join("jane")).unwrap()
    }
}

fn freeze(actor: &str) -> Entry {
    Entry {
        parents: vec![],
        at: Timestamp::parse_rfc3339("2026-11-02T09:00:00Z").unwrap(),
        actor: actor.into(),
        message: "incident".into(),
        body: Body::Freeze(Freeze { env: "prod".into() }),
    }
}

fn signed(entry: Entry, signature: Signature) -> StoredEntry {
    StoredEntry::seal_with(entry, Some(signature)).0
}

fn encoded(sshsig: &SshSig) -> Signature {
    let mut bytes = Vec::new();
    ssh_encoding::Encode::encode(sshsig, &mut bytes).unwrap();
    Signature(bytes)
}

#[test]
fn a_good_signature_is_valid_and_names_signer_and_key() {
    let keys = Keys::new();
    let trust = keys.trust("[signing]\nallowed_signers = \"allowed_signers\"\n");
    let signer = keys.signer();
    let entry = freeze("Jane Doe <jane@example.com> (arn:aws:sts::123456789012:assumed-role/deployer/jane)");
    let stored = signed(entry.clone(), signing::sign(&signer, &entry).unwrap());
    let key = signing::fingerprint(signer.public_key());
    assert_eq!(
        trust.judge(&stored, Some("prod")),
        Judgement::Valid { signer: "jane@example.com".into(), key }
    );
}

#[test]
fn altered_foreign_and_garbage_signatures_are_invalid() {
    let keys = Keys::new();
    let trust = keys.trust("[signing]\nallowed_signers = \"allowed_signers\"\n");
    let entry = freeze("jane@example.com");
    let good = signing::sign(&keys.signer(), &entry).unwrap();
    let problem = |signature: Signature| match trust.judge(&signed(entry.clone(), signature), Some("prod")) {
        Judgement::Invalid { problem, .. } => problem,
        other => panic!("not invalid: {other:?}"),
    };

    let mut altered = good.0.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    assert!(problem(Signature(altered)).contains("does not verify"));

    let private = PrivateKey::read_openssh_file(&keys.dir.path().join("jane")).unwrap();
    let for_git = SshSig::sign(&private, "git", HASH, &entry.encode()).unwrap();
    assert!(problem(encoded(&for_git)).contains("is for \"git\""));

    let other_entry = freeze("jane@example.com (another message)");
    let for_another = SshSig::sign(&private, signing::NAMESPACE, HASH, &other_entry.encode()).unwrap();
    assert!(problem(encoded(&for_another)).contains("does not verify"));

    assert!(problem(Signature(b"not an sshsig".to_vec())).contains("not an SSHSIG"));
    let mut trailing = good.0.clone();
    trailing.push(0);
    assert!(problem(Signature(trailing)).contains("after the SSHSIG"));
}

#[test]
fn require_names_the_kinds_that_must_be_signed() {
    let keys = Keys::new();
    let trust = keys.trust("[signing]\nallowed_signers = \"allowed_signers\"\nrequire = [\"deployment\"]\n");
    let unsigned = StoredEntry::seal(freeze("jane@example.com")).0;
    assert_eq!(trust.judge(&unsigned, Some("prod")), Judgement::Unsigned);
    assert!(trust.requires_signature(EntryKind::Deployment, unsigned.entry.at));
    assert!(!trust.requires_signature(EntryKind::Freeze, unsigned.entry.at));
    let all = keys.trust("[signing]\nallowed_signers = \"allowed_signers\"\n");
    assert_eq!(all.judge(&unsigned, Some("prod")), Judgement::Missing);
    assert!(!Judgement::Missing.is_acceptable());
}

#[test]
fn per_environment_rules_name_people_or_teams() {
    let keys = Keys::new();
    let policy = "[signing]\nallowed_signers = \"allowed_signers\"\n[signing.rules]\nfreeze.prod = [\"team:ops\"]\nfreeze.stage = [\"bob@example.com\"]\n";
    let trust = keys.trust(policy);
    let entry = freeze("jane@example.com");
    let stored = signed(entry.clone(), signing::sign(&keys.signer(), &entry).unwrap());
    assert!(matches!(trust.judge(&stored, Some("prod")), Judgement::Valid { .. }));
    match trust.judge(&stored, Some("stage")) {
        Judgement::Invalid { problem, .. } => {
            assert_eq!(
                problem,
                "\"jane@example.com\" may not sign freeze to stage: [signing.rules] allows bob@example.com"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn principals_are_the_address_of_the_person_who_acted() {
    assert_eq!(principal_of("jane@example.com"), "jane@example.com");
    assert_eq!(principal_of("Jane Doe <jane@example.com>"), "jane@example.com");
    assert_eq!(
        principal_of("Jane Doe <jane@example.com> (arn:aws:sts::1:assumed-role/r/j)"),
        "jane@example.com"
    );
    assert_eq!(principal_of("ci (arn:aws:iam::1:role/ci)"), "ci");
    assert_eq!(principal_of("Jane (ops) <jane@example.com>"), "jane@example.com");
}

#[test]
fn a_wrong_signing_section_is_refused_naming_key_and_line() {
    let keys = Keys::new();
    let refused = |signing: &str| keys.manifest(signing).unwrap_err();
    let section = "[signing]\nallowed_signers = \"allowed_signers\"\n";
    let cases = [
        (
            format!("{section}[signing.rules]\nrelease_sets = [\"jane@example.com\"]\n"),
            "signing.rules.release_sets: unknown kind \"release_sets\"",
        ),
        (
            format!("{section}[signing.rules]\ndeployment.qa = [\"jane@example.com\"]\n"),
            "signing.rules.deployment.qa: unknown environment \"qa\"",
        ),
        (
            format!("{section}[signing.rules]\nrelease.prod = [\"jane@example.com\"]\n"),
            "release entries belong to no environment",
        ),
        (format!("{section}[signing.rules]\nrelease = [\"team:devs\"]\n"), "unknown team \"devs\""),
        (format!("{section}[signing.rules]\nrelease = []\n"), "name at least one signer"),
        (format!("{section}require = \"some\"\n"), "signing.require: \"some\": give \"all\""),
        (format!("{section}require = [\"deploy\"]\n"), "unknown kind \"deploy\""),
        (format!("{section}since = \"yesterday\"\n"), "signing.since"),
        ("[signing]\nallowed_signers = \"nowhere\"\n".to_string(), "signing.allowed_signers"),
        (format!("{section}kms_key = \"alias/x\"\n"), "unknown field `kms_key`"),
    ];
    for (signing, expected) in cases {
        let error = refused(&signing);
        assert!(error.contains(expected), "{signing}\n{error}\nexpected: {expected}");
        assert!(error.contains("ledger.toml:"), "names the file and line: {error}");
    }
    std::fs::write(keys.dir.path().join("allowed_signers"), "jane@example.com ssh-ed25519 notbase64\n")
        .unwrap();
    let error = refused(section);
    assert!(error.contains("allowed_signers") && error.contains("line 1"), "{error}");
}

#[test]
fn a_signed_entry_keeps_an_id_of_its_own_and_unsigned_ids_do_not_change() {
    let keys = Keys::new();
    let entry = freeze("jane@example.com");
    let (unsigned, unsigned_bytes) = StoredEntry::seal(entry.clone());
    assert_eq!(unsigned.id, EntryId::of_stored_bytes(&entry.encode()));
    let (stored, bytes) =
        StoredEntry::seal_with(entry.clone(), Some(signing::sign(&keys.signer(), &entry).unwrap()));
    assert_ne!(stored.id, unsigned.id);
    assert_eq!(bytes[0], 2);
    assert_eq!(
        &bytes[1..unsigned_bytes.len()],
        &unsigned_bytes[1..],
        "the signed message is the format-1 payload"
    );
    assert_eq!(StoredEntry::decoded(stored.id, &bytes).unwrap(), stored);
    assert!(Path::new(&keys.dir.path().join("jane.pub")).exists());
}
