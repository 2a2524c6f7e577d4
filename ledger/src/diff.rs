//! Comparing two states service by service.

use crate::history::State;
use crate::id::EntryId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
    Unchanged,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
            ChangeKind::Unchanged => "unchanged",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDiff {
    pub service: String,
    pub change: ChangeKind,
    pub from: Option<EntryId>,
    pub to: Option<EntryId>,
}

/// Every service of either side, in name order, with how it differs going from `from` to `to`.
pub fn diff_states(from: &State, to: &State) -> Vec<ServiceDiff> {
    let mut services: Vec<&String> = from.keys().chain(to.keys()).collect();
    services.sort();
    services.dedup();
    services
        .into_iter()
        .map(|service| {
            let (a, b) = (from.get(service).copied(), to.get(service).copied());
            let change = match (a, b) {
                (None, _) => ChangeKind::Added,
                (_, None) => ChangeKind::Removed,
                (Some(a), Some(b)) if a == b => ChangeKind::Unchanged,
                _ => ChangeKind::Changed,
            };
            ServiceDiff { service: service.clone(), change, from: a, to: b }
        })
        .collect()
}

/// Whether any service differs.
pub fn differs(diffs: &[ServiceDiff]) -> bool {
    diffs.iter().any(|d| d.change != ChangeKind::Unchanged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> EntryId {
        EntryId([n; 32])
    }

    #[test]
    fn lists_every_service_of_either_side() {
        let from = State::from([("a".into(), id(1)), ("b".into(), id(2)), ("c".into(), id(3))]);
        let to = State::from([("b".into(), id(2)), ("c".into(), id(4)), ("d".into(), id(5))]);
        let kinds: Vec<_> = diff_states(&from, &to).iter().map(|d| (d.service.clone(), d.change)).collect();
        assert_eq!(
            kinds,
            [
                ("a".into(), ChangeKind::Removed),
                ("b".into(), ChangeKind::Unchanged),
                ("c".into(), ChangeKind::Changed),
                ("d".into(), ChangeKind::Added)
            ]
        );
        assert!(differs(&diff_states(&from, &to)));
        assert!(!differs(&diff_states(&from, &from)));
    }
}
