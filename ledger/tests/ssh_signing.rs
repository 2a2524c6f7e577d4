//! SSH signing (issue 15) judged by OpenSSH itself: signatures made from a key file and through
//! an ssh-agent check with `ssh-keygen -Y verify`; the agent client survives broken and hostile
//! agents; the `allowed_signers` parser agrees with `ssh-keygen -Y verify` on principals,
//! namespaces and validity windows.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use ledger::Timestamp;
use ledger::signing::agent::AgentSigner;
use ledger::signing::allowed_signers::{AllowedSigners, AllowedSignersError, LineProblem};
use ledger::signing::key_file::KeyFileSigner;
use ledger::signing::{EntrySigner, NAMESPACE, PublicKey, SignError, SshSig};
use ledger_testutil::ssh::{TestAgent, fingerprint, generate_key, public_key_line, ssh_keygen_verify};
use ssh_key::LineEnding;

const KEY_TYPES: [&str; 3] = ["ed25519", "ecdsa", "rsa"];
const MESSAGE: &[u8] = b"\x01an entry's format-1 bytes\x00\xff";
const PRINCIPAL: &str = "signer@example.com";

/// Writes `signature` armored and an `allowed_signers` naming `key` for [`PRINCIPAL`], and
/// checks `ssh-keygen -Y verify` accepts it over [`MESSAGE`] in [`NAMESPACE`] and refuses it
/// in another namespace or over another message.
fn assert_openssh_verifies(dir: &Path, key: &PublicKey, signature: &SshSig) {
    let signature_path = dir.join("message.sig");
    std::fs::write(&signature_path, signature.to_pem(LineEnding::LF).unwrap()).unwrap();
    let allowed = dir.join("allowed_signers");
    std::fs::write(&allowed, format!("{PRINCIPAL} {}\n", key.to_openssh().unwrap())).unwrap();

    let (ok, said) = ssh_keygen_verify(&allowed, PRINCIPAL, NAMESPACE, &signature_path, MESSAGE, None);
    assert!(ok, "ssh-keygen -Y verify refused a {} signature: {said}", key.algorithm());
    let (ok, _) = ssh_keygen_verify(&allowed, PRINCIPAL, "git", &signature_path, MESSAGE, None);
    assert!(!ok, "a ledger signature passed for another namespace");
    let (ok, _) = ssh_keygen_verify(&allowed, PRINCIPAL, NAMESPACE, &signature_path, b"another entry", None);
    assert!(!ok, "a signature passed for an altered message");
    let (ok, _) =
        ssh_keygen_verify(&allowed, "someone@example.com", NAMESPACE, &signature_path, MESSAGE, None);
    assert!(!ok, "a signature passed for a principal the file does not name");
    // The library's own check agrees.
    key.verify(NAMESPACE, MESSAGE, signature).unwrap();
    assert!(key.verify(NAMESPACE, b"another entry", signature).is_err());
}

#[test]
fn key_file_signatures_verify_with_ssh_keygen_for_every_key_type() {
    for key_type in KEY_TYPES {
        let dir = tempfile::tempdir().unwrap();
        let private = generate_key(dir.path(), "id", key_type, "");
        let signer = KeyFileSigner::load(&private).unwrap();
        assert_eq!(signer.public_key(), &PublicKey::from_openssh(&public_key_line(&private)).unwrap());
        let signature = signer.sign(MESSAGE).unwrap_or_else(|err| panic!("{key_type}: {err}"));
        assert_eq!(signature.namespace(), NAMESPACE);
        if key_type == "rsa" {
            // SSHSIG with RSA is rsa-sha2-512, as `ssh-keygen -Y sign` makes it.
            assert_eq!(signature.signature().algorithm().as_str(), "rsa-sha2-512");
        }
        assert_openssh_verifies(dir.path(), signer.public_key(), &signature);
    }
}

#[test]
fn agent_signatures_verify_with_ssh_keygen_for_every_key_type() {
    let dir = tempfile::tempdir().unwrap();
    let agent = TestAgent::start();
    let keys: Vec<PathBuf> = KEY_TYPES
        .iter()
        .map(|key_type| {
            let private = generate_key(dir.path(), key_type, key_type, "");
            agent.add(&private, None);
            private
        })
        .collect();

    let held = AgentSigner::identities(agent.socket()).unwrap();
    let comments: Vec<&str> = held.iter().map(PublicKey::comment).collect();
    assert_eq!(comments, ["ed25519@test", "ecdsa@test", "rsa@test"]);

    for private in &keys {
        let public = PublicKey::from_openssh(&public_key_line(private)).unwrap();
        let signer = AgentSigner::connect(agent.socket(), &public).unwrap();
        let signature = signer.sign(MESSAGE).unwrap();
        assert_openssh_verifies(dir.path(), &public, &signature);
    }
}

#[test]
fn an_encrypted_key_file_is_refused_with_the_way_to_use_it_through_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let private = generate_key(dir.path(), "id_locked", "ed25519", "correct horse");
    let error = KeyFileSigner::load(&private).err().expect("an encrypted key is refused");
    let text = error.to_string();
    assert!(matches!(error, SignError::Unavailable(_)), "{text}");
    assert!(text.contains(&format!("ssh-add {}", private.display())), "{text}");

    // Following the advice works: the agent holds the unlocked key and signs.
    let agent = TestAgent::start();
    agent.add(&private, Some("correct horse"));
    let public = PublicKey::from_openssh(&public_key_line(&private)).unwrap();
    let signature = AgentSigner::connect(agent.socket(), &public).unwrap().sign(MESSAGE).unwrap();
    assert_openssh_verifies(dir.path(), &public, &signature);
}

#[test]
fn files_that_are_not_private_keys_are_refused_with_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let private = generate_key(dir.path(), "id", "ed25519", "");
    let public_path = dir.path().join("id.pub");
    let error = KeyFileSigner::load(&public_path).err().unwrap().to_string();
    assert!(error.contains("public key"), "{error}");
    let missing = KeyFileSigner::load(&dir.path().join("absent")).err().unwrap();
    assert!(matches!(missing, SignError::Unavailable(_)), "{missing}");
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, [0xffu8; 64]).unwrap();
    assert!(KeyFileSigner::load(&garbage).is_err());
    assert!(KeyFileSigner::load(&private).is_ok());
}

#[test]
fn an_rsa_key_shorter_than_2048_bits_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("id_short");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "1024", "-N", "", "-f"])
        .arg(&private)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let error = KeyFileSigner::load(&private).err().expect("a 1024-bit RSA key is refused").to_string();
    assert!(error.contains("1024 bits"), "{error}");
}

#[test]
fn an_agent_without_the_key_is_refused_naming_the_key_and_ssh_add() {
    let dir = tempfile::tempdir().unwrap();
    let held = generate_key(dir.path(), "held", "ed25519", "");
    let other = generate_key(dir.path(), "other", "ed25519", "");
    let agent = TestAgent::start();
    agent.add(&held, None);

    let public = PublicKey::from_openssh(&public_key_line(&other)).unwrap();
    let error = AgentSigner::connect(agent.socket(), &public).err().expect("the agent lacks the key");
    let text = error.to_string();
    assert!(matches!(error, SignError::Unavailable(_)), "{text}");
    assert!(text.contains(&fingerprint(&other)), "{text}");
    assert!(text.contains("ssh-add"), "{text}");
}

#[test]
fn no_agent_at_the_socket_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let private = generate_key(dir.path(), "id", "ed25519", "");
    let public = PublicKey::from_openssh(&public_key_line(&private)).unwrap();
    let error = AgentSigner::connect(&dir.path().join("no-agent.sock"), &public).err().unwrap();
    assert!(matches!(error, SignError::Unavailable(_)), "{error}");
    assert!(AgentSigner::identities(&dir.path().join("no-agent.sock")).is_err());
}

/// A fake agent at `dir/fake.sock` that answers its connections, one after another, with the
/// given raw bytes (length prefix included) after reading each request, then closes them.
fn fake_agent(dir: &Path, answers: Vec<Vec<u8>>) -> (PathBuf, std::thread::JoinHandle<()>) {
    let socket = dir.join("fake.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        for answer in answers {
            let (mut stream, _) = listener.accept().unwrap();
            let mut length = [0u8; 4];
            stream.read_exact(&mut length).unwrap();
            let mut request = vec![0u8; u32::from_be_bytes(length) as usize];
            stream.read_exact(&mut request).unwrap();
            // The client may have given up already: what it does is the test's question.
            let _ = stream.write_all(&answer);
        }
    });
    (socket, server)
}

/// An agent message: length, type, body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    bytes.push(kind);
    bytes.extend_from_slice(body);
    bytes
}

fn string(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// An identities answer listing `key`.
fn identities_answer(key: &PublicKey) -> Vec<u8> {
    let mut body = 1u32.to_be_bytes().to_vec();
    body.extend(string(&key.to_bytes().unwrap()));
    body.extend(string(b"fake"));
    message(12, &body)
}

#[test]
fn broken_or_hostile_agents_give_errors_not_panics_or_huge_allocations() {
    let dir = tempfile::tempdir().unwrap();
    let key =
        PublicKey::from_openssh(&public_key_line(&generate_key(dir.path(), "id", "ed25519", ""))).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a 4 GiB length", vec![0xff, 0xff, 0xff, 0xff, 12], "announced an answer of 4294967295 bytes"),
        ("a zero length", vec![0, 0, 0, 0], "announced an answer of 0 bytes"),
        ("garbage", b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(), "announced an answer of"),
        ("an unexpected type", message(99, b"?"), "message of type 99"),
        ("a cut answer", vec![0, 0, 0, 100, 12, 0, 0], "talking to the ssh-agent"),
        ("a key count past the end", message(12, &[0, 1, 0, 0]), "is cut short"),
        ("a key length past the end", message(12, &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 1]), "is cut short"),
        ("bytes after the end", message(12, &[0, 0, 0, 0, 7]), "has bytes after its end"),
        ("nothing at all", Vec::new(), "talking to the ssh-agent"),
        ("a failure", message(5, &[]), "refused the request"),
        ("an old agent's failure", message(30, &[]), "refused the request"),
    ];
    let (socket, server) =
        fake_agent(dir.path(), cases.iter().map(|(_, answer, _)| answer.clone()).collect());
    for (what, _, expected) in &cases {
        let error = AgentSigner::connect(&socket, &key).err().unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(matches!(error, SignError::Failed(_)), "{what}: {error}");
        assert!(error.to_string().contains(expected), "{what}: {error}");
    }
    server.join().unwrap();
}

#[test]
fn a_bad_signature_from_the_agent_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let private = generate_key(dir.path(), "id", "ed25519", "");
    let key = KeyFileSigner::load(&private).unwrap().public_key().clone();
    let stranger = KeyFileSigner::load(&generate_key(dir.path(), "stranger", "ed25519", "")).unwrap();
    let stranger_signature = stranger.sign(MESSAGE).unwrap().signature().clone();
    let stranger_blob: Vec<u8> = stranger_signature.try_into().unwrap();

    let mut rsa_named = string(b"rsa-sha2-512");
    rsa_named.extend(string(&[7u8; 256]));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("another key's signature", string(&stranger_blob), "does not verify"),
        ("not a signature", string(b"garbage"), "not an SSH signature"),
        ("another algorithm", string(&rsa_named), "signed with rsa-sha2-512"),
        ("a signature length past the end", vec![0, 0, 1, 0, 1, 2], "is cut short"),
    ];
    let mut answers = Vec::new();
    for (_, signature, _) in &cases {
        answers.push(identities_answer(&key));
        answers.push(message(14, signature));
    }
    let (socket, server) = fake_agent(dir.path(), answers);
    for (what, _, expected) in &cases {
        let signer = AgentSigner::connect(&socket, &key).unwrap();
        let error = signer.sign(MESSAGE).err().unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(matches!(error, SignError::Failed(_)), "{what}: {error}");
        assert!(error.to_string().contains(expected), "{what}: {error}");
    }
    server.join().unwrap();
}

fn at(rfc3339: &str) -> Timestamp {
    Timestamp::parse_rfc3339(rfc3339).unwrap()
}

#[test]
fn allowed_signers_lines_are_read_with_their_options() {
    let dir = tempfile::tempdir().unwrap();
    let alice = public_key_line(&generate_key(dir.path(), "alice", "ed25519", ""));
    let ci = public_key_line(&generate_key(dir.path(), "ci", "ecdsa", ""));
    let text = format!(
        "# release managers\n\
         \n\
         \t  \n\
         alice@example.com,!mallory@example.com {alice}\n\
         *@example.com,ci-?@build NameSpaces=\"ledger-*,git\",VALID-AFTER=\"20270104Z\",valid-before=\"202712311200Z\" {ci}\n\
         \"ci@build\" valid-after=\"20270101000000UTC\" {ci} a comment with spaces\n"
    );
    let signers = AllowedSigners::parse(&text).unwrap();
    let lines: Vec<usize> = signers.lines().iter().map(|signer| signer.line).collect();
    assert_eq!(lines, [4, 5, 6]);

    let first = &signers.lines()[0];
    assert_eq!(first.principals, "alice@example.com,!mallory@example.com");
    assert_eq!((first.valid_after, first.valid_before, &first.namespaces), (None, None, &None));
    assert!(first.valid_at(Timestamp::MIN) && first.valid_at(Timestamp::MAX));
    assert!(first.allows_namespace(NAMESPACE));

    let second = &signers.lines()[1];
    assert_eq!(second.namespaces.as_deref(), Some("ledger-*,git"));
    assert_eq!(second.valid_after, Some(at("2027-01-04T00:00:00Z")));
    assert_eq!(second.valid_before, Some(at("2027-12-31T12:00:00Z")));
    assert!(second.names_principal("anyone@example.com") && second.names_principal("ci-7@build"));
    assert!(!second.names_principal("ci-17@build") && !second.names_principal("x@example.org"));
    assert!(second.allows_namespace(NAMESPACE) && second.allows_namespace("git"));
    assert!(!second.allows_namespace("file"));
    assert!(!second.valid_at(at("2027-01-03T23:59:59.999999Z")));
    assert!(second.valid_at(at("2027-01-04T00:00:00Z")));
    // valid-before includes its whole second, as OpenSSH compares whole seconds with `>`.
    assert!(second.valid_at(at("2027-12-31T12:00:00.999999Z")));
    assert!(!second.valid_at(at("2027-12-31T12:00:01Z")));

    let third = &signers.lines()[2];
    assert_eq!(third.principals, "ci@build");
    assert_eq!(third.valid_after, Some(at("2027-01-01T00:00:00Z")));

    // Lines for a key compare the key, not its comment.
    let ci_key = PublicKey::from_openssh(&ci).unwrap();
    let mut renamed = ci_key.clone();
    renamed.set_comment("another comment");
    let for_ci: Vec<usize> = signers.lines_for(renamed.key_data()).map(|signer| signer.line).collect();
    assert_eq!(for_ci, [5, 6]);
    let alice_key = PublicKey::from_openssh(&alice).unwrap();
    assert!(alice_key.comment().ends_with("@test"));
    assert_eq!(signers.lines_for(alice_key.key_data()).count(), 1);
    assert!(signers.lines()[0].names_principal("alice@example.com"));
    assert!(!signers.lines()[0].names_principal("mallory@example.com"));
}

#[test]
fn malformed_allowed_signers_lines_are_errors_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = public_key_line(&generate_key(dir.path(), "id", "ed25519", ""));
    let (key_type, base64) = key.split_once(' ').unwrap();
    let base64 = base64.split(' ').next().unwrap();
    let cases: Vec<(String, LineProblem)> = vec![
        ("a@b".to_string(), LineProblem::MissingKey),
        (format!("a@b valid-after=\"20270101Z\"{}", ""), LineProblem::MissingKey),
        (format!("a@b ssh-foo {base64}"), LineProblem::UnknownKeyType("ssh-foo".into())),
        (format!("a@b cert-authority {key}"), LineProblem::CertificateAuthority),
        (format!("a@b Cert-Authority,namespaces=\"x\" {key}"), LineProblem::CertificateAuthority),
        (
            format!("a@b valid-after=\"20270101\" {key}"),
            LineProblem::LocalTime { option: "valid-after", text: "20270101".into() },
        ),
        (
            format!("a@b valid-before=\"2027-01-01Z\" {key}"),
            LineProblem::BadTime { option: "valid-before", text: "2027-01-01Z".into() },
        ),
        (
            format!("a@b valid-before=\"20270230Z\" {key}"),
            LineProblem::BadTime { option: "valid-before", text: "20270230Z".into() },
        ),
        (format!("a@b valid-after=20270101Z {key}"), LineProblem::UnquotedValue("valid-after")),
        (
            format!("a@b valid-after=\"20270102Z\",valid-before=\"20270102Z\" {key}"),
            LineProblem::EmptyValidity,
        ),
        (format!("a@b namespaces=\"a\",namespaces=\"b\" {key}"), LineProblem::RepeatedOption("namespaces")),
        (format!("a@b no-touch-required {key}"), LineProblem::UnknownKeyType("no-touch-required".into())),
        (
            format!("a@b verify-required,namespaces=\"x\" {key}"),
            LineProblem::UnknownOption("verify-required".into()),
        ),
        (format!("a@b namespaces=\"x\", {key}"), LineProblem::TrailingComma),
        (format!("a@b namespaces=\"x {key}"), LineProblem::UnclosedQuote("options")),
        (format!("\"a@b {key}"), LineProblem::UnclosedQuote("principals")),
        (format!("a\"@\"b {key}"), LineProblem::QuoteInsidePrincipals),
        (format!("\"\" {key}"), LineProblem::NoPrincipals),
        (
            format!("a@b {key_type} AAAA"),
            LineProblem::BadKey { key_type: key_type.into(), reason: String::new() },
        ),
        (
            format!("a@b ssh-rsa {base64}"),
            LineProblem::BadKey { key_type: "ssh-rsa".into(), reason: String::new() },
        ),
        (format!("{} {key}", "x".repeat(1023)), LineProblem::PatternTooLong("principals")),
        (format!("a@b\0 {key}"), LineProblem::NulByte),
    ];
    for (bad_line, expected) in cases {
        let text = format!("# header\n\ngood@example.com {key}\n{bad_line}\n");
        let error = AllowedSigners::parse(&text).err().unwrap_or_else(|| panic!("accepted: {bad_line}"));
        let shown = error.to_string();
        assert!(shown.starts_with("line 4: "), "{bad_line}: {shown}");
        match (error, &expected) {
            (
                AllowedSignersError::Line { line: 4, problem: LineProblem::BadKey { key_type, .. }, .. },
                LineProblem::BadKey { key_type: expected_type, .. },
            ) => assert_eq!(&key_type, expected_type),
            (AllowedSignersError::Line { line: 4, problem, .. }, _) => {
                assert_eq!(problem, expected, "{bad_line}")
            }
            (other, _) => panic!("{bad_line}: {other}"),
        }
    }
    // A pattern of 1022 bytes is the longest OpenSSH reads whole: accepted.
    assert!(AllowedSigners::parse(&format!("{} {key}", "x".repeat(1022))).is_ok());
}

#[test]
fn allowed_signers_files_name_their_path_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signers");
    let error = AllowedSigners::load(&path).err().unwrap();
    assert!(matches!(error, AllowedSignersError::Read { .. }));
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
    std::fs::write(&path, "# only a comment\nbroken\n").unwrap();
    let error = AllowedSigners::load(&path).err().unwrap().to_string();
    assert!(error.starts_with(&format!("{}: line 2: ", path.display())), "{error}");
    std::fs::write(&path, "").unwrap();
    assert!(AllowedSigners::load(&path).unwrap().lines().is_empty());
}

/// For each allowed_signers file and each (principal, namespace, time), the parser's answer
/// (some line for the key names the principal, allows the namespace and is valid at the time)
/// is `ssh-keygen -Y verify`'s.
#[test]
fn allowed_signers_decisions_agree_with_ssh_keygen_verify() {
    let dir = tempfile::tempdir().unwrap();
    let private = generate_key(dir.path(), "id", "ed25519", "");
    let signer = KeyFileSigner::load(&private).unwrap();
    let key = signer.public_key().to_openssh().unwrap();
    let other = public_key_line(&generate_key(dir.path(), "other", "ed25519", ""));
    let signature_path = dir.path().join("message.sig");
    let signature = signer.sign(MESSAGE).unwrap();
    std::fs::write(&signature_path, signature.to_pem(LineEnding::LF).unwrap()).unwrap();

    let files = [
        format!("*@example.com,!mallory@example.com,ci-?@build {key}\n"),
        format!(
            "alice@example.com valid-after=\"20270104Z\",valid-before=\"20270110120000Z\" {key}\n\
             bob@example.com valid-before=\"202701041230Z\" {key}\n\
             *@example.com {other}\n"
        ),
        format!(
            "alice@example.com namespaces=\"ledger-*\" {key}\n\
             bob@example.com namespaces=\"git,file\" {key}\n\
             carol@example.com namespaces=\"*,!ledger-entry\" {key}\n"
        ),
        format!(
            "alice@example.com valid-before=\"20270104Z\" {key}\n\
             alice@example.com valid-after=\"20270201Z\" {key}\n"
        ),
        format!(
            "  \"bob@example.com,ci-*@build\"\tVALID-AFTER=\"20270104UTC\",Valid-Before=\"20270110120000z\"  {key} c\n"
        ),
    ];
    let principals = [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "mallory@example.com",
        "ci-1@build",
        "ci-10@build",
        "alice@example.org",
    ];
    let times = [
        "20270103235959Z",
        "20270104000000Z",
        "20270104123000Z",
        "20270104123001Z",
        "20270110120000Z",
        "20270110120001Z",
        "20270201000000Z",
    ];
    let mut compared = 0;
    let mut accepted = 0;
    for (number, text) in files.iter().enumerate() {
        let allowed = dir.path().join(format!("allowed_signers_{number}"));
        std::fs::write(&allowed, text).unwrap();
        let signers = AllowedSigners::load(&allowed).unwrap();
        for principal in principals {
            for time in times {
                let at = Timestamp::parse_rfc3339(&format!(
                    "{}-{}-{}T{}:{}:{}Z",
                    &time[0..4],
                    &time[4..6],
                    &time[6..8],
                    &time[8..10],
                    &time[10..12],
                    &time[12..14]
                ))
                .unwrap();
                let ours = signers.lines_for(signature.public_key()).any(|line| {
                    line.names_principal(principal) && line.allows_namespace(NAMESPACE) && line.valid_at(at)
                });
                let (openssh, said) =
                    ssh_keygen_verify(&allowed, principal, NAMESPACE, &signature_path, MESSAGE, Some(time));
                assert_eq!(ours, openssh, "file {number}, {principal} at {time}: ssh-keygen said {said}");
                compared += 1;
                accepted += usize::from(ours);
            }
        }
    }
    assert_eq!(compared, files.len() * principals.len() * times.len());
    // Both answers occur, so the agreement means something.
    assert!(accepted > 0 && accepted < compared, "{accepted} of {compared}");
}
