//! A project in a temporary directory, and a way to run `ledger` in it with a fixed clock and
//! actor, so that ids and output are the same on every run.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The sample manifest `ledger init --example` writes: stage, a protected prod, and the
/// services api, search and worker, with api and search in the set `frontend`.
pub const MANIFEST: &str = ledger::manifest::EXAMPLE;

pub const API: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api";
pub const SEARCH: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/search";
pub const WORKER: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/worker";

/// What one run printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit code, stdout and stderr, for a snapshot.
    pub fn render(&self) -> String {
        format!("exit: {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

pub struct TestEnv {
    dir: tempfile::TempDir,
    runs: Cell<i64>,
}

impl TestEnv {
    /// An empty directory: no manifest, no ledger.
    pub fn empty() -> TestEnv {
        TestEnv { dir: tempfile::tempdir().unwrap(), runs: Cell::new(0) }
    }

    /// The test manifest, initialised.
    pub fn new() -> TestEnv {
        let env = TestEnv::empty();
        env.write("ledger.toml", MANIFEST);
        env.ok(&["init"]);
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn command(&self, args: &[&str]) -> Command {
        // Each run is one minute after the previous one.
        let run = self.runs.get();
        self.runs.set(run + 1);
        let at = format!("2026-11-01T{:02}:{:02}:00Z", 8 + run / 60, run % 60);
        let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
        command
            .args(args)
            .current_dir(self.path())
            .env("LEDGER_TIMESTAMP", at)
            .env("LEDGER_ACTOR", "Test User <test@example.com>")
            .env("NO_COLOR", "1")
            .env_remove("LEDGER_MANIFEST")
            .env_remove("LEDGER_DIR")
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().unwrap();
        let clean = |bytes: &[u8]| {
            String::from_utf8_lossy(bytes).replace(&self.path().display().to_string(), "[DIR]")
        };
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: clean(&output.stdout),
            stderr: clean(&output.stderr),
        }
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, 0, "ledger {args:?} failed:\n{}", run.render());
        run.stdout
    }

    /// Runs a command that must print JSON and succeed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut with_json = args.to_vec();
        with_json.extend(["--output", "json"]);
        serde_json::from_str(&self.ok(&with_json)).unwrap()
    }

    /// Registers a release and returns its id.
    pub fn register(&self, service: &str, image: &str) -> String {
        self.ok(&["register", service, image]).trim().to_string()
    }

    /// Registers api, search and worker at `version` (tags v<version>).
    pub fn register_all(&self, version: &str) {
        for repository in [API, SEARCH, WORKER] {
            let service = repository.rsplit('/').next().unwrap();
            self.register(service, &format!("{repository}:v{version}"));
        }
    }

    /// Runs git in the project with a fixed author and date, so commit hashes are the same on
    /// every run; returns its trimmed stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_NAME", "Dev")
            .env("GIT_AUTHOR_EMAIL", "dev@example.com")
            .env("GIT_COMMITTER_NAME", "Dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.com")
            .env("GIT_AUTHOR_DATE", "2026-10-01T10:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-10-01T10:00:00Z")
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    /// The number of entries in the ledger.
    pub fn entry_count(&self) -> usize {
        self.json(&["log", "-n", "100000"])["entries"].as_array().unwrap().len()
    }
}
