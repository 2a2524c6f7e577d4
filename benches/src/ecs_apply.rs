//! Times `ledger apply` of a release set to ECS against the local AWS emulator (tests/moto),
//! and counts the AWS calls each apply made, by action, against its formula.
//!
//!     LEDGER_TEST_PYTHON=target/moto-venv/bin/python target/dist/ledger-bench-ecs \
//!         [--services 5,20] [--runs 5] [--poll-interval 1s] [--strategy rolling|blue-green]
//!
//! Every run applies to a fresh cluster whose services run `v0`, taking each to `v1`. The
//! services are described twice (for the plan, and before the updates), then their service
//! deployments are polled: a rolling one is seen in progress twice, then SUCCESSFUL (3 polls); a
//! blue/green one (5-minute bake time, 2 looks of BAKE_TIME) goes through 10 lifecycle stages,
//! one per look, then SUCCESSFUL (11 polls).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ledger_testutil::moto::{Moto, repository};

/// How many times an apply describes the services: for the plan, and before the updates.
const LOOKS: u64 = 2;

struct Options {
    /// The sizes of release set measured, one after the other.
    services: Vec<usize>,
    runs: usize,
    poll_interval: String,
    /// Blue/green instead of rolling.
    blue_green: bool,
}

impl Options {
    /// How many times the emulator's service deployments are polled until SUCCESSFUL.
    fn polls(&self) -> u64 {
        if self.blue_green { 11 } else { 3 }
    }
}

fn main() {
    let options = parse_options();
    let ledger = std::env::current_exe().expect("the bench binary's path").with_file_name("ledger");
    if !ledger.is_file() {
        usage(&format!("{} not found: build it with `./scripts/dist`", ledger.display()));
    }
    let moto = Moto::start();
    for &count in &options.services {
        measure(&ledger, &moto, count, &options);
    }
}

/// Applies `count` services `options.runs` times; prints the times and the calls of the last
/// apply by action, and checks them against their formula: 5 per service, 1 per 10 services per
/// look, 1 per 20 services per poll, and 1.
fn measure(ledger: &Path, moto: &Moto, count: usize, options: &Options) {
    let services: Vec<String> = (1..=count).map(|n| format!("svc-{n}")).collect();
    let mut times = Vec::new();
    let mut calls = BTreeMap::new();
    for run in 0..options.runs {
        let cluster = format!("bench-{count}-{run}");
        moto.create_cluster(&cluster);
        for service in &services {
            moto.create_service(&cluster, service, "app", &image(service, "v0"));
            if options.blue_green {
                let blue_green = serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5});
                moto.configure_deployments(&cluster, service, blue_green);
            }
        }
        let project = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(project.path().join("ledger.toml"), manifest(&cluster, &services, options))
            .expect("writing ledger.toml");
        let ledger_in = |args: &[&str]| run_ledger(ledger, project.path(), moto, args);
        ledger_in(&["init"]);
        for service in &services {
            ledger_in(&["register", service, &image(service, "v1")]);
        }
        moto.reset_calls();
        let started = Instant::now();
        ledger_in(&["apply", "latest", "bench", "--yes"]);
        times.push(started.elapsed());
        calls = moto.calls();
    }

    times.sort();
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!(
        "ledger apply of {count} {} services, poll interval {}, {} runs: median {}, min {}, max {}",
        if options.blue_green { "blue/green" } else { "rolling" },
        options.poll_interval,
        options.runs,
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    let total = calls.values().sum::<u64>();
    println!("AWS calls of the last apply: {total} in all");
    for (call, count) in &calls {
        println!("  {call}: {count}");
    }
    let n = count as u64;
    let polls = options.polls();
    let bound = 5 * n + n.div_ceil(10) * LOOKS + n.div_ceil(20) * polls + 1;
    let verdict = if total <= bound { "met" } else { "NOT met" };
    println!(
        "bound: 5 per service + 1 per 10 services per look ({LOOKS} looks) + 1 per 20 services per poll ({polls} polls) + 1 \
         = 5×{n} + {}×{LOOKS} + {}×{polls} + 1 = {bound}; {total} ≤ {bound}: {verdict}",
        n.div_ceil(10),
        n.div_ceil(20)
    );
}

fn image(service: &str, tag: &str) -> String {
    format!("{}:{tag}", repository(&format!("bench/{service}")))
}

fn manifest(cluster: &str, services: &[String], options: &Options) -> String {
    let mut manifest = format!(
        "[project]\nid = \"bench\"\n\n[environments.bench]\ncluster = \"{cluster}\"\npoll_interval = \"{}\"\n",
        options.poll_interval
    );
    for service in services {
        manifest.push_str(&format!(
            "\n[services.{service}]\nimage_repository = \"{}\"\ncontainer = \"app\"\n",
            repository(&format!("bench/{service}"))
        ));
    }
    manifest
}

fn run_ledger(ledger: &Path, project: &Path, moto: &Moto, args: &[&str]) {
    let output = Command::new(ledger)
        .args(args)
        .current_dir(project)
        .envs(moto.env())
        .env("LEDGER_ACTOR", "bench <bench@example.com>")
        .output()
        .expect("running ledger");
    if !output.status.success() {
        panic!("ledger {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
}

fn parse_options() -> Options {
    let mut options =
        Options { services: vec![5, 20], runs: 5, poll_interval: "1s".into(), blue_green: false };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let count = || value.parse().ok().filter(|n| *n > 0).unwrap_or_else(|| usage(&format!("bad {flag}")));
        match flag.as_str() {
            "--services" => {
                let sizes: Option<Vec<usize>> =
                    value.split(',').map(|n| n.parse().ok().filter(|n| *n > 0)).collect();
                options.services = sizes.unwrap_or_else(|| usage(&format!("bad {flag}")));
            }
            "--runs" => options.runs = count(),
            "--poll-interval" => options.poll_interval = value.clone(),
            "--strategy" => {
                options.blue_green = match value.as_str() {
                    "rolling" => false,
                    "blue-green" => true,
                    _ => usage(&format!("bad {flag}: rolling or blue-green")),
                }
            }
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    options
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "ledger-bench-ecs: {problem}\nusage: ledger-bench-ecs [--services N[,N…]] [--runs N] [--poll-interval 1s] [--strategy rolling|blue-green]"
    );
    std::process::exit(2)
}
