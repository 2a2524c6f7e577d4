//! The real `ledger` binary, built fresh, run as separate processes in a temporary project with
//! no terminal, a fixed actor and (for snapshots) a fixed clock.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};

/// The sample manifest `ledger init --example` writes: stage, a protected prod, and the
/// services api, search and worker, with api and search in the set `frontend`.
pub const SAMPLE_MANIFEST: &str = ledger::manifest::EXAMPLE;

pub const API: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api";
pub const SEARCH: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/search";
pub const WORKER: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/worker";

/// The `ledger` binary of this workspace, built with the profile the tests run under, so a
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

/// A project directory, and `ledger` commands run inside it.
pub struct Project {
    dir: tempfile::TempDir,
    binary: PathBuf,
    actor: &'static str,
    /// Variables every command of the project runs with (e.g. the emulator's endpoint).
    env: Vec<(&'static str, String)>,
    /// With a fixed clock: how many commands ran, each one minute after the previous one.
    runs: Option<AtomicI64>,
}

impl Project {
    /// An empty directory: no manifest, no ledger.
    pub fn empty() -> Project {
        Project {
            dir: tempfile::tempdir().expect("a temporary directory"),
            binary: ledger_bin().to_path_buf(),
            actor: "e2e <e2e@example.com>",
            env: Vec::new(),
            runs: None,
        }
    }

    /// A new project from `manifest`, not yet initialised.
    pub fn new(manifest: &str) -> Project {
        let project = Project::empty();
        project.write("ledger.toml", manifest);
        project
    }

    /// The sample manifest, initialised, with a fixed clock and actor: output that is the
    /// same on every run, for snapshots.
    pub fn sample() -> Project {
        let project = Project::empty().with_fixed_clock();
        project.write("ledger.toml", SAMPLE_MANIFEST);
        project.ok(&["init"]);
        project
    }

    /// Commands run with `env` too (e.g. [`crate::moto::Moto::env`]).
    pub fn with_env(mut self, env: Vec<(&'static str, String)>) -> Project {
        self.env = env;
        self
    }

    /// Commands record `LEDGER_TIMESTAMP` 2026-11-01T08:00:00Z, one minute later each run, as
    /// `Test User <test@example.com>`.
    pub fn with_fixed_clock(mut self) -> Project {
        self.runs = Some(AtomicI64::new(0));
        self.actor = "Test User <test@example.com>";
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).expect("writing a project file");
        path
    }

    /// `ledger <args>` in the project, with no terminal.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .current_dir(self.path())
            .env("LEDGER_ACTOR", self.actor)
            .env("NO_COLOR", "1")
            .env_remove("LEDGER_MANIFEST")
            .env_remove("LEDGER_DIR")
            .env_remove("LEDGER_TIMESTAMP")
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null());
        if let Some(runs) = &self.runs {
            let run = runs.fetch_add(1, Ordering::Relaxed);
            command.env("LEDGER_TIMESTAMP", format!("2026-11-01T{:02}:{:02}:00Z", 8 + run / 60, run % 60));
        }
        command
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running ledger")
    }

    /// Runs a command as `actor` at `at` (RFC 3339), whatever the project's actor and clock.
    pub fn run_by(&self, actor: &str, at: &str, args: &[&str]) -> Run {
        let output = self
            .command(args)
            .env("LEDGER_ACTOR", actor)
            .env("LEDGER_TIMESTAMP", at)
            .output()
            .expect("running ledger");
        self.ran(output)
    }

    /// Runs a command; its output with the project's path written `[DIR]`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.ran(self.output(args))
    }

    /// What a finished run printed, with the project's path written `[DIR]`.
    fn ran(&self, output: Output) -> Run {
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
        let output = self.output(args);
        assert!(
            output.status.success(),
            "ledger {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// Runs a command that must print JSON and succeed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut with_json = args.to_vec();
        with_json.extend(["--output", "json"]);
        serde_json::from_str(&self.ok(&with_json)).expect("JSON output")
    }

    /// Runs a command with `--output json` (given first, so `args` may end with `-- …`),
    /// whatever its exit: its exit code and the JSON it printed.
    pub fn json_exit(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut with_json = vec!["--output", "json"];
        with_json.extend(args);
        let output = self.output(&with_json);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let json = serde_json::from_str(&stdout).unwrap_or_else(|_| {
            panic!(
                "ledger {args:?} printed no JSON (exit {:?})\nstdout:\n{stdout}\nstderr:\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.code().expect("an exit code"), json)
    }

    /// Registers a release and returns its id.
    pub fn register(&self, service: &str, image: &str) -> String {
        self.ok(&["register", service, image]).trim().to_string()
    }

    /// Registers api, search and worker of the sample manifest at `version` (tags v<version>).
    pub fn register_all(&self, version: &str) {
        for repository in [API, SEARCH, WORKER] {
            let service = repository.rsplit('/').next().expect("a repository path");
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
            .expect("running git");
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("UTF-8 output").trim().to_string()
    }

    /// The number of entries in the ledger.
    pub fn entry_count(&self) -> usize {
        self.json(&["log", "-n", "100000"])["entries"].as_array().expect("an entry list").len()
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
