//! History invariants under random sequences of operations, against a simple model: the
//! materialised state is what the model says; the state at any past deployment is what it was
//! then; rollbacks restore the newest earlier state that no rollback left since; `verify` is clean;
//! and a ledger that receives every entry (as a pull or clone does) is the same ledger.

use std::collections::BTreeMap;

use ledger::admission::Rules;
use ledger::deploy::{self, Plan, SetSource};
use ledger::history::{self, State};
use ledger::verify::verify;
use ledger::{EntryId, Release, Source, Stamp, Store, Timestamp, Trigger};
use proptest::prelude::*;

const SERVICES: [&str; 3] = ["api", "search", "worker"];
const ENVS: [&str; 2] = ["stage", "prod"];

#[derive(Clone, Debug)]
enum Op {
    Register {
        service: usize,
    },
    /// Deploy the latest release of each chosen service.
    Deploy {
        env: usize,
        services: Vec<usize>,
    },
    Rollback {
        env: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..SERVICES.len()).prop_map(|service| Op::Register { service }),
        3 => (0..ENVS.len(), proptest::collection::vec(0..SERVICES.len(), 1..=3))
            .prop_map(|(env, services)| Op::Deploy { env, services }),
        1 => (0..ENVS.len()).prop_map(|env| Op::Rollback { env }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn state_history_and_rollback_agree_with_a_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let mut clock = 0i64;
        let mut stamp = || {
            clock += 1;
            Stamp { at: Timestamp::from_unix_seconds(1_800_000_000 + clock), actor: "p".into(), message: String::new() }
        };
        let mut latest: BTreeMap<&str, EntryId> = BTreeMap::new();
        let mut model: BTreeMap<&str, State> = ENVS.iter().map(|env| (*env, State::new())).collect();
        // Per environment: (deployment id, state right after it, whether it was a rollback),
        // oldest first.
        let mut snapshots: BTreeMap<&str, Vec<(EntryId, State, bool)>> = BTreeMap::new();

        for (n, op) in ops.iter().enumerate() {
            match op {
                Op::Register { service } => {
                    let release = Release {
                        service: SERVICES[*service].into(),
                        image: format!("registry.local/{}:{n}", SERVICES[*service]),
                        digest: None,
                        revision: None,
                        revision_at: None,
                    };
                    let stored = store.write(|w| w.record_release(stamp(), release)).unwrap();
                    latest.insert(SERVICES[*service], stored.id);
                }
                Op::Deploy { env, services } => {
                    let env = ENVS[*env];
                    let target: State = services
                        .iter()
                        .filter_map(|s| latest.get(SERVICES[*s]).map(|id| (SERVICES[*s].to_string(), *id)))
                        .collect();
                    let plan = Plan::towards(&store.read().unwrap(), env, SetSource::None, Trigger::Apply, &target).unwrap();
                    if plan.is_empty() {
                        continue;
                    }
                    let recorded = store.write(|w| deploy::record_only(w, &stamp(), &plan)).unwrap();
                    model.get_mut(env).unwrap().extend(target);
                    snapshots.entry(env).or_default().push((recorded.deployment.id, model[env].clone(), false));
                }
                Op::Rollback { env } => {
                    let env = ENVS[*env];
                    let reader = store.read().unwrap();
                    // The model (every deployment succeeds here): the newest state that differs
                    // from now and that no later rollback left.
                    let history = snapshots.get(env).map(Vec::as_slice).unwrap_or_default();
                    let left_by_rollback = |k: usize| {
                        (k + 1..history.len()).any(|j| history[j].2 && history[j - 1].1 == history[k].1)
                    };
                    let expected = (0..history.len())
                        .rev()
                        .find(|k| history[*k].1 != model[env] && !left_by_rollback(*k))
                        .map(|k| (history[k].0, history[k].1.clone()));
                    let chosen = deploy::rollback_target(&reader, env, None).unwrap();
                    prop_assert_eq!(
                        chosen.as_ref().map(|c| (c.trigger.clone(), c.state.clone())),
                        expected.clone().map(|(id, state)| (Trigger::Rollback { to: Some(id) }, state)),
                        "rollback target"
                    );
                    let Some(chosen) = chosen else { continue };
                    let (target, trigger) = (chosen.state, chosen.trigger);
                    let mut restored = model[env].clone();
                    restored.extend(target.clone());
                    let plan = Plan::towards(&reader, env, SetSource::None, trigger, &target).unwrap();
                    drop(reader);
                    if plan.is_empty() {
                        continue;
                    }
                    let recorded = store.write(|w| deploy::record_only(w, &stamp(), &plan)).unwrap();
                    *model.get_mut(env).unwrap() = restored;
                    snapshots.entry(env).or_default().push((recorded.deployment.id, model[env].clone(), true));
                }
            }
            let reader = store.read().unwrap();
            for env in ENVS {
                prop_assert_eq!(&reader.env_state(env).unwrap(), &model[env], "state of {} after op {}", env, n);
            }
        }

        let reader = store.read().unwrap();
        for (env, history) in &snapshots {
            for (deployment, state, _) in history {
                prop_assert_eq!(&history::state_after(&reader, env, Some(*deployment)).unwrap(), state);
            }
            let logged: Vec<EntryId> = history::env_deployments(&reader, env, usize::MAX)
                .unwrap()
                .iter()
                .rev()
                .map(|record| record.deployment.id)
                .collect();
            prop_assert_eq!(logged, history.iter().map(|(id, _, _)| *id).collect::<Vec<_>>());
        }
        let report = verify(&reader, &Rules::without_manifest()).unwrap();
        prop_assert!(report.is_sound(), "{:?}", report.damage);

        // Another ledger that receives every entry, in the order recorded, is the same ledger.
        let copy_dir = tempfile::tempdir().unwrap();
        let copy = Store::init(copy_dir.path()).unwrap();
        let mut received = Vec::new();
        reader.for_each_entry(|_, bytes| {
            received.push(bytes.to_vec());
            Ok(())
        }).unwrap();
        copy.write(|w| {
            received.iter().try_for_each(|bytes| w.receive(EntryId::of_stored_bytes(bytes), bytes).map(drop))
        }).unwrap();
        let copied = copy.read().unwrap();
        prop_assert_eq!(copied.all_refs().unwrap(), reader.all_refs().unwrap());
        prop_assert_eq!(copied.all_state_rows().unwrap(), reader.all_state_rows().unwrap());
        for env in ENVS {
            let log = |source: &ledger::store::Reader| -> Vec<EntryId> {
                history::env_deployments(source, env, usize::MAX).unwrap().iter().map(|r| r.deployment.id).collect()
            };
            prop_assert_eq!(log(&copied), log(&reader));
        }
        prop_assert!(verify(&copied, &Rules::without_manifest()).unwrap().is_sound());
    }
}
