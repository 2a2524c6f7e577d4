//! Sharing a large ledger through S3, against the local emulator (tests/moto): the full push of
//! a history (in packs), one release and one deployment onto a remote that holds all of it, a
//! pull with nothing new, and a full clone; each timed, with its requests counted by action.
//!
//!     LEDGER_TEST_PYTHON=target/moto-venv/bin/python \
//!         target/dist/ledger-bench-remote [--entries 1000000] [--dir target/bench-remote]

mod history;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ledger_testutil::moto::Moto;

const URL: &str = "s3://bench/ledger";

fn main() {
    let (entries, dir) = parse_options();
    let ledger = history::ledger_binary().unwrap_or_else(|problem| usage(&problem));
    let project = history::new_project(&dir);
    let generated = history::generate(&project.join(".ledger"), entries, None, |_| {});
    println!(
        "history: {} entries ({} deployments per environment), generated through the library",
        generated.entries, generated.deployments_per_env
    );

    let moto = Moto::start();
    moto.create_bucket("bench");
    let run = |args: &[&str]| -> (Duration, BTreeMap<String, u64>) {
        moto.reset_calls();
        let started = Instant::now();
        run_ledger(&ledger, &project, &moto, args);
        (started.elapsed(), moto.calls())
    };
    run(&["remote", "add", "origin", URL]);
    report("full push (`ledger push`)", run(&["push"]));
    report(
        "a release onto it (`ledger register`)",
        run(&["register", "svc-00", "registry.example.com/bench/svc-00:new"]),
    );
    report(
        "a deployment onto it (`ledger apply latest dev --service svc-00`)",
        run(&["apply", "latest", "dev", "--service", "svc-00", "--yes"]),
    );
    report("a pull with nothing new (`ledger pull`)", run(&["pull"]));
    let clone = dir.join("clone");
    report("full clone (`ledger clone`)", run(&["clone", URL, &clone.display().to_string()]));
}

fn report(what: &str, (elapsed, calls): (Duration, BTreeMap<String, u64>)) {
    let total: u64 = calls.values().sum();
    let by_kind: Vec<String> = calls.iter().map(|(call, n)| format!("{call} {n}")).collect();
    println!("{what}: {:.2} s, {total} requests ({})", elapsed.as_secs_f64(), by_kind.join(", "));
}

fn run_ledger(ledger: &Path, project: &Path, moto: &Moto, args: &[&str]) {
    let output = Command::new(ledger)
        .args(args)
        .current_dir(project)
        .env("LEDGER_ACTOR", "bench <bench@example.com>")
        .envs(moto.env())
        .output()
        .expect("running ledger");
    assert!(output.status.success(), "ledger {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

fn parse_options() -> (usize, PathBuf) {
    let (mut entries, mut dir) = (1_000_000, PathBuf::from("target/bench-remote"));
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--entries" => entries = value.parse().unwrap_or_else(|_| usage("--entries takes a number")),
            "--dir" => dir = PathBuf::from(value),
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    (entries, dir)
}

fn usage(problem: &str) -> ! {
    eprintln!("ledger-bench-remote: {problem}\nusage: ledger-bench-remote [--entries N] [--dir DIR]");
    std::process::exit(2)
}
