//! A ledger file damaged on disk: every command ends with a clear error or a correct answer,
//! never a crash, and `verify` finds whatever made another command fail.

use ledger_testutil::process::{Project, manifest_with_services};

#[test]
fn damage_anywhere_in_the_file_never_crashes_a_command() {
    let project = Project::new(&manifest_with_services(2));
    project.ok(&["init"]);
    for n in 0..2 {
        project.ok(&["register", &format!("s{n}"), &format!("registry.example.com/e2e/s{n}:v1")]);
    }
    project.ok(&["apply", "latest", "stage", "--yes"]);
    project.ok(&["promote", "stage", "prod", "--yes"]);
    let file = project.path().join(".ledger/ledger.redb");
    let pristine = std::fs::read(&file).unwrap();

    let mut verify_found_damage = 0;
    for offset in (0..pristine.len()).step_by(1024) {
        let mut damaged = pristine.clone();
        for byte in &mut damaged[offset..(offset + 4).min(pristine.len())] {
            *byte ^= 0x5a;
        }
        let mut failed_reads = Vec::new();
        let commands: [&[&str]; 6] = [
            &["log"],
            &["log", "prod"],
            &["status"],
            &["diff", "stage", "prod"],
            &["show", "prod"],
            &["register", "s0", "registry.example.com/e2e/s0:v2"],
        ];
        for args in commands {
            std::fs::write(&file, &damaged).unwrap();
            let output = project.output(args);
            let stderr = String::from_utf8_lossy(&output.stderr);
            let code = output.status.code();
            assert!(
                matches!(code, Some(0) | Some(3)),
                "ledger {args:?} with damage at byte {offset}: exit {code:?}\n{stderr}"
            );
            assert!(!stderr.contains("thread 'main'"), "a raw panic at byte {offset}:\n{stderr}");
            if code == Some(3) {
                assert!(stderr.starts_with("error: "), "{stderr}");
                failed_reads.push(args);
            }
        }
        std::fs::write(&file, &damaged).unwrap();
        let verify = project.output(&["verify"]);
        let code = verify.status.code();
        assert!(matches!(code, Some(0) | Some(3)), "verify with damage at byte {offset}: exit {code:?}");
        if code == Some(3) {
            verify_found_damage += 1;
        }
        assert!(
            failed_reads.is_empty() || code == Some(3),
            "damage at byte {offset} broke {failed_reads:?}, and verify found nothing"
        );
    }
    assert!(verify_found_damage > 0, "no damage was ever detected: the test damaged nothing that matters");
    std::fs::write(&file, &pristine).unwrap();
    project.ok(&["verify"]);
}

/// The read commands a damaged file must never answer wrongly.
const READS: [&[&str]; 6] =
    [&["status"], &["log"], &["log", "prod"], &["show", "prod"], &["show", "s0"], &["diff", "stage", "prod"]];

/// stage and prod run s0 v1.1.0 and s1 v1.0.0; stage then moves to s0 v1.2.0, so that a
/// promotion to prod has something to do. Every command sees the same clock.
fn promoted_project() -> Project {
    let project = Project::new(&manifest_with_services(2))
        .with_env(vec![("LEDGER_TIMESTAMP", "2026-11-01T08:00:00Z".to_string())]);
    project.ok(&["init"]);
    project.ok(&["register", "s0", "registry.example.com/e2e/s0:v1.1.0"]);
    project.ok(&["register", "s1", "registry.example.com/e2e/s1:v1.0.0"]);
    project.ok(&["apply", "latest", "stage", "--yes"]);
    project.ok(&["promote", "stage", "prod", "--yes"]);
    project.ok(&["register", "s0", "registry.example.com/e2e/s0:v1.2.0"]);
    project.ok(&["apply", "latest", "stage", "--yes"]);
    project
}

/// Replaces every copy of `from` in the file (copy-on-write leaves old copies of pages).
fn alter(file: &std::path::Path, from: &[u8], to: &[u8]) {
    let mut bytes = std::fs::read(file).unwrap();
    let mut altered = 0;
    for start in 0..bytes.len().saturating_sub(from.len() - 1) {
        if &bytes[start..start + from.len()] == from {
            bytes[start..start + to.len()].copy_from_slice(to);
            altered += 1;
        }
    }
    assert!(altered > 0, "nothing to alter");
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn an_altered_release_stops_every_read_and_records_nothing() {
    let project = promoted_project();
    let entries = project.entry_count();
    alter(&project.path().join(".ledger/ledger.redb"), b"s0:v1.1.0", b"s0:v1.9.0");
    // (`show s0` is not among them: s0's latest release is v1.2.0, which is sound.)
    let reads: [&[&str]; 5] =
        [&["status"], &["log"], &["log", "prod"], &["show", "prod"], &["diff", "stage", "prod"]];
    for args in reads {
        let run = project.run(args);
        assert_eq!(run.code, 3, "ledger {args:?}:\n{}", run.render());
        assert!(
            !run.stdout.contains("v1.9.0"),
            "ledger {args:?} showed the altered release:\n{}",
            run.render()
        );
        assert!(run.stderr.starts_with("error: the ledger file is damaged: "), "{}", run.stderr);
        assert!(run.stderr.contains("run `ledger verify`"), "{}", run.stderr);
    }
    let promote = project.run(&["promote", "stage", "prod", "--yes"]);
    assert_eq!(promote.code, 3, "{}", promote.render());
    assert!(promote.stderr.contains("the ledger file is damaged"), "{}", promote.stderr);
    alter(&project.path().join(".ledger/ledger.redb"), b"s0:v1.9.0", b"s0:v1.1.0");
    assert_eq!(project.entry_count(), entries, "the promotion recorded something");
    project.ok(&["verify"]);
}

/// A small deterministic generator (splitmix64), so that every run flips the same bytes.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The measurement: single random byte changes, half of them inside the stored
/// entries (in every copy of their bytes the file holds), half anywhere in the pages that hold
/// data (a page of zeros holds none); every read either fails or prints exactly what it printed
/// before, never a wrong answer with exit 0.
#[test]
fn a_random_byte_changed_never_gives_a_wrong_answer() {
    const FLIPS: usize = 150;
    let project = promoted_project();
    let file = project.path().join(".ledger/ledger.redb");
    let pristine = std::fs::read(&file).unwrap();
    let answers: Vec<String> = READS.iter().map(|args| project.ok(args)).collect();
    let mut entries = Vec::new();
    let store = ledger::Store::open_for_reading(&project.path().join(".ledger")).unwrap();
    store
        .read()
        .unwrap()
        .for_each_entry(|_, bytes| {
            // The row as the file holds it: the entry packed as the store packs it.
            entries.push(ledger::packing::pack(bytes));
            Ok(())
        })
        .unwrap();
    drop(store);
    let copies: Vec<Vec<usize>> = entries
        .iter()
        .map(|bytes| {
            (0..=pristine.len() - bytes.len()).filter(|at| pristine[*at..].starts_with(bytes)).collect()
        })
        .collect();
    let page = 4096;
    let used: Vec<usize> = (0..pristine.len())
        .step_by(page)
        .filter(|start| pristine[*start..(*start + page).min(pristine.len())].iter().any(|b| *b != 0))
        .collect();
    let mut state = 12;
    let (mut refused, mut same) = (0, 0);
    for flip in 0..FLIPS {
        let mut damaged = pristine.clone();
        let change = (next(&mut state) % 255 + 1) as u8;
        let offsets: Vec<usize> = if flip % 2 == 0 {
            let entry = (next(&mut state) % entries.len() as u64) as usize;
            let within = (next(&mut state) % entries[entry].len() as u64) as usize;
            copies[entry].iter().map(|start| start + within).collect()
        } else {
            let start = used[(next(&mut state) % used.len() as u64) as usize];
            vec![(start + (next(&mut state) % page as u64) as usize).min(pristine.len() - 1)]
        };
        for offset in &offsets {
            damaged[*offset] ^= change;
        }
        for (args, answer) in READS.iter().zip(&answers) {
            std::fs::write(&file, &damaged).unwrap();
            let run = project.run(args);
            match run.code {
                0 => {
                    assert_eq!(
                        &run.stdout, answer,
                        "flip {flip}: bytes {offsets:?} changed, and ledger {args:?} answered wrongly with exit 0"
                    );
                    same += 1;
                }
                3 => refused += 1,
                code => {
                    panic!("flip {flip}, bytes {offsets:?}: ledger {args:?} exited {code}\n{}", run.render())
                }
            }
        }
    }
    eprintln!("{FLIPS} flips: {refused} reads refused, {same} answered as before");
    assert!(refused > 0, "no flip was ever noticed: the test damaged nothing that matters");
    std::fs::write(&file, &pristine).unwrap();
}
