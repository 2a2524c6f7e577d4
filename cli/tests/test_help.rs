use insta::assert_snapshot;

use ledger_testutil::process::Project;

#[test]
fn help_teaches_the_everyday_commands() {
    let env = Project::empty().with_fixed_clock();
    assert_snapshot!(env.run(&["--help"]).stdout);
}

#[test]
fn every_command_has_help_that_explains_it() {
    let env = Project::empty().with_fixed_clock();
    // Every command `ledger --help` lists, so a new command cannot go without help.
    let top = env.run(&["--help"]).stdout;
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.strip_prefix("  ")) // deeper lines continue a description
        .filter(|line| !line.starts_with(' '))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|command| *command != "help")
        .collect();
    assert!(commands.len() >= 17, "{top}");
    let mut all = String::new();
    for command in commands {
        let run = env.run(&[command, "--help"]);
        assert_eq!(run.code, 0, "{command}");
        all.push_str(&format!("===== ledger {command} --help\n{}", run.stdout));
    }
    assert_snapshot!(all);
}

#[test]
fn completions_and_man_page() {
    let env = Project::empty().with_fixed_clock();
    let bash = env.run(&["completions", "bash"]);
    assert!(bash.code == 0 && bash.stdout.contains("promote") && bash.stdout.contains("--dry-run"));
    let zsh = env.run(&["completions", "zsh"]);
    assert!(zsh.code == 0 && zsh.stdout.contains("#compdef ledger"));
    let man = env.run(&["man"]);
    assert!(man.code == 0 && man.stdout.contains(".TH ledger") && man.stdout.contains("rollback"));
}
