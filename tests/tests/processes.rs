//! Several `ledger` processes on one ledger: concurrent writers, processes killed half-way, and
//! a reader that goes away.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use ledger_testutil::entries;
use ledger_testutil::process::{Project, manifest_with_services};

#[test]
fn eight_parallel_registers_record_eight_releases() {
    let project = Project::new(&manifest_with_services(2));
    project.ok(&["init"]);
    let children: Vec<_> = (0..8)
        .map(|n| {
            project
                .command(&["register", "s0", &format!("registry.example.com/e2e/s0:v{n}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawning ledger")
        })
        .collect();
    let mut printed = BTreeSet::new();
    for child in children {
        let output = child.wait_with_output().expect("waiting for ledger");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        printed.insert(String::from_utf8(output.stdout).unwrap().trim().to_string());
    }
    assert_eq!(printed.len(), 8);

    // All eight are in the ledger, in one linear chain for the service.
    let entries = project.json(&["log", "--service", "s0", "-n", "100"]);
    let entries = entries["entries"].as_array().unwrap();
    let ids: BTreeSet<String> = entries.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, printed);
    let roots = entries.iter().filter(|e| e["parents"].as_array().unwrap().is_empty()).count();
    assert_eq!(roots, 1, "one first release; every other one chains to its predecessor");
    let parents: BTreeSet<&str> = entries.iter().filter_map(|e| e["parents"][0].as_str()).collect();
    assert_eq!(parents.len(), 7, "no two releases share a parent: nothing was lost");
    project.ok(&["verify"]);
}

#[test]
fn parallel_applies_to_one_environment_never_interleave() {
    let project = Project::new(&manifest_with_services(4));
    project.ok(&["init"]);
    for n in 0..4 {
        project.ok(&["register", &format!("s{n}"), &format!("registry.example.com/e2e/s{n}:v1")]);
    }
    let children: Vec<_> = (0..4)
        .map(|n| {
            project
                .command(&["apply", "latest", "stage", "--service", &format!("s{n}"), "--yes"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut succeeded = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        match output.status.code() {
            Some(0) => succeeded += 1,
            // Refused, nothing recorded: the environment was locked by another apply, or (past
            // the lock) planned against a head another process moved.
            Some(3) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(
                    stderr.contains("environment stage is locked by")
                        || stderr.contains("changed since this plan was made"),
                    "{stderr}"
                );
            }
            other => panic!("unexpected exit {other:?}: {}", String::from_utf8_lossy(&output.stderr)),
        }
    }
    assert!(succeeded >= 1);
    let log = project.json(&["log", "stage", "-n", "100"]);
    let deployments = log["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), succeeded, "every acknowledged apply is recorded, and only those");
    assert!(deployments.iter().all(|d| d["result"] == "succeeded"));
    let state = &project.json(&["status", "stage"])["environments"][0]["state"];
    assert_eq!(state.as_object().unwrap().len(), succeeded);
    project.ok(&["verify"]);
}

#[test]
fn processes_killed_half_way_leave_the_ledger_whole() {
    let project = Project::new(&manifest_with_services(1));
    project.ok(&["init"]);
    let mut acknowledged = BTreeSet::new();
    for round in 0..40u64 {
        let mut children: Vec<_> = (0..3)
            .map(|n| {
                project
                    .command(&["register", "s0", &format!("registry.example.com/e2e/s0:r{round}-{n}")])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // Kill one at a varying moment: before, during or after its write.
        std::thread::sleep(Duration::from_micros(round * 150));
        children[0].kill().ok();
        for child in children {
            let output = child.wait_with_output().unwrap();
            if output.status.success() {
                acknowledged.insert(String::from_utf8(output.stdout).unwrap().trim().to_string());
            }
        }
    }
    let verify = project.output(&["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let recorded: BTreeSet<String> = project.json(&["log", "-n", "1000"])["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(acknowledged.is_subset(&recorded), "a release that was acknowledged is missing");
    assert!(acknowledged.len() >= 80, "most registers were not killed: {}", acknowledged.len());
}

#[test]
fn a_reader_that_stops_reading_ends_the_command_quietly() {
    // More output than a pipe holds, so `ledger` is still writing when the reader goes away.
    let project = Project::new(&manifest_with_services(1));
    project.ok(&["init"]);
    let store = ledger::Store::open(&project.path().join(".ledger")).unwrap();
    store
        .write(|w| {
            for n in 0..3_000 {
                w.record_release(entries::stamp(n), entries::release("s0", &format!("v{n}")))?;
            }
            Ok::<_, ledger::StoreError>(())
        })
        .unwrap();
    drop(store);
    for args in [&["log", "-n", "100000"][..], &["log", "-n", "100000", "--output", "json"], &["export"]] {
        let mut child = project.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        // The reader is dropped here, as `head -1` exits after its line.
        let output = child.wait_with_output().unwrap();
        assert!(!first.is_empty());
        assert_eq!(output.status.code(), Some(0), "ledger {args:?} | head -1");
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "ledger {args:?} | head -1");
    }
}
