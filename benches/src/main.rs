//! The ledger as whole processes on a large history, side by side with git on an equivalent
//! one. See benches/README.md for what is measured and how to reproduce it.
//!
//!     ./scripts/dist
//!     target/dist/ledger-bench [--entries 1000000] [--dir target/bench] [--runs 20] [--baseline OLD-LEDGER]
//!         [--signed] [--disk-only | --only verify]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::signing::EntrySigner;

mod history;

use history::Commit;

struct Options {
    entries: usize,
    dir: PathBuf,
    runs: usize,
    /// Another build of `ledger` (e.g. the code before a change), measured in the same
    /// alternation as this one and git.
    baseline: Option<PathBuf>,
    /// Only the bytes on disk (`--disk-only`): no commands are timed (and no `ledger` binary is needed).
    disk_only: bool,
    /// Only `verify`'s row (`--only verify`): no git equivalent, no other command.
    verify_only: bool,
    /// A signed history (`--signed`): every entry generated and registered is signed, and the
    /// project's `[signing]` policy has the commands that read (`log`, `verify`, …) judge the
    /// signatures.
    signed: bool,
}

/// Who the bench's `ledger` commands run as (`LEDGER_ACTOR`).
const BENCH_ACTOR: &str = "bench <bench@example.com>";
/// The principals `allowed_signers` lists the bench key for: the generator's
/// (`ci-bot <ci@example.com>`) and [`BENCH_ACTOR`]'s.
const SIGNING_PRINCIPALS: &str = "ci@example.com,bench@example.com";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|flag| flag == SPAWN_AND_REPORT) && args.len() > 2 {
        spawn_and_report(&args[2], &args[3..]);
    }
    let options = parse_options();
    let project = history::new_project(&options.dir);
    let signing_key = options.signed.then(|| sign_project(&project, &options.dir));

    let started = Instant::now();
    let mut commits = Vec::with_capacity(options.entries);
    let signer = signing_key.as_deref().map(key_file_signer);
    let history =
        history::generate(&project.join(".ledger"), options.entries, signer, |commit| commits.push(commit));
    let generation = started.elapsed();
    let ledger_file = project.join(".ledger").join(ledger::store::STORE_FILE);
    let generated_bytes = file_size(&ledger_file);
    compact(&ledger_file);
    let ledger_bytes = file_size(&ledger_file);

    let ledger_bin = || history::ledger_binary().unwrap_or_else(|problem| usage(&problem));
    let ledger_with = |binary: &Path, args: &[&str]| {
        let mut command = Command::new(binary);
        command.args(args).current_dir(&project).env("LEDGER_ACTOR", BENCH_ACTOR);
        command
    };
    let signed = if options.signed { ", every entry signed (ed25519)" } else { "" };
    if options.verify_only {
        let ledger_bin = ledger_bin();
        let verify = measure(|| ledger_with(&ledger_bin, &["verify"]), options.runs);
        println!(
            "history: {} entries ({} deployments per environment){signed}",
            history.entries, history.deployments_per_env
        );
        print_table(&[("ledger verify (all entries)".into(), verify)]);
        return;
    }

    let git_dir = options.dir.join("git");
    let git_started = Instant::now();
    let git_commits = build_git_equivalent(&git_dir, &commits);
    let git_build = git_started.elapsed();
    let pack_bytes = pack_size(&git_dir);
    let sizes = ledger::Store::open_for_reading(&project.join(".ledger"))
        .and_then(|store| store.table_sizes())
        .expect("reading the bench ledger's table sizes");
    println!(
        "history: {} entries ({} deployments per environment){signed}, {} git commits",
        history.entries, history.deployments_per_env, git_commits
    );
    println!(
        "generation: {:.1} s, {:.0} entries/s (git fast-import of the equivalent: {:.1} s)",
        generation.as_secs_f64(),
        history.entries as f64 / generation.as_secs_f64(),
        git_build.as_secs_f64()
    );
    println!(
        "on disk: ledger {:.1} MiB as generated, {:.1} MiB = {:.0} B/entry compacted; git pack {:.1} MiB = {:.0} B/commit",
        mib(generated_bytes),
        mib(ledger_bytes),
        ledger_bytes as f64 / history.entries as f64,
        mib(pack_bytes),
        pack_bytes as f64 / git_commits as f64
    );
    print_table_sizes(&sizes, ledger_bytes, history.entries);
    if options.disk_only {
        return;
    }

    let ledger_bin = ledger_bin();
    let ledger = |args: &[&str]| ledger_with(&ledger_bin, args);
    let git = |args: &[&str]| {
        let mut command = Command::new("git");
        command.arg("-C").arg(&git_dir).args(args);
        command
    };
    let mut results = Vec::new();
    let runs = options.runs;
    // Each ledger command beside its git counterpart (and the baseline build, when given), run
    // in turn.
    let paired: [(&[&str], &[&str]); 3] = [
        (&["--version"], &["--version"]),
        (&["log", "prod", "-n", "20"], &["log", "-n", "20", "prod"]),
        (&["diff", "stage", "prod"], &["diff", "--stat", "stage", "prod"]),
    ];
    for (ledger_args, git_args) in paired {
        let mut makers: Vec<Box<dyn FnMut() -> Command + '_>> =
            vec![Box::new(|| ledger(ledger_args)), Box::new(|| git(git_args))];
        if let Some(baseline) = &options.baseline {
            makers.push(Box::new(move || ledger_with(baseline, ledger_args)));
        }
        let mut measured = measure_alternately(&mut makers, runs).into_iter();
        let mut next = || measured.next().expect("one measurement per command");
        results.push((format!("ledger {}", ledger_args.join(" ")), next()));
        results.push((format!("git {}", git_args.join(" ")), next()));
        if options.baseline.is_some() {
            results.push((format!("ledger {} (baseline)", ledger_args.join(" ")), next()));
        }
    }
    // The whole history out, as a stream and as a file another ledger (or repository) takes in.
    let bundle_file = options.dir.join("bench.bundle");
    let bundle_path = bundle_file.to_string_lossy().to_string();
    let whole: [(&[&str], &[&str]); 2] = [
        (&["export"], &["fast-export", "--all"]),
        (&["bundle", "create", "--force", &bundle_path], &["bundle", "create", "-q", &bundle_path, "--all"]),
    ];
    for (ledger_args, git_args) in whole {
        let mut makers: Vec<Box<dyn FnMut() -> Command + '_>> =
            vec![Box::new(|| ledger(ledger_args)), Box::new(|| git(git_args))];
        let mut measured = measure_alternately(&mut makers, 3).into_iter();
        let mut next = || measured.next().expect("one measurement per command");
        results.push((format!("ledger {}", ledger_args.join(" ")), next()));
        results.push((format!("git {}", git_args.join(" ")), next()));
    }
    let _ = std::fs::remove_file(&bundle_file);
    results.push(("ledger status".into(), measure(|| ledger(&["status"]), runs)));
    results.push(("ledger --help".into(), measure(|| ledger(&["--help"]), runs)));
    results.push(("ledger verify (all entries)".into(), measure(|| ledger(&["verify"]), 3)));
    results.push(("git rev-list --count prod".into(), measure(|| git(&["rev-list", "--count", "prod"]), 3)));

    // Last: each run appends an entry to the ledger (and a commit to git's `releases`), which
    // the rows above must not see.
    let git_work_tree = releases_work_tree(&git_dir, &options.dir.join("git-releases"));
    let registered = Cell::new(0);
    let register = || {
        registered.set(registered.get() + 1);
        let mut command = ledger(&[
            "register",
            "svc-00",
            &format!("registry.example.com/bench/svc-00:r{}", registered.get()),
        ]);
        if let Some(key) = &signing_key {
            command.env("LEDGER_SIGNING_KEY", key);
        }
        command
    };
    let git_commit = |durable: bool| {
        let mut command = Command::new("git");
        command.arg("-C").arg(&git_work_tree);
        for (name, value) in [("NAME", "bench"), ("EMAIL", "bench@example.com")] {
            command.env(format!("GIT_AUTHOR_{name}"), value).env(format!("GIT_COMMITTER_{name}"), value);
        }
        if durable {
            command.args(["-c", "core.fsync=loose-object,reference"]);
        }
        let image = format!("registry.example.com/bench/svc-00:r{}", registered.get());
        command.args(["commit", "--allow-empty", "-q", "-m", &format!("register svc-00 {image}")]);
        command
    };
    let mut makers: Vec<Box<dyn FnMut() -> Command + '_>> =
        vec![Box::new(register), Box::new(|| git_commit(true)), Box::new(|| git_commit(false))];
    let mut measured = measure_alternately(&mut makers, runs).into_iter();
    let mut next = || measured.next().expect("one measurement per command");
    results.push(("ledger register (durable)".into(), next()));
    results.push(("git commit --allow-empty (durable)".into(), next()));
    results.push(("git commit --allow-empty".into(), next()));

    print_table(&results);
}

fn print_table(results: &[(String, Measurement)]) {
    println!();
    println!("| command | median | min | max | peak RSS | page faults |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, m) in results {
        println!(
            "| `{name}` | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} MiB | {} |",
            ms(m.median),
            ms(m.min),
            ms(m.max),
            m.peak_rss_kib as f64 / 1024.0,
            m.minor_faults
        );
    }
}

fn parse_options() -> Options {
    let mut options = Options {
        entries: 1_000_000,
        dir: PathBuf::from("target/bench"),
        runs: 20,
        baseline: None,
        disk_only: false,
        verify_only: false,
        signed: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--disk-only" {
            options.disk_only = true;
            continue;
        }
        if flag == "--signed" {
            options.signed = true;
            continue;
        }
        let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--entries" => {
                options.entries = value.parse().unwrap_or_else(|_| usage("--entries takes a number"))
            }
            "--dir" => options.dir = PathBuf::from(value),
            "--runs" => options.runs = value.parse().unwrap_or_else(|_| usage("--runs takes a number")),
            "--baseline" => options.baseline = Some(PathBuf::from(value)),
            "--only" if value == "verify" => options.verify_only = true,
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    options
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "ledger-bench: {problem}\nusage: ledger-bench [--entries N] [--dir DIR] [--runs N] [--baseline LEDGER] [--signed] [--disk-only | --only verify]"
    );
    std::process::exit(2)
}

/// Turns signing on for the bench project at `project`: makes an ed25519 key with
/// `ssh-keygen` (no passphrase) at `key_dir/bench_signing_key`, a key for this bench only, and
/// adds `[signing] allowed_signers = "allowed_signers"` to its ledger.toml, listing that key
/// for the generator's and the bench commands' principals. Returns the private key's path (what
/// `LEDGER_SIGNING_KEY` names for the commands that record).
fn sign_project(project: &Path, key_dir: &Path) -> PathBuf {
    // Absolute: `LEDGER_SIGNING_KEY` is read from the project's directory.
    let key_dir = std::path::absolute(key_dir).expect("the bench directory's absolute path");
    let key = ledger_testutil::ssh::generate_key(&key_dir, "bench_signing_key", "ed25519", "");
    let line = format!("{SIGNING_PRINCIPALS} {}\n", ledger_testutil::ssh::public_key_line(&key));
    std::fs::write(project.join("allowed_signers"), line).expect("writing allowed_signers");
    let manifest = format!("{}[signing]\nallowed_signers = \"allowed_signers\"\n", history::manifest());
    std::fs::write(project.join("ledger.toml"), manifest).expect("writing ledger.toml");
    key
}

/// The signer of the key at `private` (from [`sign_project`]), for [`history::generate`].
fn key_file_signer(private: &Path) -> Arc<dyn EntrySigner> {
    let signer =
        ledger::signing::key_file::KeyFileSigner::load(private).expect("loading the bench's signing key");
    Arc::new(signer)
}

/// A work tree of git's `releases` branch at `path`, for the commits that stand beside
/// `ledger register`.
fn releases_work_tree(git_dir: &Path, path: &Path) -> PathBuf {
    // Absolute: `git -C <git_dir> worktree add` takes a relative path from `git_dir`.
    let path = std::path::absolute(path).expect("the work tree's absolute path");
    let status = Command::new("git")
        .arg("-C")
        .arg(git_dir)
        .args(["worktree", "add", "-q"])
        .arg(&path)
        .arg("releases")
        .status()
        .expect("git worktree add");
    assert!(status.success(), "git worktree add failed");
    path
}

/// The same history as git commits: one commit per entry, on one branch per environment (and
/// `releases`), each changing the file that names the service's image.
fn build_git_equivalent(dir: &Path, commits: &[Commit]) -> usize {
    let status = Command::new("git").args(["init", "-q", "--bare"]).arg(dir).status().expect("git init");
    assert!(status.success());
    let mut import = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import");
    let mut stream = std::io::BufWriter::new(import.stdin.take().expect("stdin"));
    let mut last_mark: BTreeMap<&str, usize> = BTreeMap::new();
    let mut time = 1_577_836_800u64;
    for (mark, (branch, message, service, image)) in commits.iter().enumerate() {
        let mark = mark + 1;
        time += 30;
        writeln!(stream, "commit refs/heads/{branch}\nmark :{mark}").unwrap();
        writeln!(stream, "committer ci-bot <ci@example.com> {time} +0000").unwrap();
        writeln!(stream, "data {}\n{message}", message.len()).unwrap();
        if let Some(parent) = last_mark.get(branch.as_str()) {
            writeln!(stream, "from :{parent}").unwrap();
        }
        writeln!(stream, "M 100644 inline state/{service}\ndata {}\n{image}\n", image.len()).unwrap();
        last_mark.insert(branch, mark);
    }
    drop(stream);
    assert!(import.wait().expect("git fast-import").success());
    commits.len()
}

fn print_table_sizes(sizes: &[ledger::store::TableSize], file_bytes: u64, entries: usize) {
    let per_entry = |bytes: u64| bytes as f64 / entries as f64;
    println!();
    println!("| table | rows | pages | B/entry | stored B/entry | slack B/entry |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for size in sizes {
        println!(
            "| `{}` | {} | {:.1} MiB | {:.1} | {:.1} | {:.1} |",
            size.name,
            size.rows,
            mib(size.page_bytes),
            per_entry(size.page_bytes),
            per_entry(size.stored_bytes),
            per_entry(size.fragmented_bytes),
        );
    }
    let tables: u64 = sizes.iter().map(|size| size.page_bytes).sum();
    let rest = file_bytes.saturating_sub(tables);
    println!("| (redb's own, free pages) | | {:.1} MiB | {:.1} | | |", mib(rest), per_entry(rest));
    println!();
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Gives back the slack that bulk transactions leave: each 10k-entry transaction copies much of
/// every tree, where a ledger grown one command at a time reuses its few freed pages.
fn compact(path: &Path) {
    let mut db = redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .open(path)
        .expect("opening the bench ledger");
    while db.compact().expect("compacting the bench ledger") {}
}

/// Repacks fully and returns the pack's size.
fn pack_size(dir: &Path) -> u64 {
    let status =
        Command::new("git").arg("-C").arg(dir).args(["repack", "-adq"]).status().expect("git repack");
    assert!(status.success());
    std::fs::read_dir(dir.join("objects/pack"))
        .expect("the pack directory")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

struct Measurement {
    median: Duration,
    min: Duration,
    max: Duration,
    peak_rss_kib: i64,
    /// The median run's minor page faults (pages the process touched for the first time).
    minor_faults: i64,
}

/// Runs the command `runs` times (after one warm-up) and reports wall times, peak RSS and
/// page faults.
///
/// Each run goes through a fresh copy of this binary (`--spawn-and-report`): Linux carries a
/// process's peak RSS into the children it forks, so the large generator process would otherwise
/// show through in every figure.
fn measure(mut make: impl FnMut() -> Command, runs: usize) -> Measurement {
    let mut times = Vec::with_capacity(runs);
    let mut faults = Vec::with_capacity(runs);
    let mut peak_rss_kib = 0;
    for run in 0..=runs {
        let measured = make();
        let mut reporter = Command::new(std::env::current_exe().expect("the bench binary's path"));
        reporter.arg(SPAWN_AND_REPORT).arg(measured.get_program()).args(measured.get_args());
        if let Some(dir) = measured.get_current_dir() {
            reporter.current_dir(dir);
        }
        for (key, value) in measured.get_envs() {
            match value {
                Some(value) => reporter.env(key, value),
                None => reporter.env_remove(key),
            };
        }
        let output = reporter.stderr(Stdio::inherit()).output().expect("running the measured command");
        assert!(output.status.success(), "a measured command failed");
        let report = String::from_utf8_lossy(&output.stdout);
        let mut report = report.split_whitespace().map(|figure| figure.parse::<i64>().ok());
        let mut next = || report.next().flatten().expect("a report: <nanoseconds> <rss KiB> <minor faults>");
        let (nanos, rss, minor_faults) = (next(), next(), next());
        if run > 0 {
            times.push(Duration::from_nanos(nanos as u64));
            faults.push(minor_faults);
            peak_rss_kib = peak_rss_kib.max(rss);
        }
    }
    times.sort();
    faults.sort();
    Measurement {
        median: times[times.len() / 2],
        min: times[0],
        max: times[times.len() - 1],
        peak_rss_kib,
        minor_faults: faults[faults.len() / 2],
    }
}

/// Measures commands run in turn (a, b, c, a, b, c, …), so that a noisy machine affects them
/// alike; one measurement per command, in order.
fn measure_alternately(makers: &mut [Box<dyn FnMut() -> Command + '_>], runs: usize) -> Vec<Measurement> {
    let mut single_runs: Vec<Vec<Measurement>> = makers.iter().map(|_| Vec::with_capacity(runs)).collect();
    for _ in 0..runs {
        for (make, measured) in makers.iter_mut().zip(&mut single_runs) {
            measured.push(measure(make, 1));
        }
    }
    single_runs.into_iter().map(combine).collect()
}

fn combine(mut single_runs: Vec<Measurement>) -> Measurement {
    single_runs.sort_by_key(|m| m.median);
    Measurement {
        median: single_runs[single_runs.len() / 2].median,
        min: single_runs[0].median,
        max: single_runs[single_runs.len() - 1].median,
        peak_rss_kib: single_runs.iter().map(|m| m.peak_rss_kib).max().unwrap_or(0),
        minor_faults: single_runs[single_runs.len() / 2].minor_faults,
    }
}

const SPAWN_AND_REPORT: &str = "--spawn-and-report";

/// The intermediary: runs the command with its output discarded, prints
/// `<wall ns> <peak RSS KiB> <minor page faults>`.
fn spawn_and_report(program: &str, args: &[String]) -> ! {
    let started = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning the measured command");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 only writes to the two
    // out-pointers, which live for the whole call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    if waited <= 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        eprintln!("ledger-bench: {program} {args:?} failed (status {status})");
        std::process::exit(1);
    }
    println!("{} {} {}", elapsed.as_nanos(), usage.ru_maxrss, usage.ru_minflt);
    std::process::exit(0)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
