//! What the tests of every crate share, so that no test file carries its own copy:
//!
//! - [`entries`]: stamps, releases and deployments recorded through the library;
//! - [`process`]: the real `ledger` binary run in a temporary project;
//! - [`moto`]: the local AWS emulator the end-to-end tests roll out to;
//! - [`receiver`]: a webhook receiver on 127.0.0.1, for events;
//! - [`ssh`]: OpenSSH's `ssh-keygen` and `ssh-agent`, for signed entries;
//! - [`block_on`]: a future run to completion, for tests of async code.

pub mod entries;
pub mod moto;
pub mod process;
pub mod receiver;
pub mod ssh;

use std::future::Future;

/// Runs `future` to completion on a runtime of its own.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(future)
}
