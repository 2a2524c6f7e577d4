//! On a real terminal (a pseudo-terminal here): confirmations are asked, a protected
//! environment wants its name typed, and output is coloured unless NO_COLOR is set.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;

use ledger_testutil::process::{Project, manifest_with_services};

/// Runs `ledger <args>` with stdin, stdout and stderr on a new pseudo-terminal, types `input`,
/// and returns the exit code and everything the terminal showed.
fn on_terminal(project: &Project, args: &[&str], input: &str, colour: bool) -> (i32, String) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two file descriptors into the out-pointers and reads nothing else.
    let opened = unsafe {
        libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
    };
    assert_eq!(opened, 0, "openpty failed");
    // SAFETY: both descriptors were just opened by openpty and are owned by nothing else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut command = project.command(args);
    if colour {
        command.env_remove("NO_COLOR");
    }
    let mut child = command
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("spawning ledger on a terminal");
    // The command holds copies of the terminal's other end: close them, so that reading ends
    // when the child exits.
    drop(command);
    let mut terminal = std::fs::File::from(master);
    terminal.write_all(input.as_bytes()).unwrap();
    // A prompt that waits for more than it was given must fail the test, not hang it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            panic!("ledger {args:?} was still running after 60 s on a terminal");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    // The child has exited; read what it wrote (EIO once the terminal has nothing more).
    let mut shown = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = terminal.read(&mut buffer) {
        if n == 0 {
            break;
        }
        shown.extend_from_slice(&buffer[..n]);
    }
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&shown).into_owned())
}

fn with_a_release() -> Project {
    let project = Project::new(&manifest_with_services(1));
    project.ok(&["init"]);
    project.ok(&["register", "s0", "registry.example.com/e2e/s0:v1"]);
    project
}

fn deployments(project: &Project, env: &str) -> usize {
    project.json(&["log", env])["deployments"].as_array().unwrap().len()
}

#[test]
fn a_protected_environment_wants_its_name_typed() {
    let project = with_a_release();
    let (code, shown) = on_terminal(&project, &["apply", "latest", "prod"], "yes\n", false);
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("prod is protected. Type its name to confirm:"), "{shown}");
    assert!(shown.contains("not confirmed; nothing was deployed to prod"), "{shown}");
    assert_eq!(deployments(&project, "prod"), 0);

    let (code, shown) = on_terminal(&project, &["apply", "latest", "prod"], "prod\n", false);
    assert_eq!(code, 0, "{shown}");
    assert_eq!(deployments(&project, "prod"), 1);
}

#[test]
fn an_ordinary_environment_asks_yes_or_no() {
    let project = with_a_release();
    let (code, shown) = on_terminal(&project, &["apply", "latest", "stage"], "\n", false);
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("Deploy this to stage? [y/N]"), "{shown}");
    assert_eq!(deployments(&project, "stage"), 0);
    let (code, shown) = on_terminal(&project, &["apply", "latest", "stage"], "y\n", false);
    assert_eq!(code, 0, "{shown}");
    assert_eq!(deployments(&project, "stage"), 1);
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let project = with_a_release();
    project.ok(&["apply", "latest", "stage", "--yes"]);
    let (_, coloured) = on_terminal(&project, &["log", "stage"], "", true);
    assert!(coloured.contains("\x1b[32msucceeded\x1b[0m"), "{coloured:?}");
    let (_, plain) = on_terminal(&project, &["log", "stage"], "", false);
    assert!(plain.contains("succeeded") && !plain.contains('\x1b'), "{plain:?}");
    let mut piped = project.command(&["log", "stage"]);
    piped.env_remove("NO_COLOR");
    let output = piped.output().unwrap();
    assert!(!String::from_utf8_lossy(&output.stdout).contains('\x1b'));
}

/// Text that would retitle the terminal, clear it, hide what follows, return the cursor or
/// reverse what follows: as an entry from anyone who can write to the shared remote may carry.
const HOSTILE: &str = "\x1b]0;pwned\x07Mallory \x1b[2J\x1b[8mhidden\r txt\u{202E}exe.sh";

#[test]
fn stored_text_reaches_the_terminal_inert_and_json_exact() {
    let project = Project::new(&manifest_with_services(1));
    project.ok(&["init"]);
    let store = ledger::Store::open(&project.path().join(".ledger")).unwrap();
    let stamp = ledger::Stamp {
        at: ledger::Timestamp::from_unix_seconds(1_800_000_000),
        actor: HOSTILE.into(),
        message: HOSTILE.into(),
    };
    let release = ledger::Release {
        service: "s0".into(),
        image: format!("registry.example.com/e2e/s0:v1{HOSTILE}"),
        digest: None,
        revision: None,
        revision_at: None,
    };
    let release = store.write(|w| w.record_release(stamp.clone(), release)).unwrap().id;
    let target = ledger_testutil::entries::state(&[("s0", release)]);
    let plan = ledger::deploy::Plan::towards(
        &store.read().unwrap(),
        "stage",
        ledger::deploy::SetSource::None,
        ledger::Trigger::Apply,
        &target,
    )
    .unwrap();
    store.write(|w| ledger::deploy::record_only(w, &stamp, &plan)).unwrap();
    drop(store);

    let release = release.to_hex();
    for args in [
        &["log"][..],
        &["log", "stage"],
        &["show", &release],
        &["show", "stage"],
        &["status"],
        &["diff", "stage", "prod"],
    ] {
        let shown = project.ok(args);
        let raw: Vec<char> = shown
            .chars()
            .filter(|c| (c.is_control() && !matches!(c, '\n' | '\t')) || *c == '\u{202E}')
            .collect();
        assert!(raw.is_empty(), "ledger {args:?} printed {raw:?}:\n{shown}");
    }
    let log = project.ok(&["log", "stage"]);
    assert!(log.contains("Who:     ^[]0;pwned^GMallory ^[[2J^[[8mhidden^M txt<U+202E>exe.sh"), "{log}");
    let shown = project.json(&["show", &release]);
    assert_eq!(shown["actor"], HOSTILE, "JSON carries the text exactly");
    assert_eq!(shown["message"], HOSTILE);
}
