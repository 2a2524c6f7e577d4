//! The stored encoding and the ids: golden vectors that pin the bytes forever, and properties
//! that hold for every entry.

use std::collections::BTreeMap;

use ledger::entry::FORMAT_VERSION;
use ledger::entry::{Approval, Freeze, Quarantine, TaskLogs, TaskPurpose, TaskRun, Unfreeze};
use ledger::signing::{self, key_file::KeyFileSigner};
use ledger::{
    Body, Change, DeployResult, Deployment, Entry, EntryId, Outcome, Release, ReleaseSet, ServiceOutcome,
    StoredEntry, Timestamp, Trigger,
};
use proptest::prelude::*;

const GOLDEN: &str = include_str!("golden/entries.txt");

fn id(byte: u8) -> EntryId {
    EntryId([byte; 32])
}

/// The golden entries' `at`, actor and message around `body`.
fn stamp(parents: Vec<EntryId>, message: &str, body: Body) -> Entry {
    Entry {
        parents,
        at: Timestamp(1_795_000_000_123_456),
        actor: "Jane Doe <jane@example.com>".into(),
        message: message.into(),
        body,
    }
}

/// Every unsigned golden entry: those from before signed entries existed, then the later ones.
fn golden_entries() -> Vec<(&'static str, Entry)> {
    first_golden_entries().into_iter().chain(golden_entries_after_signing()).collect()
}

/// Entries of the variants added after signed entries existed; their lines come after the
/// signed ones. Never edit one: add new ones at the end.
fn golden_entries_after_signing() -> Vec<(&'static str, Entry)> {
    vec![(
        "deployment_observed",
        stamp(
            vec![id(17)],
            "observed on ECS",
            Body::Deployment(Deployment {
                env: "prod".into(),
                release_set: None,
                trigger: Trigger::Observed {
                    started: BTreeMap::from([("api".into(), Timestamp(1_794_999_000_000_000))]),
                },
                changes: BTreeMap::from([("api".into(), Change { from: Some(id(3)), to: id(7) })]),
            }),
        ),
    )]
    .into_iter()
    .chain(task_run_entries())
    .collect()
}

/// Fixed entries of every kind and variant that existed before signed entries. Never edit one.
fn first_golden_entries() -> Vec<(&'static str, Entry)> {
    vec![
        (
            "release",
            stamp(
                vec![id(1)],
                "Add search filters",
                Body::Release(Release {
                    service: "api".into(),
                    image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api:v1.4.0".into(),
                    digest: Some(
                        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
                    ),
                    revision: Some("3b18e512dba79e4c8300dd08aeb37f8e728b8dad".into()),
                    revision_at: Some(Timestamp(1_794_990_000_000_000)),
                }),
            ),
        ),
        (
            "release_minimal",
            stamp(
                vec![],
                "",
                Body::Release(Release {
                    service: "search".into(),
                    image: "registry.local/search".into(),
                    digest: None,
                    revision: None,
                    revision_at: None,
                }),
            ),
        ),
        (
            "release_set",
            stamp(
                vec![id(2)],
                "frontend 1.4",
                Body::ReleaseSet(ReleaseSet {
                    service_set: Some("frontend".into()),
                    releases: BTreeMap::from([("api".into(), id(3)), ("search".into(), id(4))]),
                }),
            ),
        ),
        (
            "deployment_apply",
            stamp(
                vec![id(5)],
                "Ship frontend 1.4",
                Body::Deployment(Deployment {
                    env: "stage".into(),
                    release_set: Some(id(6)),
                    trigger: Trigger::Apply,
                    changes: BTreeMap::from([
                        ("api".into(), Change { from: Some(id(7)), to: id(3) }),
                        ("search".into(), Change { from: None, to: id(4) }),
                    ]),
                }),
            ),
        ),
        (
            "deployment_promote",
            stamp(
                vec![],
                "",
                Body::Deployment(Deployment {
                    env: "prod".into(),
                    release_set: None,
                    trigger: Trigger::Promote { from_env: "stage".into(), from_head: Some(id(8)) },
                    changes: BTreeMap::from([("api".into(), Change { from: None, to: id(3) })]),
                }),
            ),
        ),
        (
            "deployment_rollback",
            stamp(
                vec![id(9)],
                "errors up",
                Body::Deployment(Deployment {
                    env: "prod".into(),
                    release_set: None,
                    trigger: Trigger::Rollback { to: Some(id(10)) },
                    changes: BTreeMap::from([("api".into(), Change { from: Some(id(3)), to: id(7) })]),
                }),
            ),
        ),
        (
            "outcome",
            stamp(
                vec![id(11)],
                "",
                Body::Outcome(Outcome {
                    result: DeployResult::Failed,
                    services: BTreeMap::from([
                        (
                            "api".into(),
                            ServiceOutcome {
                                result: DeployResult::Succeeded,
                                running: Some(id(3)),
                                task_definition: Some(
                                    "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:42".into(),
                                ),
                                ecs_deployment: Some("ecs-svc/1234567890123456789".into()),
                                detail: "rollout completed".into(),
                            },
                        ),
                        (
                            "search".into(),
                            ServiceOutcome {
                                result: DeployResult::RolledBack,
                                running: None,
                                task_definition: None,
                                ecs_deployment: None,
                                detail: "circuit breaker".into(),
                            },
                        ),
                    ]),
                }),
            ),
        ),
        (
            "outcome_submitted",
            stamp(
                vec![id(12)],
                "",
                Body::Outcome(Outcome { result: DeployResult::Submitted, services: BTreeMap::new() }),
            ),
        ),
        (
            "approval",
            stamp(
                vec![id(13)],
                "QA signed off",
                Body::Approval(Approval { env: "prod".into(), release_set: id(6) }),
            ),
        ),
        ("freeze", stamp(vec![id(14)], "incident 4711", Body::Freeze(Freeze { env: "prod".into() }))),
        ("unfreeze", stamp(vec![id(15)], "resolved", Body::Unfreeze(Unfreeze { env: "prod".into() }))),
        ("quarantine", stamp(vec![], "leaks memory", Body::Quarantine(Quarantine { target: id(3) }))),
        (
            "deployment_forced",
            stamp(
                vec![id(16)],
                "hotfix for incident 4711",
                Body::Deployment(Deployment {
                    env: "prod".into(),
                    release_set: Some(id(6)),
                    trigger: Trigger::Forced {
                        trigger: Box::new(Trigger::Promote {
                            from_env: "stage".into(),
                            from_head: Some(id(8)),
                        }),
                        gates: vec!["soak".into(), "approvals".into()],
                    },
                    changes: BTreeMap::from([("api".into(), Change { from: Some(id(7)), to: id(3) })]),
                }),
            ),
        ),
    ]
}

/// The task runs of [`golden_entries_after_signing`].
fn task_run_entries() -> Vec<(&'static str, Entry)> {
    let at = Timestamp(1_795_000_000_123_456);
    let stamp = |parents: Vec<EntryId>, body| Entry {
        parents,
        at,
        actor: "Jane Doe <jane@example.com> (arn:aws:sts::123456789012:assumed-role/deployer/jane)".into(),
        message: String::new(),
        body,
    };
    let task_run = |purpose, exit_code, succeeded, detail: &str, logs| TaskRun {
        env: "prod".into(),
        service: "api".into(),
        purpose,
        command: vec!["bin/migrate".into(), "--up".into()],
        task_definition: Some("arn:aws:ecs:eu-west-1:123456789012:task-definition/api:43".into()),
        task: Some(
            "arn:aws:ecs:eu-west-1:123456789012:task/catalogue-prod/0123456789abcdef0123456789abcdef".into(),
        ),
        exit_code,
        succeeded,
        detail: detail.into(),
        logs,
    };
    let logs = TaskLogs {
        group: "/ecs/api".into(),
        stream: Some("ecs/api/0123456789abcdef0123456789abcdef".into()),
        region: Some("eu-west-1".into()),
    };
    vec![
        (
            "task_run_before",
            stamp(
                vec![id(17)],
                Body::TaskRun(task_run(
                    TaskPurpose::Before { deployment: id(5) },
                    Some(0),
                    true,
                    "exited 0",
                    Some(logs.clone()),
                )),
            ),
        ),
        (
            "task_run_verify",
            stamp(
                vec![id(18)],
                Body::TaskRun(task_run(
                    TaskPurpose::Verify { deployment: id(5) },
                    Some(-1),
                    false,
                    "exited -1 (Essential container in task exited)",
                    None,
                )),
            ),
        ),
        (
            "task_run_manual",
            stamp(
                vec![],
                Body::TaskRun(TaskRun {
                    task: None,
                    task_definition: None,
                    ..task_run(TaskPurpose::Manual, None, false, "did not start: RESOURCE:MEMORY", None)
                }),
            ),
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first unsigned golden entries, then signed ones (format 2): the first two entries signed by
/// the fixed ed25519 test key, the deployment by the fixed ECDSA P-256 one (both sign
/// deterministically, so the bytes are fixed too), then the unsigned entries added since.
fn golden_stored() -> Vec<(String, StoredEntry, Vec<u8>)> {
    let unsigned = |entries: Vec<(&str, Entry)>| {
        entries
            .into_iter()
            .map(|(name, entry)| {
                let (stored, bytes) = StoredEntry::seal(entry);
                (name.to_string(), stored, bytes)
            })
            .collect::<Vec<_>>()
    };
    let mut stored = unsigned(first_golden_entries());
    let entries = first_golden_entries();
    for (key, names) in
        [("golden-ed25519", ["release", "release_set"]), ("golden-ecdsa", ["deployment_apply", "approval"])]
    {
        let signer = KeyFileSigner::load(&test_key(key)).unwrap();
        for name in names {
            let entry = entries.iter().find(|(n, _)| *n == name).unwrap().1.clone();
            let signature = signing::sign(&signer, &entry).unwrap();
            let (signed, bytes) = StoredEntry::seal_with(entry, Some(signature));
            stored.push((format!("{name}_signed_{}", key.trim_start_matches("golden-")), signed, bytes));
        }
    }
    stored.extend(unsigned(golden_entries_after_signing()));
    stored
}

fn test_key(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys").join(name)
}

fn render_golden() -> String {
    let mut out = String::from("# name stored-bytes-hex id — generated once, then never changed\n");
    for (name, _, bytes) in golden_stored() {
        out.push_str(&format!("{name} {} {}\n", hex(&bytes), EntryId::of_stored_bytes(&bytes)));
    }
    out
}

#[test]
fn golden_vectors_never_change() {
    assert_eq!(
        render_golden(),
        GOLDEN,
        "the stored encoding or the id scheme changed: stored ledgers would break"
    );
}

#[test]
fn golden_vectors_decode_to_their_entries() {
    let lines = GOLDEN.lines().filter(|line| !line.starts_with('#'));
    for ((name, stored, _), line) in golden_stored().into_iter().zip(lines) {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[0], name);
        let bytes: Vec<u8> = (0..fields[1].len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&fields[1][i..i + 2], 16).unwrap())
            .collect();
        let id = EntryId::of_stored_bytes(&bytes);
        assert_eq!(id.to_hex(), fields[2], "{name}");
        assert_eq!(StoredEntry::decoded(id, &bytes).unwrap(), stored, "{name}");
    }
}

#[test]
fn peek_kind_agrees_with_decoding() {
    for (name, entry) in golden_entries() {
        assert_eq!(Entry::peek_kind(&entry.encode()), Some(entry.kind()), "{name}");
    }
    assert_eq!(Entry::peek_kind(&[]), None);
    assert_eq!(Entry::peek_kind(&[FORMAT_VERSION, 5]), None, "truncated parents");
}

#[test]
fn decode_rejects_unknown_versions_truncation_and_trailing_bytes() {
    let bytes = golden_entries()[0].1.encode();
    assert_eq!(bytes[0], FORMAT_VERSION);
    let mut other_version = bytes.clone();
    other_version[0] = 2;
    assert!(Entry::decode(&other_version).is_err());
    assert!(Entry::decode(&bytes[..bytes.len() - 1]).is_err());
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(Entry::decode(&trailing).is_err());
    assert!(Entry::decode(&[]).is_err());
}

fn arb_id() -> impl Strategy<Value = EntryId> {
    any::<[u8; 32]>().prop_map(EntryId)
}

fn arb_result() -> impl Strategy<Value = DeployResult> {
    prop_oneof![
        Just(DeployResult::Succeeded),
        Just(DeployResult::Failed),
        Just(DeployResult::RolledBack),
        Just(DeployResult::Submitted)
    ]
}

fn arb_body() -> impl Strategy<Value = Body> {
    let name = "[a-z][a-z0-9-]{0,12}";
    prop_oneof![
        (
            name,
            ".{0,80}",
            proptest::option::of("sha256:[0-9a-f]{64}"),
            proptest::option::of("[0-9a-f]{40}"),
            proptest::option::of(any::<i64>())
        )
            .prop_map(|(service, image, digest, revision, revision_at)| Body::Release(Release {
                service,
                image,
                digest,
                revision,
                revision_at: revision_at.map(Timestamp),
            })),
        (proptest::option::of(name), proptest::collection::btree_map(name, arb_id(), 0..6))
            .prop_map(|(service_set, releases)| Body::ReleaseSet(ReleaseSet { service_set, releases })),
        (
            name,
            proptest::option::of(arb_id()),
            proptest::collection::btree_map(
                name,
                (proptest::option::of(arb_id()), arb_id()).prop_map(|(from, to)| Change { from, to }),
                0..6
            )
        )
            .prop_map(|(env, release_set, changes)| Body::Deployment(Deployment {
                env,
                release_set,
                trigger: Trigger::Apply,
                changes
            })),
        (
            arb_result(),
            proptest::collection::btree_map(
                name,
                (arb_result(), proptest::option::of(arb_id()), proptest::option::of(".{0,40}"), ".{0,40}")
                    .prop_map(|(result, running, task_definition, detail)| {
                        ServiceOutcome { result, running, task_definition, ecs_deployment: None, detail }
                    }),
                0..6
            )
        )
            .prop_map(|(result, services)| Body::Outcome(Outcome { result, services })),
        (name, arb_id()).prop_map(|(env, release_set)| Body::Approval(Approval { env, release_set })),
        name.prop_map(|env| Body::Freeze(Freeze { env })),
        name.prop_map(|env| Body::Unfreeze(Unfreeze { env })),
        arb_id().prop_map(|target| Body::Quarantine(Quarantine { target })),
        (
            (
                name,
                name,
                prop_oneof![
                    arb_id().prop_map(|deployment| TaskPurpose::Before { deployment }),
                    arb_id().prop_map(|deployment| TaskPurpose::Verify { deployment }),
                    Just(TaskPurpose::Manual)
                ]
            ),
            (
                proptest::collection::vec(".{0,20}", 0..4),
                proptest::option::of(".{0,40}"),
                proptest::option::of(".{0,40}")
            ),
            (proptest::option::of(any::<i32>()), any::<bool>(), ".{0,40}"),
            proptest::option::of((
                ".{0,20}",
                proptest::option::of(".{0,20}"),
                proptest::option::of("[a-z0-9-]{1,12}")
            ))
        )
            .prop_map(
                |(
                    (env, service, purpose),
                    (command, task_definition, task),
                    (exit_code, succeeded, detail),
                    logs,
                )| {
                    Body::TaskRun(TaskRun {
                        env,
                        service,
                        purpose,
                        command,
                        task_definition,
                        task,
                        exit_code,
                        succeeded,
                        detail,
                        logs: logs.map(|(group, stream, region)| TaskLogs { group, stream, region }),
                    })
                }
            ),
        (name, arb_id(), proptest::collection::vec("[a-z]{1,10}", 0..4)).prop_map(|(env, to, gates)| {
            Body::Deployment(Deployment {
                env,
                release_set: None,
                trigger: Trigger::Forced { trigger: Box::new(Trigger::Rollback { to: Some(to) }), gates },
                changes: BTreeMap::new(),
            })
        }),
        (name, proptest::collection::btree_map(name, any::<i64>().prop_map(Timestamp), 0..4)).prop_map(
            |(env, started)| {
                Body::Deployment(Deployment {
                    env,
                    release_set: None,
                    trigger: Trigger::Observed { started },
                    changes: BTreeMap::new(),
                })
            }
        ),
    ]
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    (proptest::collection::vec(arb_id(), 0..3), any::<i64>(), ".{0,40}", ".{0,200}", arb_body()).prop_map(
        |(parents, at, actor, message, body)| Entry { parents, at: Timestamp(at), actor, message, body },
    )
}

proptest! {
    #[test]
    fn every_entry_round_trips_and_keeps_its_id(entry in arb_entry()) {
        let (stored, bytes) = StoredEntry::seal(entry.clone());
        let (decoded, signature) = Entry::decode(&bytes).unwrap();
        prop_assert_eq!(signature, None);
        prop_assert_eq!(&decoded, &entry);
        // Re-encoding gives the same bytes, so the id is a function of the entry.
        prop_assert_eq!(decoded.encode(), bytes.clone());
        prop_assert_eq!(EntryId::of_stored_bytes(&bytes), stored.id);
    }

    #[test]
    fn any_byte_flip_is_caught(entry in arb_entry(), index in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let (stored, mut bytes) = StoredEntry::seal(entry);
        let i = index.index(bytes.len());
        bytes[i] ^= flip;
        prop_assert_ne!(EntryId::of_stored_bytes(&bytes), stored.id);
    }

    #[test]
    fn peek_kind_agrees_with_decoding_for_every_entry(entry in arb_entry()) {
        prop_assert_eq!(Entry::peek_kind(&entry.encode()), Some(entry.kind()));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Entry::decode(&bytes);
        let _ = Entry::peek_kind(&bytes);
    }
}

/// One change to stored bytes: a byte changed, inserted or removed, or the bytes cut short.
#[derive(Clone, Debug)]
enum ByteEdit {
    Change(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    Truncate(prop::sample::Index),
}

fn arb_byte_edits() -> impl Strategy<Value = Vec<ByteEdit>> {
    let edit = prop_oneof![
        (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(at, xor)| ByteEdit::Change(at, xor)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, byte)| ByteEdit::Insert(at, byte)),
        any::<prop::sample::Index>().prop_map(ByteEdit::Remove),
        any::<prop::sample::Index>().prop_map(ByteEdit::Truncate),
    ];
    proptest::collection::vec(edit, 1..=4)
}

fn apply(bytes: &mut Vec<u8>, edits: &[ByteEdit]) {
    for edit in edits {
        let len = bytes.len();
        match edit {
            ByteEdit::Change(at, xor) if len > 0 => bytes[at.index(len)] ^= xor,
            ByteEdit::Insert(at, byte) => bytes.insert(at.index(len + 1), *byte),
            ByteEdit::Remove(at) if len > 0 => {
                bytes.remove(at.index(len));
            }
            ByteEdit::Truncate(at) => bytes.truncate(at.index(len + 1)),
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Valid entries damaged: decoding never panics, and whatever still decodes is exactly what
    /// those bytes encode (one entry, one encoding), so re-hashing what was decoded gives the
    /// id of the bytes read, never the id of the entry before the damage.
    #[test]
    fn damaged_entries_decode_to_what_their_bytes_say_or_not_at_all(entry in arb_entry(), edits in arb_byte_edits()) {
        let (stored, mut bytes) = StoredEntry::seal(entry);
        apply(&mut bytes, &edits);
        let peeked = Entry::peek_kind(&bytes);
        if let Ok((decoded, signature)) = Entry::decode(&bytes) {
            let kind = decoded.kind();
            let (resealed, resealed_bytes) = StoredEntry::seal_with(decoded, signature);
            prop_assert_eq!(&resealed_bytes, &bytes);
            prop_assert_eq!(peeked, Some(kind));
            prop_assert_eq!(resealed.id, EntryId::of_stored_bytes(&bytes));
            prop_assert_eq!(resealed.id == stored.id, bytes == StoredEntry::seal(stored.entry.clone()).1);
        }
    }
}

/// The dictionary entries are packed against is part of the stored form: a row packed with it
/// must unpack the same way forever.
#[test]
fn the_packing_dictionary_never_changes() {
    assert_eq!(blake3::hash(ledger::packing::DICTIONARY_V1).to_hex().as_str(), DICTIONARY_V1_BLAKE3);
}

const DICTIONARY_V1_BLAKE3: &str = "3898447c63976052ce7c0970679ea5d05c0f06c9c6f5b1d1cd4113b76f9a1926";

#[test]
fn every_kind_packs_smaller_and_unpacks_to_its_canonical_bytes() {
    for (name, entry) in golden_entries() {
        let canonical = entry.encode();
        let packed = ledger::packing::pack(&canonical);
        assert!(packed.len() <= canonical.len(), "{name}");
        assert!(packed[0] == ledger::packing::PACKED_V1 || packed == canonical, "{name}");
        assert_eq!(ledger::packing::unpack(&packed).unwrap(), canonical, "{name}");
        assert_eq!(ledger::packing::peek_kind(&packed), Some(entry.kind()), "{name}");
    }
    // A row stored before packing existed is its canonical bytes, read as they are.
    let canonical = golden_entries()[0].1.encode();
    assert_eq!(ledger::packing::unpack(&canonical).unwrap(), canonical);
}

#[test]
fn rows_that_do_not_unpack_say_why() {
    use ledger::packing::{PACKED_V1, UnpackError, unpack};
    assert_eq!(unpack(&[]), Err(UnpackError::Empty));
    assert_eq!(unpack(&[0x07, 1, 2]), Err(UnpackError::UnknownForm(0x07)));
    assert_eq!(
        unpack(&[PACKED_V1, 0, 0xff, 0xff, 0xff, 0xff, 0x7f]),
        Err(UnpackError::TooLong(0x7_ffff_ffff))
    );
    assert!(matches!(unpack(&[PACKED_V1]), Err(UnpackError::Corrupt(_))));
    let packed = ledger::packing::pack(&golden_entries()[0].1.encode());
    assert!(matches!(unpack(&packed[..packed.len() / 2]), Err(UnpackError::Corrupt(_))));
    // A kind byte that disagrees with what the row unpacks to.
    let mut mislabelled = packed.clone();
    mislabelled[1] = 3;
    assert_eq!(unpack(&mislabelled), Err(UnpackError::WrongKind(Some(ledger::EntryKind::Outcome))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Every entry, of every kind, comes back from its packed form as its canonical bytes.
    #[test]
    fn packing_gives_back_the_canonical_bytes(entry in arb_entry()) {
        let canonical = entry.encode();
        let packed = ledger::packing::pack(&canonical);
        prop_assert!(packed.len() <= canonical.len());
        prop_assert_eq!(ledger::packing::unpack(&packed).unwrap(), canonical);
    }

    /// A damaged packed row never panics: it unpacks to some bytes (which re-hashing then
    /// refuses) or is refused.
    #[test]
    fn damaged_packed_rows_unpack_or_are_refused(entry in arb_entry(), edits in arb_byte_edits()) {
        let mut packed = ledger::packing::pack(&entry.encode());
        apply(&mut packed, &edits);
        if let Ok(bytes) = ledger::packing::unpack(&packed) {
            prop_assert!(bytes.len() <= ledger::packing::MAX_UNPACKED_LEN);
        }
    }
}
