//! A CI job that holds no SSH key signs with an AWS KMS key: the `ledger` binary against the
//! local AWS emulator, `LEDGER_SIGNING_KEY=kms:alias/…`, its key added to `allowed_signers` as
//! `ledger signer` prints it, and the entries it records checked by the policy and by OpenSSH.

use std::io::Write;
use std::process::{Command, Stdio};

use ledger::signing::trust::decode_sshsig;
use ledger::signing::{NAMESPACE, SshSig};
use ledger::{EntryId, Store, StoredEntry};
use ledger_testutil::moto::Moto;
use ledger_testutil::process::Project;
use serde_json::{Value, json};

const CI: &str = "ci@example.com";

const MANIFEST: &str = r#"[project]
id = "catalogue"

[environments.stage]

[services.api]
image_repository = "registry.local/api"

[signing]
allowed_signers = "allowed_signers"

[signing.rules]
release = ["ci@example.com"]
"#;

#[test]
fn a_kms_key_signs_what_ci_records_and_openssh_verifies_it() {
    let moto = Moto::start();
    let key = moto.call("kms", "CreateKey", json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}));
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap();
    moto.call("kms", "CreateAlias", json!({"AliasName": "alias/ledger-ci", "TargetKeyId": key_id}));
    let mut env = moto.env();
    env.push(("LEDGER_SIGNING_KEY", "kms:alias/ledger-ci".into()));
    let project = Project::new(MANIFEST).with_env(env);
    project.write("allowed_signers", "");

    let at = "2026-11-02T09:00:00Z";
    let signer = project.run_by(CI, at, &["signer", "--output", "json"]);
    assert_eq!(signer.code, 0, "{}", signer.render());
    let signer: Value = serde_json::from_str(&signer.stdout).unwrap();
    assert_eq!(signer["listed"], false);
    assert!(signer["key"].as_str().unwrap().starts_with("ecdsa-sha2-nistp256 "), "{signer}");
    project.write("allowed_signers", &format!("{}\n", signer["allowed_signers_line"].as_str().unwrap()));

    project.ok(&["init"]);
    for args in [&["register", "api", "registry.local/api:v1"][..], &["apply", "latest", "stage", "--yes"]] {
        let run = project.run_by(CI, at, args);
        assert_eq!(run.code, 0, "{}", run.render());
    }
    let log = project.json(&["log", "stage"]);
    let signature = &log["deployments"][0]["signature"];
    assert_eq!(signature["signer"], CI, "{log}");
    assert_eq!(signature["key"], signer["fingerprint"]);
    assert_eq!(signature["valid"], true);

    // Every entry recorded checks with OpenSSH alone.
    let store = Store::open_for_reading(&project.path().join(".ledger")).unwrap();
    let mut entries = Vec::new();
    store
        .read()
        .unwrap()
        .for_each_entry(|_, bytes| {
            entries.push(StoredEntry::decoded(EntryId::of_stored_bytes(bytes), bytes).unwrap());
            Ok(())
        })
        .unwrap();
    assert!(entries.len() >= 4, "release, release set, deployment, outcome");
    for stored in &entries {
        let sshsig: SshSig = decode_sshsig(&stored.signature.as_ref().expect("signed").0).unwrap();
        let signature = project.write("entry.sig", &sshsig.to_pem(Default::default()).unwrap());
        let mut verify = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(project.path().join("allowed_signers"))
            .args(["-I", CI, "-n", NAMESPACE, "-s"])
            .arg(&signature)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        verify.stdin.take().unwrap().write_all(&stored.entry.encode()).unwrap();
        let output = verify.wait_with_output().unwrap();
        assert!(output.status.success(), "{}: {}", stored.id, String::from_utf8_lossy(&output.stderr));
    }

    // The same key recorded as someone else is refused, and the release rule holds.
    let other = project.run_by("dev@example.com", at, &["register", "api", "registry.local/api:v2"]);
    assert_eq!(other.code, 4, "{}", other.render());
    assert!(other.stderr.contains("recorded as by \"dev@example.com\""), "{}", other.render());
}
