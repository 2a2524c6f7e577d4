//! Entries recorded through the library, with times that follow one another, for tests of the
//! store and of the sharing protocol.

use ledger::admission::Rules;
use ledger::deploy::{self, Plan, SetSource};
use ledger::history::State;
use ledger::{EntryId, Release, Stamp, Store, Timestamp, Trigger};

/// Who and when: `second` seconds after a fixed time, by `tester`, with message `m<second>`.
pub fn stamp(second: i64) -> Stamp {
    Stamp {
        at: Timestamp::from_unix_seconds(1_800_000_000 + second),
        actor: "tester".into(),
        message: format!("m{second}"),
    }
}

/// A release of `service` tagged `tag`, from `registry.local/<service>`.
pub fn release(service: &str, tag: &str) -> Release {
    Release {
        service: service.into(),
        image: format!("registry.local/{service}:{tag}"),
        digest: None,
        revision: None,
        revision_at: None,
    }
}

/// The rules of a project declaring services api and search (from `registry.local/<service>`,
/// as [`release`] makes them) and environments stage and prod.
pub fn rules() -> Rules {
    let text = "[project]\nid = \"catalogue\"\n[environments.stage]\n[environments.prod]\n\
        [services.api]\nimage_repository = \"registry.local/api\"\n\
        [services.search]\nimage_repository = \"registry.local/search\"\n";
    let manifest = ledger::manifest::Manifest::parse(std::path::Path::new("ledger.toml"), text);
    Rules::of(&manifest.expect("the test manifest parses"))
}

/// Records a release; returns its id.
pub fn register(store: &Store, second: i64, service: &str, tag: &str) -> EntryId {
    store.write(|w| w.record_release(stamp(second), release(service, tag))).expect("recording a release").id
}

/// Deploys `target` to `env` as a record-only environment does: intent and outcome at once.
pub fn deploy(store: &Store, second: i64, env: &str, target: &State) -> deploy::Recorded {
    let plan = {
        let reader = store.read().expect("a read transaction");
        Plan::towards(&reader, env, SetSource::None, Trigger::Apply, target).expect("a plan")
    };
    store.write(|w| deploy::record_only(w, &stamp(second), &plan)).expect("recording a deployment")
}

/// A state from `(service, release)` pairs.
pub fn state(releases: &[(&str, EntryId)]) -> State {
    releases.iter().map(|(service, id)| (service.to_string(), *id)).collect()
}
