//! The core of `ledger`: content-addressed entries, their encoding and ids, the redb store,
//! refs, history walks, state diffs, the manifest, the rules entries are admitted by, and
//! verification.
//!
//! No AWS, no async runtime, no terminal code: the `sync` crate and the `ledger` binary build on
//! this.

pub mod admission;
pub mod calendar;
pub mod deploy;
pub mod diff;
pub mod entry;
pub mod governance;
pub mod history;
pub mod id;
pub mod image;
pub mod manifest;
pub mod metrics;
pub mod name;
pub mod notify;
pub mod outbox;
pub mod packing;
pub mod plan;
pub mod policy;
pub mod received;
pub mod refs;
pub mod resolve;
pub mod signing;
pub mod store;
pub mod task_runs;
pub mod timestamp;
pub mod verify;

pub use entry::{
    Body, Change, DeployResult, Deployment, Entry, EntryKind, Outcome, Release, ReleaseSet, ServiceOutcome,
    StoredEntry, Trigger,
};
pub use id::EntryId;
pub use store::{Source, Stamp, Store, StoreError};
pub use timestamp::Timestamp;
