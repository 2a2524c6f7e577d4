//! Fuzzing, on stable Rust and in the normal test run, of the core's parsers of outside bytes:
//! image references, names, refs, timestamps, durations, id prefixes, freeze windows and the
//! manifest. Each
//! gets arbitrary input and mutations of valid input; none may panic, and what is accepted
//! must read back as itself. (Entry decoding is fuzzed in `encoding.rs`, beside its strategies.)

use std::path::Path;

use ledger::Timestamp;
use ledger::calendar::FreezeWindow;
use ledger::id::HexPrefix;
use ledger::image::ImageRef;
use ledger::manifest::{EXAMPLE, Manifest, parse_duration};
use ledger::name::{MAX_NAME_LEN, NameKind, validate};
use ledger::policy::{format_span, parse_span};
use ledger::refs::RefName;
use proptest::prelude::*;
use proptest::sample::Index;

/// Cases per property: the cheap parsers get many, the manifest (a TOML parse) fewer.
const CASES: u32 = 4096;
const MANIFEST_CASES: u32 = 1024;

/// One change to a text: a character replaced, inserted or removed, or the text cut short.
#[derive(Clone, Debug)]
enum Edit {
    Replace(Index, char),
    Insert(Index, char),
    Remove(Index),
    Truncate(Index),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    // Characters a parser cares about, and any character at all.
    let interesting = prop_oneof![
        prop::sample::select(vec![
            '/', ':', '@', '.', '-', '_', '=', '[', ']', '"', '\'', '\n', '#', '{', '}', ',', 'T', 'Z', '+',
            '0', '9', 'a', 'A', '\u{0}', '\u{1b}', '\u{202e}', 'é'
        ]),
        any::<char>(),
    ];
    prop_oneof![
        (any::<Index>(), interesting.clone()).prop_map(|(at, c)| Edit::Replace(at, c)),
        (any::<Index>(), interesting).prop_map(|(at, c)| Edit::Insert(at, c)),
        any::<Index>().prop_map(Edit::Remove),
        any::<Index>().prop_map(Edit::Truncate),
    ]
}

/// `text` with `edits` applied in turn (at character boundaries).
fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let at = |index: &Index, len: usize| if len == 0 { 0 } else { index.index(len) };
        match edit {
            Edit::Replace(index, c) if !chars.is_empty() => {
                let i = at(index, chars.len());
                chars[i] = *c;
            }
            Edit::Insert(index, c) => {
                let i = at(index, chars.len() + 1);
                chars.insert(i, *c);
            }
            Edit::Remove(index) if !chars.is_empty() => {
                let i = at(index, chars.len());
                chars.remove(i);
            }
            Edit::Truncate(index) => {
                let i = at(index, chars.len() + 1);
                chars.truncate(i);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn arb_edits(most: usize) -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(arb_edit(), 1..=most)
}

const IMAGES: [&str; 5] = [
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api:v1.4.0",
    "registry.example.com:5000/team/search@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "docker.io/library/nginx:1.27-alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "localhost/worker",
    "ghcr.io/org/app_name:latest",
];

const REFS: [&str; 5] = ["env/prod", "service/api", "set/@all", "set/web", "remote/origin/env/stage"];

const TIMES: [&str; 4] = [
    "2026-11-22T10:15:00Z",
    "2026-11-22T10:15:00.123456Z",
    "1970-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59Z",
];

const WINDOWS: [&str; 4] = [
    "Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/London",
    "*-*-* 18:00..*-*-* 08:00 America/New_York",
    "2026-12-24 00:00..2027-01-02 00:00 Europe/Paris",
    "Fri *-*-* 18:00..Fri *-*-* 16:00",
];

/// The last microsecond of year 9999: the latest time a timestamp's text can show.
const LAST_SHOWABLE: i64 = 253_402_300_799_999_999;

fn check_image(text: &str) -> Result<(), TestCaseError> {
    if let Ok(image) = ImageRef::parse(text) {
        // What was accepted is shown as a reference that parses to the same parts.
        prop_assert_eq!(ImageRef::parse(&image.to_string()), Ok(image.clone()));
        prop_assert!(image.check_repository(&image.repository).is_ok());
    }
    Ok(())
}

fn check_name(text: &str) -> Result<(), TestCaseError> {
    for kind in [NameKind::Service, NameKind::Environment, NameKind::ServiceSet, NameKind::Remote] {
        if validate(kind, text).is_ok() {
            prop_assert!(!text.is_empty() && text.len() <= MAX_NAME_LEN && !text.starts_with('-'));
            prop_assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
    }
    Ok(())
}

fn check_ref(text: &str) -> Result<(), TestCaseError> {
    if let Some(name) = RefName::parse(text) {
        prop_assert_eq!(name.as_str(), text);
    }
    Ok(())
}

fn check_time(text: &str) -> Result<(), TestCaseError> {
    if let Ok(at) = Timestamp::parse_rfc3339(text) {
        let shown = at.to_rfc3339();
        let _ = at.to_human();
        if (0..=LAST_SHOWABLE).contains(&at.0) {
            prop_assert_eq!(Timestamp::parse_rfc3339(&shown).ok(), Some(at), "{} shown as {}", text, shown);
        }
    }
    Ok(())
}

/// An accepted window reads back as itself; if `at` lies in it, it ends later, and still holds
/// a microsecond before its end.
fn check_window(text: &str, at: Timestamp) -> Result<(), TestCaseError> {
    if let Ok(window) = FreezeWindow::parse(text) {
        prop_assert_eq!(FreezeWindow::parse(&window.to_string()), Ok(window.clone()));
        if let Some(end) = window.end_if_within(at) {
            prop_assert!(end > at, "{} at {}: ends {}", text, at.to_rfc3339(), end.to_rfc3339());
            let just_before = window.end_if_within(Timestamp(end.0 - 1));
            prop_assert!(
                just_before >= Some(end),
                "{} at {}: ends {}",
                text,
                at.to_rfc3339(),
                end.to_rfc3339()
            );
            let _ = window.show(end);
        }
    }
    Ok(())
}

fn arb_time() -> impl Strategy<Value = Timestamp> {
    prop_oneof![(Timestamp::MIN.0..=Timestamp::MAX.0).prop_map(Timestamp), any::<i64>().prop_map(Timestamp)]
}

fn check_manifest(text: &str) {
    let _ = Manifest::parse(Path::new("ledger.toml"), text);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn image_references_from_any_text(text in ".{0,80}") {
        check_image(&text)?;
    }

    #[test]
    fn image_references_mutated(which in 0..IMAGES.len(), edits in arb_edits(4)) {
        check_image(&mutate(IMAGES[which], &edits))?;
    }

    #[test]
    fn names_from_any_text(text in ".{0,70}") {
        check_name(&text)?;
    }

    #[test]
    fn refs_from_any_text_and_mutated(text in ".{0,40}", which in 0..REFS.len(), edits in arb_edits(3)) {
        check_ref(&text)?;
        check_ref(&mutate(REFS[which], &edits))?;
    }

    #[test]
    fn timestamps_from_any_text_and_mutated(text in ".{0,40}", which in 0..TIMES.len(), edits in arb_edits(3)) {
        check_time(&text)?;
        check_time(&mutate(TIMES[which], &edits))?;
    }

    #[test]
    fn freeze_windows_from_any_text_and_mutated(
        text in ".{0,60}",
        which in 0..WINDOWS.len(),
        edits in arb_edits(3),
        at in arb_time(),
    ) {
        check_window(&text, at)?;
        check_window(&mutate(WINDOWS[which], &edits), at)?;
        check_window(WINDOWS[which], at)?;
    }

    #[test]
    fn durations_and_id_prefixes_from_any_text(text in ".{0,70}") {
        let _ = parse_duration(&text);
        if let Ok(span) = parse_span(&text) {
            prop_assert_eq!(parse_span(&format_span(span.as_secs())), Ok(span));
        }
        if let Some(prefix) = HexPrefix::parse(&text) {
            prop_assert!(prefix.low <= prefix.high);
            prop_assert_eq!(prefix.len, text.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(MANIFEST_CASES))]

    #[test]
    fn manifests_from_any_text(text in "(.|\n){0,400}") {
        check_manifest(&text);
    }

    #[test]
    fn manifests_mutated(edits in arb_edits(8)) {
        check_manifest(&mutate(EXAMPLE, &edits));
    }

    /// Whole lines of the example dropped or repeated: the structure changes, the syntax holds.
    #[test]
    fn manifests_with_lines_dropped_and_repeated(
        dropped in proptest::collection::vec(any::<Index>(), 0..6),
        repeated in proptest::collection::vec(any::<Index>(), 0..4),
    ) {
        let lines: Vec<&str> = EXAMPLE.lines().collect();
        let dropped: Vec<usize> = dropped.iter().map(|i| i.index(lines.len())).collect();
        let repeated: Vec<usize> = repeated.iter().map(|i| i.index(lines.len())).collect();
        let mut text = String::new();
        for (n, line) in lines.iter().enumerate() {
            if dropped.contains(&n) {
                continue;
            }
            let times = if repeated.contains(&n) { 2 } else { 1 };
            for _ in 0..times {
                text.push_str(line);
                text.push('\n');
            }
        }
        check_manifest(&text);
    }
}
