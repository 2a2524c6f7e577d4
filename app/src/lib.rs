//! The application layer of the release ledger: every operation a user can ask for, as a
//! function over resolved [`Settings`] and a loaded [`Workspace`], returning typed results and
//! [`Error`]s. It never prints: progress goes to a [`Progress`] sink, confirmations are asked
//! through a [`Confirm`] hook, and rendering is left to the front ends (the `ledger` CLI, the
//! dashboard). Whatever a front end may do, it does through here, so that every rule is
//! enforced once.
//!
//! - Recording: [`register`] (`register`, `release`), [`deploy`] (`apply`, `promote`,
//!   `rollback`), [`conclude`] (`wait`, `reconcile`), [`tasks`] (`run`, and a deployment's
//!   `before` and `verify` tasks), [`import`], [`init`], [`demo`].
//! - Reading: [`log`] (`log`, `show`), [`status`] (with live drift), [`views`] (`diff`, plans,
//!   statuses), [`verify`], [`metrics`], [`notify`] (the outbox); each result carries its `--output json` document, and
//!   [`json`] holds the shapes several share.
//! - Moving history without a remote: [`export`] (every entry with its bytes, as NDJSON) and
//!   [`bundle`] (`bundle create`, `bundle unbundle`: an export with refs, checked as a pull).
//! - Sharing: [`sharing`] (`push`, `pull`, `fetch`, `clone`, `verify --remote`, `remote …`) over
//!   [`remotes`] (configured remotes, the lease), [`lease`] (`lease`: show or break it); [`session`] guards an environment (local lock,
//!   remote lease, AWS connection) for every deploying operation.
//! - [`runtime`]: the process's one async runtime; [`interrupt`]: SIGINT and SIGTERM while an
//!   environment is held; [`text`]: stored text made safe to show.

pub mod bundle;
pub mod cloud;
pub mod conclude;
pub mod configuration;
pub mod demo;
pub mod deploy;
pub mod error;
pub mod export;
pub mod gates;
pub mod git;
pub mod governance;
pub mod hooks;
pub mod import;
pub mod init;
pub mod interrupt;
pub mod json;
pub mod lease;
pub mod lock;
pub mod log;
pub mod metrics;
pub mod notify;
pub mod observe;
pub mod register;
pub mod remotes;
pub mod runtime;
pub mod session;
pub mod sharing;
pub mod signing;
pub mod status;
pub mod tasks;
pub mod text;
pub mod verify;
pub mod views;
pub mod workspace;

pub use error::{Error, ErrorKind, Result};
pub use hooks::{Confirm, Progress};
pub use workspace::{Settings, Workspace};

/// The core, for front ends: entries, ids, timestamps and the history types results carry.
pub use ledger;
/// The sharing protocol's types that reports carry (refusals, comparisons, progress steps).
pub use ledger_remote;
