//! A ledger that cannot be written here (a read-only file system, a directory without write
//! permission): the commands that only read it, `verify` and `init`, still work.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use ledger_testutil::process::{Project, manifest_with_services};

/// Makes `path` and everything under it read-only for everyone.
fn remove_write_permission(path: &std::path::Path) {
    let mut permissions = std::fs::metadata(path).unwrap().permissions();
    permissions.set_mode(permissions.mode() & !0o222);
    std::fs::set_permissions(path, permissions).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            remove_write_permission(&entry.unwrap().path());
        }
    }
}

/// `ledger <args>` as a user the permissions stop: root ignores them, so as root the command
/// runs as `nobody` (setpriv), in a project everyone may read.
fn as_unprivileged(project: &Project, args: &[&str]) -> Command {
    let command = project.command(args);
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return command;
    }
    let mut dir = Some(project.path());
    while let Some(path) = dir.filter(|path| path.starts_with(std::env::temp_dir())) {
        let mut permissions = std::fs::metadata(path).unwrap().permissions();
        permissions.set_mode(permissions.mode() | 0o555);
        std::fs::set_permissions(path, permissions).unwrap();
        dir = path.parent();
    }
    let mut wrapped = Command::new("setpriv");
    wrapped.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    wrapped.arg(command.get_program()).args(command.get_args()).current_dir(project.path());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    wrapped
}

#[test]
fn verify_and_init_work_on_a_ledger_that_cannot_be_written() {
    let project = Project::new(&manifest_with_services(1));
    project.ok(&["init"]);
    project.ok(&["register", "s0", "registry.example.com/e2e/s0:v1"]);
    project.ok(&["apply", "latest", "prod", "--yes"]);
    let ledger_dir = project.path().join(".ledger");
    let before = std::fs::read(ledger_dir.join("ledger.redb")).unwrap();
    remove_write_permission(&ledger_dir);

    // The file really cannot be written by the user the commands run as.
    let register =
        as_unprivileged(&project, &["register", "s0", "registry.example.com/e2e/s0:v2"]).output().unwrap();
    assert_eq!(register.status.code(), Some(3), "{}", String::from_utf8_lossy(&register.stderr));

    let verify = as_unprivileged(&project, &["verify"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert_eq!(verify.status.code(), Some(0), "verify:\n{stdout}{stderr}");
    assert!(stdout.contains("checked 4 objects, 3 refs, 1 environments: sound"), "{stdout}");
    assert!(stdout.contains("pages were not checked"), "{stdout}");

    let init = as_unprivileged(&project, &["init"]).output().unwrap();
    assert_eq!(init.status.code(), Some(0), "init: {}", String::from_utf8_lossy(&init.stderr));

    for args in [&["status"][..], &["log", "prod"], &["verify", "--output", "json"]] {
        let output = as_unprivileged(&project, args).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(std::fs::read(ledger_dir.join("ledger.redb")).unwrap(), before, "a read-only command wrote");
}
