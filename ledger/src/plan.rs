//! Planning a deployment: which services change, from what, to what. Pure: no store access.

use std::collections::BTreeMap;

use crate::entry::Change;
use crate::history::State;

/// The changes that take `current` to `target` for the services `target` names. Services that
/// `target` does not name are left as they are.
pub fn changes_towards(current: &State, target: &State) -> BTreeMap<String, Change> {
    target
        .iter()
        .filter(|(service, to)| current.get(*service) != Some(to))
        .map(|(service, to)| (service.clone(), Change { from: current.get(service).copied(), to: *to }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::EntryId;

    #[test]
    fn only_differing_services_change() {
        let (one, two) = (EntryId([1; 32]), EntryId([2; 32]));
        let current = State::from([("api".into(), one), ("web".into(), one)]);
        let target = State::from([("api".into(), one), ("web".into(), two), ("new".into(), two)]);
        let changes = changes_towards(&current, &target);
        assert_eq!(changes.keys().collect::<Vec<_>>(), ["new", "web"]);
        assert_eq!(changes["web"], Change { from: Some(one), to: two });
        assert_eq!(changes["new"], Change { from: None, to: two });
    }
}
