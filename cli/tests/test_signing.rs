//! Signed history: entries signed from a key file and from ssh-agent and checked by OpenSSH,
//! the trust policy refusing what it must (unsigned, unknown keys, another person's key, a
//! signer not allowed for prod), key rotation and expiry, adoption at a point in history, and
//! forged entries on a shared remote refused by pull and reported by `verify --remote`.

use std::path::{Path, PathBuf};
use std::process::Command;

use ledger_app::ledger::signing::trust::decode_sshsig;
use ledger_app::ledger::signing::{NAMESPACE, SshSig};
use ledger_app::ledger::{EntryId, Store, StoredEntry};
use ledger_testutil::process::Project;
use ledger_testutil::ssh::{TestAgent, fingerprint, generate_key, public_key_line, ssh_keygen_verify};
use serde_json::Value;

const JANE: &str = "Jane Doe <jane@example.com>";
const BOB: &str = "bob@example.com";

/// prod's deployments (and their outcomes) only by the release managers; everything signed.
const MANIFEST: &str = r#"[project]
id = "catalogue"

[teams]
release-managers = ["jane@example.com"]

[environments.stage]
[environments.prod]

[services.api]
image_repository = "registry.local/api"

[signing]
allowed_signers = "allowed_signers"

[signing.rules]
deployment.prod = ["team:release-managers"]
outcome.prod = ["team:release-managers"]
"#;

/// A project whose `allowed_signers` lists jane's and bob's keys; mallory's key is listed nowhere.
struct Signing {
    project: Project,
    keys: tempfile::TempDir,
}

impl Signing {
    fn new(manifest: &str) -> Signing {
        let project = Project::new(manifest);
        let keys = tempfile::tempdir().unwrap();
        for name in ["jane", "bob", "mallory"] {
            generate_key(keys.path(), name, "ed25519", "");
        }
        let signing = Signing { project, keys };
        signing.allow(&[("jane@example.com", "jane", ""), (BOB, "bob", "")]);
        signing
    }

    fn key(&self, name: &str) -> PathBuf {
        self.keys.path().join(name)
    }

    /// Writes `allowed_signers`: (principals, key name, options) per line.
    fn allow(&self, lines: &[(&str, &str, &str)]) {
        let text: String = lines
            .iter()
            .map(|(principals, key, options)| {
                format!("{principals} {options} {}\n", public_key_line(&self.key(key))).replace("  ", " ")
            })
            .collect();
        self.project.write("allowed_signers", &text);
    }

    /// Runs `ledger <args>` as `actor` at `at`, signing with `key` (`None`: no key named), with
    /// `agent` as SSH_AUTH_SOCK when given: (exit code, stdout, stderr).
    fn run(&self, actor: &str, at: &str, key: Option<&str>, agent: Option<&Path>, args: &[&str]) -> Ran {
        let mut command: Command = self.project.command(args);
        command.env("LEDGER_ACTOR", actor).env("LEDGER_TIMESTAMP", at).env_remove("SSH_AUTH_SOCK");
        command.env_remove("LEDGER_SIGNING_KEY");
        if let Some(key) = key {
            command.env("LEDGER_SIGNING_KEY", self.key(key));
        }
        if let Some(socket) = agent {
            command.env("SSH_AUTH_SOCK", socket);
        }
        let output = command.output().unwrap();
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into(),
            stderr: String::from_utf8_lossy(&output.stderr).into(),
        }
    }

    fn ok(&self, actor: &str, at: &str, key: Option<&str>, args: &[&str]) -> String {
        let ran = self.run(actor, at, key, None, args);
        assert_eq!(ran.code, 0, "ledger {args:?}: {ran:?}");
        ran.stdout
    }

    /// Every entry of the ledger, in recording order.
    fn entries(&self) -> Vec<StoredEntry> {
        entries_in(&self.project.path().join(".ledger"))
    }
}

#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn entries_in(ledger_dir: &Path) -> Vec<StoredEntry> {
    let store = Store::open_for_reading(ledger_dir).unwrap();
    let reader = store.read().unwrap();
    let mut entries = Vec::new();
    reader
        .for_each_entry(|_, bytes| {
            entries.push(StoredEntry::decoded(EntryId::of_stored_bytes(bytes), bytes).unwrap());
            Ok(())
        })
        .unwrap();
    entries
}

/// Checks `stored`'s signature with `ssh-keygen -Y verify`, as someone without ledger would:
/// the entry's format-1 bytes as the message, its SSHSIG armored.
fn openssh_verifies(dir: &Path, allowed_signers: &Path, principal: &str, stored: &StoredEntry) -> bool {
    let signature = stored.signature.as_ref().expect("a signed entry");
    let sshsig: SshSig = decode_sshsig(&signature.0).unwrap();
    let path = dir.join(format!("{}.sig", stored.id.short()));
    std::fs::write(&path, sshsig.to_pem(Default::default()).unwrap()).unwrap();
    let (verified, said) =
        ssh_keygen_verify(allowed_signers, principal, NAMESPACE, &path, &stored.entry.encode(), None);
    assert!(verified || !said.is_empty());
    verified
}

/// register, release, apply and promote, each signed by `key` (or the agent), as jane.
fn signed_promotion(signing: &Signing, key: Option<&str>, agent: Option<&Path>) {
    let steps: [(&str, &[&str]); 4] = [
        ("2026-11-02T09:00:00Z", &["register", "api", "registry.local/api:v1"]),
        ("2026-11-02T09:01:00Z", &["release"]),
        ("2026-11-02T09:02:00Z", &["apply", "latest", "stage", "--yes"]),
        ("2026-11-02T09:03:00Z", &["promote", "stage", "prod", "--yes"]),
    ];
    for (at, args) in steps {
        let ran = signing.run(JANE, at, key, agent, args);
        assert_eq!(ran.code, 0, "ledger {args:?}: {ran:?}");
    }
}

#[test]
fn a_key_file_signs_every_entry_and_openssh_verifies_each() {
    let signing = Signing::new(MANIFEST);
    signing.project.ok(&["init"]);
    signed_promotion(&signing, Some("jane"), None);
    let entries = signing.entries();
    let kinds: Vec<&str> = entries.iter().map(|stored| stored.entry.kind().as_str()).collect();
    for kind in ["release", "release_set", "deployment", "outcome"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let allowed = signing.project.path().join("allowed_signers");
    for stored in &entries {
        assert!(openssh_verifies(signing.keys.path(), &allowed, "jane@example.com", stored), "{}", stored.id);
        assert!(
            !openssh_verifies(signing.keys.path(), &allowed, BOB, stored),
            "bob's principal must not verify"
        );
    }

    let key = fingerprint(&signing.key("jane"));
    let log = signing.project.json(&["log", "prod"]);
    let signature = &log["deployments"][0]["signature"];
    assert_eq!(signature["signer"], "jane@example.com");
    assert_eq!(signature["key"], key.as_str());
    assert_eq!(signature["valid"], true);
    let text = signing.project.ok(&["log", "prod"]);
    assert!(text.contains(&format!("Signed:  jane@example.com ({key})")), "{text}");
    let shown = signing.project.ok(&["show", &entries[0].id.to_hex()]);
    assert!(shown.contains(&format!("jane@example.com ({key})")), "{shown}");

    let verified = signing.project.json(&["verify"]);
    assert_eq!(verified["sound"], true, "{verified}");
    assert_eq!(verified["signed"], entries.len());
}

#[test]
fn the_agent_signs_with_the_key_allowed_signers_lists_for_the_actor() {
    let signing = Signing::new(MANIFEST);
    signing.project.ok(&["init"]);
    let agent = TestAgent::start();
    // The agent holds mallory's key first: it is listed for nobody, so jane's is chosen.
    agent.add(&signing.key("mallory"), None);
    agent.add(&signing.key("jane"), None);
    signed_promotion(&signing, None, Some(agent.socket()));
    let allowed = signing.project.path().join("allowed_signers");
    let entries = signing.entries();
    assert_eq!(entries.iter().filter(|stored| stored.entry.as_deployment().is_some()).count(), 2);
    for stored in &entries {
        assert!(openssh_verifies(signing.keys.path(), &allowed, "jane@example.com", stored), "{}", stored.id);
    }

    // A `.pub` file names the agent's key to use.
    let pub_file = format!("{}.pub", signing.key("bob").display());
    agent.add(&signing.key("bob"), None);
    let mut command = signing.project.command(&["register", "api", "registry.local/api:v2"]);
    command
        .env("LEDGER_ACTOR", BOB)
        .env("LEDGER_SIGNING_KEY", &pub_file)
        .env("SSH_AUTH_SOCK", agent.socket());
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let newest = signing.entries().pop().unwrap();
    assert!(openssh_verifies(signing.keys.path(), &allowed, BOB, &newest));
}

#[test]
fn unsigned_entries_unknown_keys_and_another_persons_key_are_refused() {
    let signing = Signing::new(MANIFEST);
    signing.project.ok(&["init"]);
    let register = ["register", "api", "registry.local/api:v1"];
    let at = "2026-11-02T09:00:00Z";

    let unsigned = signing.run(JANE, at, None, None, &register);
    assert_eq!(unsigned.code, 4, "{unsigned:?}");
    assert!(unsigned.stderr.contains("breaks rule signature: it is not signed"), "{unsigned:?}");
    assert!(unsigned.stderr.contains("LEDGER_SIGNING_KEY"), "the hint says how to sign: {unsigned:?}");

    let unknown = signing.run(JANE, at, Some("mallory"), None, &register);
    assert_eq!(unknown.code, 4, "{unknown:?}");
    let mallory = fingerprint(&signing.key("mallory"));
    assert!(unknown.stderr.contains(&format!("signed by key {mallory}, which")), "{unknown:?}");

    // Bob's own key, recorded as jane: the actor is not the signer's principal.
    let impostor = signing.run(JANE, at, Some("bob"), None, &register);
    assert_eq!(impostor.code, 4, "{impostor:?}");
    assert!(impostor.stderr.contains("recorded as by \"jane@example.com\""), "{impostor:?}");
    assert!(signing.entries().is_empty(), "nothing refused was recorded");
}

#[test]
fn only_the_release_managers_may_sign_deployments_to_prod() {
    let signing = Signing::new(MANIFEST);
    signing.project.ok(&["init"]);
    signing.ok(BOB, "2026-11-02T09:00:00Z", Some("bob"), &["register", "api", "registry.local/api:v1"]);
    signing.ok(BOB, "2026-11-02T09:01:00Z", Some("bob"), &["apply", "latest", "stage", "--yes"]);
    let refused =
        signing.run(BOB, "2026-11-02T09:02:00Z", Some("bob"), None, &["promote", "stage", "prod", "--yes"]);
    assert_eq!(refused.code, 4, "{refused:?}");
    assert!(
        refused.stderr.contains("\"bob@example.com\" may not sign deployment to prod: [signing.rules] allows team:release-managers"),
        "{refused:?}"
    );
    signing.ok(JANE, "2026-11-02T09:03:00Z", Some("jane"), &["promote", "stage", "prod", "--yes"]);
}

#[test]
fn a_rotated_key_signs_no_more_and_what_it_signed_while_valid_stays_valid() {
    let signing = Signing::new(MANIFEST);
    signing.project.ok(&["init"]);
    signing.ok(JANE, "2026-11-02T09:00:00Z", Some("jane"), &["register", "api", "registry.local/api:v1"]);
    // Rotation: jane's old key expires at 10:00, her new key (bob's file, for the test) signs on.
    generate_key(signing.keys.path(), "jane-new", "ed25519", "");
    signing.allow(&[
        ("jane@example.com", "jane", "valid-before=\"20261102100000Z\""),
        ("jane@example.com", "jane-new", "valid-after=\"20261102095000Z\""),
        (BOB, "bob", ""),
    ]);
    let expired = signing.run(
        JANE,
        "2026-11-02T10:00:01Z",
        Some("jane"),
        None,
        &["register", "api", "registry.local/api:v2"],
    );
    assert_eq!(expired.code, 4, "{expired:?}");
    assert!(
        expired.stderr.contains("was not valid for \"jane@example.com\" at 2026-11-02T10:00:01"),
        "{expired:?}"
    );
    signing.ok(JANE, "2026-11-02T10:00:02Z", Some("jane-new"), &["register", "api", "registry.local/api:v2"]);

    let verified = signing.project.json(&["verify"]);
    assert_eq!(
        verified["sound"], true,
        "the entry signed while the old key was valid stays valid: {verified}"
    );
    assert_eq!(verified["signed"], 2);

    // Revocation: a key's line removed, every entry it signed is reported.
    signing.allow(&[("jane@example.com", "jane-new", ""), (BOB, "bob", "")]);
    let revoked = signing.project.run(&["verify"]);
    assert_eq!(revoked.code, 3, "{}", revoked.render());
    assert!(revoked.stdout.contains("breaks rule signature: it is signed by key"), "{}", revoked.render());
}

#[test]
fn signing_adopted_at_a_point_in_history_leaves_earlier_entries_unsigned_before_policy() {
    let before = MANIFEST.split("[signing]").next().unwrap();
    let signing = Signing::new(before);
    signing.project.ok(&["init"]);
    signing.ok(JANE, "2026-11-02T09:00:00Z", None, &["register", "api", "registry.local/api:v1"]);
    signing.ok(JANE, "2026-11-02T09:01:00Z", None, &["apply", "latest", "stage", "--yes"]);
    let adopted = MANIFEST.replace(
        "allowed_signers = \"allowed_signers\"",
        "allowed_signers = \"allowed_signers\"\nsince = \"2026-11-03T00:00:00Z\"",
    );
    signing.project.write("ledger.toml", &adopted);

    let verified = signing.project.json(&["verify"]);
    assert_eq!(verified["sound"], true, "{verified}");
    assert_eq!(verified["unsigned_before_policy"], signing.entries().len());
    let first = signing.entries()[0].id.to_hex();
    assert!(
        signing.project.ok(&["show", &first]).contains("no (recorded before the signing policy's `since`)")
    );

    let late =
        signing.run(JANE, "2026-11-03T09:00:00Z", None, None, &["register", "api", "registry.local/api:v2"]);
    assert_eq!(late.code, 4, "{late:?}");
    signing.ok(JANE, "2026-11-03T09:00:00Z", Some("jane"), &["register", "api", "registry.local/api:v2"]);
}

/// Our project on a new file remote, api v1 registered and applied to stage, signed by jane:
/// (the remote's directory, the manifest's `[remote]` section for it, our project).
fn shared_and_signed() -> (tempfile::TempDir, String, Signing) {
    let shared = tempfile::tempdir().unwrap();
    let remote = format!("\n[remote]\nurl = \"file://{}\"\n", shared.path().display());
    let ours = Signing::new(&format!("{MANIFEST}{remote}"));
    ours.project.ok(&["init"]);
    ours.project.ok(&["remote", "init", "origin"]);
    ours.ok(JANE, "2026-11-02T09:00:00Z", Some("jane"), &["register", "api", "registry.local/api:v1"]);
    ours.ok(JANE, "2026-11-02T09:01:00Z", Some("jane"), &["apply", "latest", "stage", "--yes"]);
    (shared, remote, ours)
}

#[test]
fn forged_entries_on_a_remote_are_refused_by_pull_and_reported_by_verify_remote() {
    let (_shared, remote, ours) = shared_and_signed();

    // Someone with write access to the remote and a ledger.toml without [signing] records
    // unsigned deployments to prod there.
    let unsigned_manifest = format!("{}{remote}", MANIFEST.split("[signing]").next().unwrap());
    let forger = Signing::new(&unsigned_manifest);
    forger.project.ok(&["init"]);
    let cloned = forger.run(JANE, "2026-11-02T09:02:00Z", None, None, &["pull"]);
    assert_eq!(cloned.code, 0, "{cloned:?}");
    forger.ok(JANE, "2026-11-02T09:03:00Z", None, &["promote", "stage", "prod", "--yes"]);

    let pulled = ours.run(JANE, "2026-11-02T09:04:00Z", None, None, &["pull"]);
    assert_ne!(pulled.code, 0, "{pulled:?}");
    assert!(pulled.stderr.contains("breaks rule signature: it is not signed"), "{pulled:?}");
    assert!(
        ours.entries().iter().all(|stored| stored.signature.is_some()),
        "nothing of env/prod was taken in"
    );

    let checked = ours.project.run(&["verify", "--remote", "origin"]);
    assert_eq!(checked.code, 3, "{}", checked.render());
    assert!(checked.stdout.contains("breaks rule signature: it is not signed"), "{}", checked.render());
    assert_eq!(ours.project.json(&["verify"])["sound"], true, "the local ledger stays sound");
}

#[test]
fn a_signer_not_allowed_for_prod_on_the_remote_is_refused_by_pull() {
    let (_shared, remote, ours) = shared_and_signed();

    // Bob's ledger has no rule for prod: he signs a deployment there with his own, listed key.
    let lax = MANIFEST.replace(
        "deployment.prod = [\"team:release-managers\"]\noutcome.prod = [\"team:release-managers\"]\n",
        "",
    );
    let bob = Signing::new(&format!("{lax}{remote}"));
    std::fs::copy(ours.key("bob"), bob.key("bob")).unwrap();
    std::fs::copy(format!("{}.pub", ours.key("bob").display()), format!("{}.pub", bob.key("bob").display()))
        .unwrap();
    std::fs::copy(ours.project.path().join("allowed_signers"), bob.project.path().join("allowed_signers"))
        .unwrap();
    bob.project.ok(&["init"]);
    assert_eq!(bob.run(BOB, "2026-11-02T09:02:00Z", None, None, &["pull"]).code, 0);
    bob.ok(BOB, "2026-11-02T09:03:00Z", Some("bob"), &["promote", "stage", "prod", "--yes"]);

    let pulled = ours.run(JANE, "2026-11-02T09:04:00Z", None, None, &["pull"]);
    assert_ne!(pulled.code, 0, "{pulled:?}");
    assert!(pulled.stderr.contains("may not sign deployment to prod"), "{pulled:?}");
    let checked = ours.project.run(&["verify", "--remote", "origin", "--output", "json"]);
    assert_eq!(checked.code, 3, "{}", checked.render());
    let report: Value = serde_json::from_str(&checked.stdout).unwrap();
    let damage: Vec<String> = serde_json::from_value(report["damage"].clone()).unwrap();
    assert!(damage.iter().any(|d| d.contains("may not sign deployment to prod")), "{damage:?}");
}

#[test]
fn signer_shows_the_key_and_the_allowed_signers_line() {
    let signing = Signing::new(MANIFEST);
    let shown = signing.ok(JANE, "2026-11-02T09:00:00Z", Some("mallory"), &["signer"]);
    let line =
        format!("jane@example.com namespaces=\"ledger-entry\" {}", public_key_line(&signing.key("mallory")));
    let line = line.rsplit_once(' ').map_or(line.clone(), |(key, _comment)| key.to_string());
    assert!(shown.contains("does not list it yet"), "{shown}");
    assert!(shown.contains(&line), "{shown}\n{line}");
    let json: Value = serde_json::from_str(&signing.ok(
        JANE,
        "2026-11-02T09:00:00Z",
        Some("jane"),
        &["signer", "--output", "json"],
    ))
    .unwrap();
    assert_eq!(json["listed"], true);
    assert_eq!(json["fingerprint"], fingerprint(&signing.key("jane")).as_str());
    let none = signing.run(JANE, "2026-11-02T09:00:00Z", None, None, &["signer"]);
    assert_eq!(none.code, 2, "{none:?}");
}

#[test]
fn signed_entries_travel_in_a_bundle_and_unsigned_ones_are_refused_by_the_signing_policy() {
    let ours = Signing::new(MANIFEST);
    ours.project.ok(&["init"]);
    signed_promotion(&ours, Some("jane"), None);
    let bundle = ours.project.path().join("signed.bundle").display().to_string();
    ours.project.ok(&["bundle", "create", &bundle]);

    // Another ledger of the project, trusting the same keys.
    let theirs = Signing::new(MANIFEST);
    std::fs::copy(ours.project.path().join("allowed_signers"), theirs.project.path().join("allowed_signers"))
        .unwrap();
    theirs.project.ok(&["init"]);
    theirs.project.ok(&["bundle", "unbundle", &bundle]);
    let ids = |signing: &Signing| signing.entries().iter().map(|stored| stored.id).collect::<Vec<_>>();
    assert_eq!(ids(&theirs), ids(&ours));
    assert!(theirs.entries().iter().all(|stored| stored.signature.is_some()));
    let verified = theirs.project.json(&["verify"]);
    assert_eq!(
        (verified["sound"].clone(), verified["signed"].clone()),
        (true.into(), ids(&ours).len().into())
    );

    // The same project without a signing policy records unsigned entries: a ledger that
    // requires signatures refuses them, and takes in nothing of the bundle.
    let unsigned = Project::new(MANIFEST.split("[signing]").next().unwrap());
    unsigned.ok(&["init"]);
    unsigned.register("api", "registry.local/api:v1");
    let path = unsigned.path().join("unsigned.bundle").display().to_string();
    unsigned.ok(&["bundle", "create", &path]);
    let fresh = Signing::new(MANIFEST);
    fresh.project.ok(&["init"]);
    let refused = fresh.run(JANE, "2026-11-02T10:00:00Z", None, None, &["bundle", "unbundle", &path]);
    assert_eq!(refused.code, 4, "{refused:?}");
    assert!(refused.stderr.contains("breaks rule signature: it is not signed"), "{refused:?}");
    assert!(fresh.entries().is_empty(), "nothing was taken in");
}
