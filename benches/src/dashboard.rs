//! The dashboard on a large history: `ledger serve` (release build) on the generated ledger,
//! with its clock set to the end of that history (so `/metrics` windows hold deployments), each
//! page and API route requested over HTTP, median and slowest of the runs.
//!
//!     ./scripts/dist
//!     target/dist/ledger-bench-dashboard [--entries 1000000] [--dir target/bench-dashboard] [--runs 20]

mod history;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let (entries, dir, runs) = parse_options();
    let ledger = history::ledger_binary().unwrap_or_else(|problem| usage(&problem));
    let project = history::new_project(&dir);
    let generated = history::generate(&project.join(".ledger"), entries, None, |_| {});
    println!(
        "history: {} entries ({} deployments per environment), generated through the library",
        generated.entries, generated.deployments_per_env
    );

    // An hour after the last entry: a 20-week window holds the whole history.
    let now = generated.end.plus_seconds(3_600).to_rfc3339();
    let mut server = Command::new(&ledger)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("LEDGER_TIMESTAMP", &now)
        .current_dir(&project)
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting ledger serve");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("serve's stdout"))
        .read_line(&mut line)
        .expect("serve's address");
    let address = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http://"))
        .map(|address| address.trim_end_matches('/').to_string())
        .unwrap_or_else(|| panic!("serve printed {line:?}"));

    let release = get(&address, "/api/entry/service%2Fsvc-00");
    let release_id =
        release.split("\"id\": \"").nth(1).map(|rest| rest[..12].to_string()).expect("a release id");
    let last_page = generated.deployments_per_env.div_ceil(20);
    let routes = [
        "/".to_string(),
        "/env/prod".into(),
        format!("/env/prod?page={}", last_page.min(1_000_000)),
        "/env/prod?service=svc-03".into(),
        format!("/entry/{release_id}"),
        "/diff?from=stage&to=prod".into(),
        "/metrics".into(),
        "/metrics?weeks=20".into(),
        "/api/status".into(),
        "/api/log/prod".into(),
        "/api/diff?from=stage&to=prod".into(),
    ];
    println!("clock (LEDGER_TIMESTAMP): {now}");
    for line in get(&address, "/metrics?weeks=20").lines().filter(|line| line.contains("data-counted")) {
        let counted = line.split('>').nth(1).and_then(|text| text.split('<').next()).unwrap_or(line);
        println!("/metrics?weeks=20: {}", counted.trim());
    }
    println!("{runs} runs each, over HTTP on loopback (median / slowest):");
    for route in &routes {
        let mut times = Vec::with_capacity(runs);
        let mut bytes = 0;
        for _ in 0..runs {
            let started = Instant::now();
            bytes = get(&address, route).len();
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "  {route:<32} {:>9} / {:>9}  {bytes} bytes",
            millis(times[times.len() / 2]),
            millis(times[times.len() - 1])
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// A GET that must answer 200: the body.
fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connecting to ledger serve");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").expect("sending");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reading the answer");
    assert!(response.starts_with("HTTP/1.1 200"), "{path}: {}", response.lines().next().unwrap_or(""));
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1_000.0)
}

fn parse_options() -> (usize, PathBuf, usize) {
    let (mut entries, mut dir, mut runs) = (1_000_000, PathBuf::from("target/bench-dashboard"), 20);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--entries" => entries = value.parse().unwrap_or_else(|_| usage("--entries takes a number")),
            "--runs" => {
                runs = value
                    .parse()
                    .ok()
                    .filter(|r| *r > 0)
                    .unwrap_or_else(|| usage("--runs takes a number above 0"))
            }
            "--dir" => dir = PathBuf::from(value),
            other => usage(&format!("unknown option {other}")),
        }
    }
    (entries, dir, runs)
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: ledger-bench-dashboard [--entries N] [--dir DIR] [--runs N]");
    std::process::exit(2);
}
