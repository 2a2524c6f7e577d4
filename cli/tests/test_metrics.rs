use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use insta::assert_snapshot;
use ledger_testutil::process::Project;

/// stage and prod, each deployed to twice (the releases' commits an hour or so before).
fn delivered() -> Project {
    let env = Project::sample().with_fixed_clock();
    for version in ["1.0", "1.1"] {
        env.register_all(version);
        env.ok(&["apply", "latest", "stage", "--yes"]);
        env.ok(&["promote", "stage", "prod", "--yes"]);
    }
    env
}

#[test]
fn metrics_human_and_json() {
    let env = delivered();
    assert_snapshot!(env.run(&["metrics", "--weeks", "2"]).render());
    assert_snapshot!(
        "metrics_json",
        serde_json::to_string_pretty(&env.json(&["metrics", "--weeks", "2"])).unwrap()
    );
    assert_snapshot!("metrics_weeks_out_of_range", env.run(&["metrics", "--weeks", "0"]).render());
}

/// The body of a GET to a running `ledger serve`.
fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response.split_once("\r\n\r\n").unwrap().1.to_string()
}

#[test]
fn the_figures_are_the_dashboard_s() {
    let env = delivered();
    let json = env.json(&["metrics", "--weeks", "3"]);
    // The dashboard, its clock set as the command's was (each run a minute later).
    let mut server = env.command(&["serve", "--addr", "127.0.0.1:0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address =
        line.split_whitespace().find_map(|w| w.strip_prefix("http://")).unwrap().trim_end_matches('/');
    let page = get(address, "/metrics?weeks=3");
    let _ = server.kill();
    let _ = server.wait();

    for figures in json["environments"].as_array().unwrap() {
        let env_name = figures["env"].as_str().unwrap();
        let section = &page[page.find(&format!(r#"data-env="{env_name}""#)).unwrap()..];
        let shown = |metric: &str| {
            let start = section.find(&format!(r#"data-metric="{metric}">"#)).unwrap() + metric.len() + 15;
            section[start..start + section[start..].find('<').unwrap()].to_string()
        };
        assert_eq!(shown("deployments"), figures["deployments"].to_string());
        let percent = figures["failure_percent"].as_u64().map_or("–".to_string(), |p| format!("{p}%"));
        assert_eq!(shown("change failure rate"), percent);
        let lead =
            figures["median_lead_seconds"].as_i64().map_or("–".to_string(), ledger_app::metrics::duration);
        assert_eq!(shown("median lead time"), lead);
        assert!(figures["deployments"].as_u64().unwrap() > 0);
    }
}
