//! The README's walk-through runs as written: every `ledger` line of it, in order, succeeds.

use ledger_testutil::process::Project;

const README: &str = include_str!("../../README.md");

/// The `ledger …` lines of the walk-through block, split into arguments.
fn walkthrough() -> Vec<Vec<String>> {
    let start = README.find("<!-- walkthrough:").expect("the README has a walk-through");
    let end = README[start..].find("<!-- end of walk-through -->").expect("the walk-through ends") + start;
    README[start..end]
        .lines()
        .filter_map(|line| line.strip_prefix("ledger "))
        .map(|line| split_words(strip_comment(line)))
        .collect()
}

/// Drops a trailing `# comment` (outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return line[..i].trim_end(),
            _ => {}
        }
    }
    line.trim_end()
}

/// Splits on spaces, keeping "double-quoted words" whole.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[test]
fn every_walkthrough_command_succeeds() {
    let commands = walkthrough();
    assert!(commands.len() >= 10, "the walk-through lost its commands: {commands:?}");
    let project = Project::empty();
    for args in &commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        project.ok(&args);
    }
    // What the walk-through says it did, it did.
    let prod = project.json(&["status", "prod"]);
    let state = prod["environments"][0]["state"].as_object().unwrap();
    assert_eq!(state.keys().collect::<Vec<_>>(), ["api", "search", "worker"]);
    assert_eq!(project.json(&["log", "prod"])["deployments"][0]["message"], "ship 1.4");
}

#[test]
fn comments_and_quotes_are_parsed() {
    assert_eq!(
        split_words(strip_comment(r#"release frontend -m "a # b"   # note"#)),
        ["release", "frontend", "-m", "a # b"]
    );
}
