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
