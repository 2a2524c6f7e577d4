//! `KmsSigner` against the AWS emulator: a KMS key named by alias signs entries' messages as
//! SSHSIG signatures that ssh-key and OpenSSH's `ssh-keygen -Y verify` both accept, keys that
//! cannot sign are refused with what to create instead, and signing works inside a runtime.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use ledger::signing::{EntrySigner, NAMESPACE, SignError, SshSig};
use ledger_sync::{AwsSettings, KmsError, KmsSigner};
use ledger_testutil::moto::Moto;
use serde_json::json;

/// One emulator for the tests of this file, its endpoint and test credentials in the process's
/// environment, where aws-config reads them.
fn emulator() -> &'static Moto {
    static EMULATOR: OnceLock<Moto> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        let moto = Moto::start();
        for (name, value) in moto.env() {
            // SAFETY: every test calls `emulator()` before anything else, so while this runs the
            // other tests' threads wait on the lock and nothing reads the environment.
            unsafe { std::env::set_var(name, value) };
        }
        moto
    })
}

/// A new KMS key of `spec` for `usage` in the emulator; returns its id.
fn create_key(spec: &str, usage: &str) -> String {
    let answer = emulator().call("kms", "CreateKey", json!({"KeySpec": spec, "KeyUsage": usage}));
    answer["KeyMetadata"]["KeyId"].as_str().expect("a key id").to_string()
}

/// A new ECC_NIST_P256 signing key, under `alias`; returns its id.
fn create_signing_key(alias: &str) -> String {
    let key_id = create_key("ECC_NIST_P256", "SIGN_VERIFY");
    emulator().call("kms", "CreateAlias", json!({"AliasName": alias, "TargetKeyId": key_id}));
    key_id
}

fn connect(key: &str) -> Result<KmsSigner, KmsError> {
    KmsSigner::connect(&AwsSettings::default(), key)
}

/// Whether `ssh-keygen -Y verify` accepts `signature` over `message` by `signer`'s key for
/// the principal `ci@example.com` in the ledger's namespace.
fn openssh_verifies(dir: &Path, signer: &KmsSigner, message: &[u8], signature: &SshSig) -> bool {
    let allowed_signers = dir.join("allowed_signers");
    let key = signer.public_key().to_openssh().expect("the key in OpenSSH form");
    std::fs::write(&allowed_signers, format!("ci@example.com {key}\n")).unwrap();
    let signature_file = dir.join("message.sig");
    let pem = signature.to_pem(ssh_key::LineEnding::LF).expect("the SSHSIG as PEM");
    std::fs::write(&signature_file, pem).unwrap();
    let message_file = dir.join("message");
    std::fs::write(&message_file, message).unwrap();
    let output = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(&allowed_signers)
        .args(["-I", "ci@example.com", "-n", NAMESPACE, "-s"])
        .arg(&signature_file)
        .stdin(std::fs::File::open(&message_file).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("running ssh-keygen (OpenSSH)");
    output.status.success()
}

#[test]
fn a_key_named_by_alias_signs_what_ssh_key_and_openssh_verify() {
    emulator();
    create_signing_key("alias/ledger-ci");
    let signer = connect("alias/ledger-ci").expect("a signer");
    assert_eq!(signer.public_key().algorithm().as_str(), "ecdsa-sha2-nistp256");

    let message = b"\x01an entry's format-1 bytes";
    let signature = signer.sign(message).expect("a signature");
    assert_eq!(signature.namespace(), NAMESPACE);
    assert_eq!(signature.public_key(), signer.public_key().key_data());
    signer.public_key().verify(NAMESPACE, message, &signature).expect("ssh-key verifies the signature");
    let dir = tempfile::tempdir().unwrap();
    assert!(openssh_verifies(dir.path(), &signer, message, &signature), "ssh-keygen -Y verify refused it");

    let altered = b"\x01an entry's format-1 bytes, altered";
    assert!(signer.public_key().verify(NAMESPACE, altered, &signature).is_err());
    assert!(
        !openssh_verifies(dir.path(), &signer, altered, &signature),
        "ssh-keygen accepted an altered message"
    );
    assert!(signer.public_key().verify("git", message, &signature).is_err(), "another namespace accepted");
}

#[test]
fn the_key_can_be_named_by_its_id_or_its_alias() {
    emulator();
    let key_id = create_signing_key("alias/by-id");
    let by_alias = connect("alias/by-id").unwrap();
    let by_id = connect(&key_id).unwrap();
    assert_eq!(by_alias.public_key().key_data(), by_id.public_key().key_data());
    let signature = by_id.sign(b"message").unwrap();
    by_alias.public_key().verify(NAMESPACE, b"message", &signature).unwrap();
}

#[test]
fn keys_that_cannot_sign_entries_are_refused_with_what_to_create() {
    emulator();
    for (spec, usage) in [
        ("RSA_2048", "SIGN_VERIFY"),
        ("ECC_NIST_P384", "SIGN_VERIFY"),
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    ] {
        let key_id = create_key(spec, usage);
        let error = connect(&key_id).err().unwrap_or_else(|| panic!("a {spec} key was taken"));
        assert!(matches!(error, KmsError::Unsuitable { .. }), "{spec}: {error:?}");
        let text = error.to_string();
        assert!(text.contains(&key_id) && text.contains(spec), "{text}");
        assert!(text.contains("--key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY"), "{text}");
        assert!(matches!(SignError::from(error), SignError::Unavailable(_)));
    }
}

#[test]
fn an_unknown_alias_is_unavailable_and_says_which_key() {
    emulator();
    let error = connect("alias/no-such-key").err().expect("an unknown alias was taken");
    assert!(matches!(error, KmsError::Unreachable { .. }), "{error:?}");
    let SignError::Unavailable(text) = SignError::from(error) else { panic!("not unavailable") };
    assert!(text.contains("alias/no-such-key") && text.contains("no such key or alias"), "{text}");
}

#[tokio::test]
async fn a_signer_connects_signs_and_is_dropped_inside_a_runtime() {
    emulator();
    create_signing_key("alias/in-runtime");
    let signer = connect("alias/in-runtime").expect("a signer");
    let signature = signer.sign(b"message").expect("a signature");
    signer.public_key().verify(NAMESPACE, b"message", &signature).unwrap();
    drop(signer);
}

#[test]
fn several_threads_sign_with_one_signer_at_once() {
    emulator();
    create_signing_key("alias/shared");
    let signer = connect("alias/shared").expect("a signer");
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..4u8)
            .map(|n| {
                let signer = &signer;
                scope.spawn(move || {
                    let message = [n; 16];
                    let signature = signer.sign(&message).expect("a signature");
                    signer.public_key().verify(NAMESPACE, &message, &signature).expect("it verifies");
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a signing thread");
        }
    });
}
