//! Fuzzing the parsers of what a remote serves: ref and lease documents, object and ref keys.
//! Whatever the bytes, each parser answers (a value or an error) and never panics; what it
//! accepts round-trips.

use ledger::EntryId;
use ledger_remote::lease::LeaseDoc;
use ledger_remote::{RefDoc, id_of_object_key, lease_key, object_key, ref_key, ref_name_of_key};
use proptest::prelude::*;

/// Documents close to valid ones: the right shape with odd field values, and near misses.
fn ref_document() -> impl Strategy<Value = String> {
    let target = prop_oneof!["[0-9a-f]{64}", "[0-9a-fA-Z]{0,70}", Just(String::new())];
    let version = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_string()),
        Just("1e400".to_string()),
        Just("1.5".to_string()),
        Just("null".to_string()),
        "\"[0-9]{0,5}\"",
    ];
    let extra = prop_oneof![
        Just(String::new()),
        Just(",\"x\":[1,{}]".to_string()),
        Just(",\"target\":1".to_string())
    ];
    (target, version, extra).prop_map(|(target, version, extra)| {
        format!("{{\"target\":\"{target}\",\"version\":{version}{extra}}}")
    })
}

fn lease_document() -> impl Strategy<Value = String> {
    let holder = prop_oneof![".{0,40}", Just("\\u0000\\ud800".to_string())];
    let number = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("99999999999999999999999".to_string()),
        Just("-1".to_string()),
        Just("true".to_string()),
    ];
    let released = prop_oneof![Just("true"), Just("false"), Just("0"), Just("\"yes\"")];
    (holder, number.clone(), released, number).prop_map(|(holder, expires, released, taken)| {
        let holder = serde_json::to_string(&holder).unwrap_or_default();
        format!("{{\"holder\":{holder},\"expires_at\":{expires},\"released\":{released},\"taken\":{taken}}}")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn ref_documents_never_panic(text in ref_document(), bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        for input in [text.as_bytes(), &bytes] {
            if let Ok(doc) = serde_json::from_slice::<RefDoc>(input) {
                let again: RefDoc = serde_json::from_slice(&serde_json::to_vec(&doc).unwrap()).unwrap();
                prop_assert_eq!(again, doc);
            }
        }
    }

    #[test]
    fn lease_documents_never_panic(text in lease_document(), bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        for input in [text.as_bytes(), &bytes] {
            if let Ok(doc) = serde_json::from_slice::<LeaseDoc>(input) {
                let again: LeaseDoc = serde_json::from_slice(&serde_json::to_vec(&doc).unwrap()).unwrap();
                prop_assert_eq!(again, doc);
            }
        }
    }

    #[test]
    fn keys_never_panic_and_only_valid_ones_map_back(
        key in prop_oneof!["(refs|objects|locks)/[a-z0-9@./_-]{0,80}", "(refs|objects)/(env|service|set|remote)/[a-z0-9@./-]{0,70}", ".{0,100}"],
    ) {
        if let Some(name) = ref_name_of_key(&key) {
            prop_assert!(!name.is_tracking());
            prop_assert_eq!(ref_key(&name).map(|k| k.as_str().to_string()), Some(key.clone()));
        }
        if let Some(id) = id_of_object_key(&key) {
            prop_assert_eq!(object_key(id), key.clone());
        }
        if let Some(env) = key.strip_prefix("locks/env/") {
            prop_assert!(lease_key(env).is_none_or(|k| k.as_str() == key));
        }
        let _ = EntryId::from_hex(&key);
    }
}
