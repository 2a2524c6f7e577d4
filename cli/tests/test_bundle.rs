//! `ledger export` and `ledger bundle`: a history carried to another ledger in a file comes out
//! the same (ids, refs, `verify`), a subset of refs carries only what they reach, `--since`
//! picks what was recorded later, and a damaged, cut-short, forged, foreign or diverged bundle
//! is refused with nothing taken in.

use std::path::PathBuf;

use insta::assert_snapshot;
use ledger_testutil::process::{API, Project, Run, SEARCH};
use serde_json::Value;

/// The demo's history (releases, release sets, deployments to stage and prod with their
/// outcomes, a promotion and a rollback) in `sample/` of a project with a fixed clock.
struct Source {
    project: Project,
}

impl Source {
    fn demo() -> Source {
        let project = Project::empty().with_fixed_clock();
        project.ok(&["demo", "sample"]);
        Source { project }
    }

    fn manifest(&self) -> String {
        std::fs::read_to_string(self.project.path().join("sample/ledger.toml")).unwrap()
    }

    fn run(&self, args: &[&str]) -> Run {
        self.project.run(&[&["--manifest", "sample/ledger.toml"], args].concat())
    }

    fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, 0, "{}", run.render());
        run.stdout
    }

    /// Writes `text` beside the project and returns its path.
    fn file(&self, name: &str, text: &str) -> String {
        self.project.write(name, text).display().to_string()
    }

    /// A bundle of `refs` (every local ref when empty), written to `name`: its path.
    fn bundle(&self, name: &str, refs: &[&str]) -> String {
        let path = self.project.path().join(name).display().to_string();
        self.ok(&[&["bundle", "create", &path][..], refs].concat());
        path
    }
}

/// A new, empty ledger of `manifest`.
fn empty_ledger(manifest: &str) -> Project {
    let project = Project::new(manifest);
    project.ok(&["init"]);
    project
}

/// Every local ref of `project`'s ledger and its target, as `bundle create --output json` lists them.
fn refs(project: &Project, run: impl Fn(&[&str]) -> String) -> Value {
    let path = project.path().join("refs.bundle").display().to_string();
    let created: Value =
        serde_json::from_str(&run(&["bundle", "create", &path, "--force", "-o", "json"])).unwrap();
    created["refs"].clone()
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn a_full_export_taken_into_an_empty_ledger_gives_the_same_ids_refs_and_verify() {
    let source = Source::demo();
    let export = source.ok(&["export"]);
    assert_eq!(lines(&export).len(), 28);
    for line in lines(&export) {
        let line: Value = serde_json::from_str(line).unwrap();
        let shown: Value =
            serde_json::from_str(&source.ok(&["show", line["id"].as_str().unwrap(), "-o", "json"])).unwrap();
        assert_eq!(line["fields"], shown, "fields are what `show --output json` prints");
        assert_eq!(line["kind"], shown["kind"]);
        assert!(line["bytes"].as_str().is_some_and(|bytes| !bytes.is_empty()));
    }
    let path = source.file("all.ndjson", &export);

    let copy = empty_ledger(&source.manifest());
    let taken: Value = copy.json(&["bundle", "unbundle", &path]);
    assert_eq!((taken["entries"].as_u64(), taken["present"].as_u64()), (Some(28), Some(0)));
    assert!(copy.ok(&["export"]) == export, "the same entries, bytes and fields, in the same order");
    assert_eq!(refs(&copy, |args| copy.ok(args)), refs(&source.project, |args| source.ok(args)));
    assert_eq!(copy.run(&["verify"]).render(), source.run(&["verify"]).render());

    // Again: everything is here already, nothing moves.
    let again = copy.run(&["bundle", "unbundle", &path]);
    assert_eq!(again.code, 0);
    assert!(
        again.stderr.contains("took in 0 entries")
            && again.stderr.contains("(28 were here already); 0 refs moved")
    );
}

#[test]
fn export_lines_snapshot() {
    let project = Project::sample();
    project.register("api", &format!("{API}:v1"));
    project.register("search", &format!("{SEARCH}:v1"));
    project.ok(&["release", "frontend"]);
    // A run that keeps only the ids and kinds is stable across the fields' future additions.
    let export = project.ok(&["export", "--output", "ndjson"]);
    let summary: String = lines(&export)
        .iter()
        .map(|line| {
            let line: Value = serde_json::from_str(line).unwrap();
            format!(
                "{} {} {}\n",
                line["id"].as_str().unwrap(),
                line["kind"].as_str().unwrap(),
                line["bytes"].as_str().unwrap()
            )
        })
        .collect();
    assert_snapshot!(summary);
}

#[test]
fn a_bundle_of_some_refs_carries_only_what_they_reach() {
    let source = Source::demo();
    let api = source.bundle("api.bundle", &["service/api"]);
    let text = std::fs::read_to_string(&api).unwrap();
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["ledger_bundle"], 1);
    assert_eq!(header["project"], "catalogue");
    let api_head = source.ok(&["show", "service/api", "-o", "json"]);
    let api_head: Value = serde_json::from_str(&api_head).unwrap();
    assert_eq!(header["refs"], serde_json::json!({"service/api": api_head["id"]}));
    let carried = &lines(&text)[1..];
    assert_eq!(header["entries"].as_u64(), Some(carried.len() as u64));
    assert!(
        carried
            .iter()
            .all(|line| line.contains("\"kind\":\"release\"") && line.contains("\"service\":\"api\""))
    );

    let copy = empty_ledger(&source.manifest());
    let taken = copy.run(&["bundle", "unbundle", &api]);
    assert_eq!(taken.code, 0, "{}", taken.render());
    assert_eq!(taken.stdout, format!("service/api -> {}\n", &api_head["id"].as_str().unwrap()[..12]));
    assert_eq!(refs(&copy, |args| copy.ok(args)), header["refs"]);

    // prod's history reaches its release sets and their releases (and, through its promotions,
    // stage's deployments they promoted).
    let prod = source.bundle("prod.bundle", &["env/prod"]);
    let taken: Value = copy.json(&["bundle", "unbundle", &prod]);
    let prod_lines = std::fs::read_to_string(&prod).unwrap();
    let present = carried.len() as u64;
    assert!(taken["present"].as_u64().unwrap() <= present);
    assert_eq!(
        taken["entries"].as_u64().unwrap() + taken["present"].as_u64().unwrap(),
        prod_lines.lines().count() as u64 - 1
    );
    assert_eq!(copy.run(&["show", "env/prod"]).code, 0);
    assert_eq!(copy.run(&["verify"]).code, 0);

    // Then everything: what is here is passed over, the rest is taken in.
    let all = source.bundle("all.bundle", &[]);
    let taken: Value = copy.json(&["bundle", "unbundle", &all]);
    assert_eq!(taken["entries"].as_u64().unwrap() + taken["present"].as_u64().unwrap(), 28);
    // The same entries, recorded here in the order they came.
    let sorted = |text: String| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert!(sorted(copy.ok(&["export"])) == sorted(source.ok(&["export"])), "the same entries");
    assert_eq!(refs(&copy, |args| copy.ok(args)), refs(&source.project, |args| source.ok(args)));
    assert_eq!(copy.run(&["verify"]).code, 0);
}

#[test]
fn since_an_entry_or_a_time_exports_what_was_recorded_later() {
    let source = Source::demo();
    let export = source.ok(&["export"]);
    let all = lines(&export);
    let tenth: Value = serde_json::from_str(all[9]).unwrap();
    let id = tenth["id"].as_str().unwrap();
    assert_eq!(lines(&source.ok(&["export", "--since", &id[..8]])), all[10..].to_vec());
    assert_eq!(lines(&source.ok(&["export", "--since", id])), all[10..].to_vec());

    let at = tenth["fields"]["at"].as_str().unwrap();
    let later: Vec<&str> = all
        .iter()
        .copied()
        .filter(|line| serde_json::from_str::<Value>(line).unwrap()["fields"]["at"].as_str().unwrap() >= at)
        .collect();
    assert!(later.len() < all.len() && later.contains(&all[9]));
    assert_eq!(lines(&source.ok(&["export", "--since", at])), later);
    assert_eq!(source.ok(&["export", "--since", "2100-01-01T00:00:00Z"]), "");

    // An incremental backup: the first ten entries, then what came after the tenth.
    let copy = empty_ledger(&source.manifest());
    // (Blank lines, as concatenating files may leave, are passed over.)
    let first = source.file("first.ndjson", &format!("{}\n\n", all[..10].join("\n")));
    let rest = source.file("rest.ndjson", &source.ok(&["export", "--since", id]));
    copy.ok(&["bundle", "unbundle", &first]);
    let taken: Value = copy.json(&["bundle", "unbundle", &rest]);
    assert_eq!((taken["entries"].as_u64(), taken["present"].as_u64()), (Some(18), Some(0)));
    assert!(copy.ok(&["export"]) == export, "the same history, in the same order");
    // The rest alone builds on entries a new ledger does not have.
    let alone = empty_ledger(&source.manifest()).run(&["bundle", "unbundle", &rest]);
    assert_eq!(alone.code, 3, "{}", alone.render());
    assert!(alone.stderr.contains("take in the earlier history first"), "{}", alone.render());

    // What --since does not know.
    let unknown = source.run(&["export", "--since", "ffffffff"]);
    assert_eq!(unknown.code, 2, "{}", unknown.render());
    assert!(unknown.stderr.contains("--since takes an entry"), "{}", unknown.render());
}

/// Takes `text` in as a bundle into a new ledger of `manifest`: the run, and that ledger's export.
fn take_in(source: &Source, manifest: &str, name: &str, text: &str) -> (Run, String) {
    let path = source.file(name, text);
    let copy = empty_ledger(manifest);
    let run = copy.run(&["bundle", "unbundle", &path]);
    (run, copy.ok(&["export"]))
}

/// `line` (an export line) with its bytes changed at base64 character `at`.
fn with_bytes_changed(line: &str, at: usize) -> String {
    let mut line: Value = serde_json::from_str(line).unwrap();
    let mut bytes: Vec<char> = line["bytes"].as_str().unwrap().chars().collect();
    bytes[at] = if bytes[at] == 'A' { 'B' } else { 'A' };
    line["bytes"] = Value::String(bytes.into_iter().collect());
    serde_json::to_string(&line).unwrap()
}

#[test]
fn a_damaged_or_forged_bundle_is_refused_and_nothing_is_taken_in() {
    let source = Source::demo();
    let manifest = source.manifest();
    let bundle = std::fs::read_to_string(source.bundle("all.bundle", &[])).unwrap();
    let all = lines(&bundle);
    let refused = |name: &str, text: String, code: i32, says: &str| {
        let (run, export) = take_in(&source, &manifest, name, &text);
        assert_eq!(run.code, code, "{name}: {}", run.render());
        assert!(run.stderr.contains(says), "{name}: {}", run.render());
        assert!(run.stderr.contains("nothing was taken in"), "{name}: {}", run.render());
        assert_eq!(export, "", "{name}: nothing was taken in");
        run
    };

    let mut tampered = all.clone();
    let changed = with_bytes_changed(all[5], 12);
    tampered[5] = &changed;
    let run = refused("tampered.bundle", tampered.join("\n"), 3, "corrupted or forged");
    assert!(run.stderr.contains("line 6:"), "{}", run.render());

    let mut removed = all.clone();
    removed.remove(12);
    refused("removed.bundle", removed.join("\n"), 3, "which is not in the ledger");

    let garbled = format!("{}\n{}", all[..8].join("\n"), &all[8][..40]);
    refused("garbled.bundle", garbled, 3, "line 9: not an export line");

    // Cut at the end of a line: only the header's count tells.
    refused("short.bundle", all[..20].join("\n"), 3, "the header says 28 entries, the bundle holds 19");

    let mut retitled = all.clone();
    let other_kind = all[3].replacen("\"kind\":\"release\"", "\"kind\":\"outcome\"", 1);
    retitled[3] = &other_kind;
    refused("kind.bundle", retitled.join("\n"), 3, "but the line says outcome");

    // Another project's bundle.
    let foreign = bundle.replacen("\"project\":\"catalogue\"", "\"project\":\"billing\"", 1);
    refused("foreign.bundle", foreign, 2, "is a bundle of project \"billing\"");

    // An entry the manifest's rules refuse: api's images come from another repository here.
    let elsewhere = manifest.replace("catalogue/api\"", "catalogue/api-v2\"");
    let path = source.file("all-again.bundle", &bundle);
    let copy = empty_ledger(&elsewhere);
    let run = copy.run(&["bundle", "unbundle", &path]);
    assert_eq!(run.code, 3, "{}", run.render());
    assert!(run.stderr.contains("breaks rule image"), "{}", run.render());
    assert_eq!(copy.ok(&["export"]), "");

    // `fields` are never believed: an edited one changes nothing that is taken in.
    let edited = bundle.replace("Retry failed imports", "Nothing to see");
    assert_ne!(edited, bundle);
    let (run, export) = take_in(&source, &manifest, "edited.bundle", &edited);
    assert_eq!(run.code, 0, "{}", run.render());
    assert!(export == source.ok(&["export"]), "the bytes were believed, not the fields");
}

#[test]
fn a_diverged_history_is_refused_with_what_to_do() {
    let source = Source::demo();
    let manifest = source.manifest();
    let api = source.bundle("api.bundle", &["service/api"]);
    let copy = empty_ledger(&manifest);
    copy.ok(&["bundle", "unbundle", &api]);
    // Both record a release of api on top of the same one.
    copy.register("api", &format!("{API}:v9-here"));
    source.ok(&["register", "api", &format!("{API}:v9-there")]);
    let before = copy.ok(&["export"]);
    let all = source.bundle("all.bundle", &[]);
    let run = copy.run(&["bundle", "unbundle", &all]);
    assert_eq!(run.code, 3, "{}", run.render());
    assert!(run.stderr.contains("the histories have diverged"), "{}", run.render());
    assert!(
        run.stderr.contains("never merge") && run.stderr.contains("ledger bundle unbundle"),
        "{}",
        run.render()
    );
    assert_eq!(copy.ok(&["export"]), before, "nothing was taken in");
}

#[test]
fn files_and_refs_that_are_not_there() {
    let source = Source::demo();
    let copy = empty_ledger(&source.manifest());
    let missing = copy.run(&["bundle", "unbundle", "no-such.bundle"]);
    assert_eq!(missing.code, 2, "{}", missing.render());
    assert!(missing.stderr.contains("cannot read no-such.bundle"), "{}", missing.render());

    let unknown = source.run(&["bundle", "create", "x.bundle", "env/qa"]);
    assert_eq!(unknown.code, 2, "{}", unknown.render());
    assert!(unknown.stderr.contains("no ref \"env/qa\""), "{}", unknown.render());
    assert!(!source.project.path().join("x.bundle").exists());

    let path = source.bundle("all.bundle", &[]);
    let before = std::fs::read_to_string(&path).unwrap();
    let again = source.run(&["bundle", "create", &path, "service/api"]);
    assert_eq!(again.code, 2, "{}", again.render());
    assert!(
        again.stderr.contains("exists already") && again.stderr.contains("--force"),
        "{}",
        again.render()
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "left as it was");
    source.ok(&["bundle", "create", &path, "service/api", "--force"]);
    assert_ne!(std::fs::read_to_string(&path).unwrap(), before);
    let leftovers: Vec<PathBuf> = std::fs::read_dir(source.project.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let ndjson = source.run(&["status", "--output", "ndjson"]);
    assert_eq!(ndjson.code, 2, "{}", ndjson.render());
}
