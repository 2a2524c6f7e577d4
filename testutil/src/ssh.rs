//! The real OpenSSH tools, for tests of signed entries: keys made by `ssh-keygen`, a private
//! `ssh-agent` stopped when the test ends, and `ssh-keygen -Y verify` as the judge of a
//! signature that must check without `ledger`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A new key pair made by `ssh-keygen -t <key_type>` (`ed25519`, `ecdsa` (P-256) or `rsa`)
/// at `dir/name` (private) and `dir/name.pub`, with `passphrase` (empty: none) and the comment
/// `name@test`. Returns the private key's path.
pub fn generate_key(dir: &Path, name: &str, key_type: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let mut command = Command::new("ssh-keygen");
    command.args(["-q", "-t", key_type, "-N", passphrase, "-C", &format!("{name}@test"), "-f"]).arg(&path);
    match key_type {
        "ecdsa" => command.args(["-b", "256"]),
        "rsa" => command.args(["-b", "2048"]),
        _ => &mut command,
    };
    let output = command.stdin(Stdio::null()).output().expect("running ssh-keygen (is OpenSSH installed?)");
    assert!(output.status.success(), "ssh-keygen -t {key_type}: {}", String::from_utf8_lossy(&output.stderr));
    path
}

/// The public key beside the private key at `private`, in OpenSSH's one-line form.
pub fn public_key_line(private: &Path) -> String {
    let mut public = private.as_os_str().to_owned();
    public.push(".pub");
    std::fs::read_to_string(&public).expect("reading the .pub file ssh-keygen wrote").trim().to_string()
}

/// What `ssh-keygen -l` prints as the fingerprint of the key at `private` (`SHA256:…`).
pub fn fingerprint(private: &Path) -> String {
    let output = Command::new("ssh-keygen").args(["-l", "-E", "sha256", "-f"]).arg(private).output().unwrap();
    assert!(output.status.success(), "ssh-keygen -l: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    text.split_whitespace().nth(1).expect("ssh-keygen -l prints bits, fingerprint, comment").to_string()
}

/// A private `ssh-agent -D` on a socket in a directory of its own, killed when dropped.
pub struct TestAgent {
    child: Child,
    socket: PathBuf,
    dir: tempfile::TempDir,
}

impl TestAgent {
    /// Starts an agent and waits until its socket accepts connections.
    pub fn start() -> TestAgent {
        let dir = tempfile::tempdir().expect("a directory for the agent's socket");
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running ssh-agent (is OpenSSH installed?)");
        let agent = TestAgent { child, socket, dir };
        // Readiness, not a time limit on the test: the agent creates its socket at start-up.
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(&agent.socket).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "ssh-agent did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `ssh-add <private>` into this agent; `passphrase` is given through `SSH_ASKPASS` when
    /// the key has one.
    pub fn add(&self, private: &Path, passphrase: Option<&str>) {
        let mut command = Command::new("ssh-add");
        command.arg(private).env("SSH_AUTH_SOCK", &self.socket).stdin(Stdio::null());
        let askpass = passphrase.map(|passphrase| {
            let script = self.dir.path().join("askpass.sh");
            std::fs::write(&script, format!("#!/bin/sh\nprintf '%s\\n' '{passphrase}'\n")).unwrap();
            let mut permissions = std::fs::metadata(&script).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o700);
            std::fs::set_permissions(&script, permissions).unwrap();
            script
        });
        if let Some(script) = &askpass {
            command.env("SSH_ASKPASS", script).env("SSH_ASKPASS_REQUIRE", "force").env("DISPLAY", ":0");
        }
        let output = command.output().expect("running ssh-add");
        assert!(output.status.success(), "ssh-add: {}", String::from_utf8_lossy(&output.stderr));
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `ssh-keygen -Y verify` accepts the armored SSHSIG at `signature` over `message` by
/// `principal` in `namespace` under `allowed_signers`, at `verify_time` (`YYYYMMDDHHMMSSZ`;
/// `None`: now). Returns its exit status's success and what it printed.
pub fn ssh_keygen_verify(
    allowed_signers: &Path,
    principal: &str,
    namespace: &str,
    signature: &Path,
    message: &[u8],
    verify_time: Option<&str>,
) -> (bool, String) {
    let mut command = Command::new("ssh-keygen");
    command.args(["-Y", "verify", "-f"]).arg(allowed_signers);
    command.args(["-I", principal, "-n", namespace, "-s"]).arg(signature);
    if let Some(at) = verify_time {
        command.arg("-O").arg(format!("verify-time={at}"));
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running ssh-keygen -Y verify");
    child.stdin.take().unwrap().write_all(message).unwrap();
    let output = child.wait_with_output().unwrap();
    let said =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), said)
}
