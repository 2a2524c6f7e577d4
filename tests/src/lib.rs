//! Harness for the end-to-end tests: the real `ledger` binary, built fresh, run as separate
//! processes in a temporary project, and the local AWS emulator they roll out to.

pub mod moto;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The `ledger` binary of this workspace, built with the profile these tests run under, so a
/// test never runs a stale binary.
pub fn ledger_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/<test binary>
        let profile_dir =
            exe.parent().and_then(Path::parent).expect("a cargo target directory").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", "ledger-cli", "--bin", "ledger"]);
        if profile_dir.file_name().is_some_and(|name| name == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("running cargo build");
        assert!(status.success(), "cargo build -p ledger-cli failed");
        profile_dir.join("ledger")
    })
}

/// A project directory with a manifest, and `ledger` commands run inside it.
pub struct Project {
    dir: tempfile::TempDir,
    /// Variables every command of the project runs with (e.g. the emulator's endpoint).
    env: Vec<(&'static str, String)>,
}

impl Project {
    /// A new project from `manifest`, not yet initialised.
    pub fn new(manifest: &str) -> Project {
        let project = Project::empty();
        std::fs::write(project.path().join("ledger.toml"), manifest).expect("writing ledger.toml");
        project
    }

    /// An empty directory.
    pub fn empty() -> Project {
        Project { dir: tempfile::tempdir().expect("a temporary directory"), env: Vec::new() }
    }

    /// The same project, its commands run with `env` (e.g. [`moto::Moto::env`]).
    pub fn with_env(mut self, env: Vec<(&'static str, String)>) -> Project {
        self.env = env;
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `ledger <args>` in the project, with no terminal and a fixed actor.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(ledger_bin());
        command
            .args(args)
            .current_dir(self.path())
            .env("LEDGER_ACTOR", "e2e <e2e@example.com>")
            .env("NO_COLOR", "1")
            .env_remove("LEDGER_MANIFEST")
            .env_remove("LEDGER_DIR")
            .env_remove("LEDGER_TIMESTAMP")
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running ledger")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "ledger {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut with_json = args.to_vec();
        with_json.extend(["--output", "json"]);
        serde_json::from_str(&self.ok(&with_json)).expect("JSON output")
    }
}

/// A manifest with `services` services named s0, s1, … and the environments stage and prod.
pub fn manifest_with_services(services: usize) -> String {
    let mut manifest = String::from(
        "[project]\nid = \"e2e\"\n\n[environments.stage]\n[environments.prod]\nprotected = true\n",
    );
    for n in 0..services {
        manifest
            .push_str(&format!("\n[services.s{n}]\nimage_repository = \"registry.example.com/e2e/s{n}\"\n"));
    }
    manifest
}
