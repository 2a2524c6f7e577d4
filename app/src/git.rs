//! What the current directory's git repository knows: commit subjects and times, the user's
//! identity. Every helper answers `None` when git or the commit is not there.

use std::path::Path;
use std::process::{Command, Stdio};

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim_end().to_string();
    (!text.is_empty()).then_some(text)
}

/// A commit the repository has: its full hash, subject and commit time (Unix seconds).
pub struct Commit {
    pub hash: String,
    pub subject: String,
    pub time: i64,
}

pub fn commit(dir: &Path, revision: &str) -> Option<Commit> {
    let spec = format!("{revision}^{{commit}}");
    let hash = git(dir, &["rev-parse", "--verify", "--quiet", "--end-of-options", &spec])?;
    let line = git(dir, &["show", "-s", "--format=%ct %s", &hash])?;
    let (time, subject) = line.split_once(' ').unwrap_or((line.as_str(), ""));
    Some(Commit { hash, subject: subject.to_string(), time: time.parse().ok()? })
}

/// `hash subject` of the commits reachable from `to` and not from `from`, newest first.
pub fn commits_between(dir: &Path, from: &str, to: &str, limit: usize) -> Option<Vec<String>> {
    let range = format!("{from}..{to}");
    let max = format!("--max-count={limit}");
    let text = git(dir, &["log", "--format=%h %s", &max, "--end-of-options", &range]);
    // An empty range is a real answer; a failure (unknown commit) is not.
    match text {
        Some(text) => Some(text.lines().map(str::to_string).collect()),
        None => commit(dir, to).and(commit(dir, from)).map(|_| Vec::new()),
    }
}

/// `name <email>` from git's configuration.
pub fn identity(dir: &Path) -> Option<String> {
    let name = git(dir, &["config", "user.name"])?;
    Some(match git(dir, &["config", "user.email"]) {
        Some(email) => format!("{name} <{email}>"),
        None => name,
    })
}
