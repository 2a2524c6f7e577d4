//! The process's one async runtime, created the first time something needs it (AWS calls, the
//! remote, the dashboard's server) and shared from then on; commands that only read the ledger
//! never create it.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;

use crate::error::{Error, Result};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime. It has one worker thread: the calls of an apply wait on the network, not on
/// the CPU. Any thread may block on it, so a dashboard's pulls can run beside its server.
pub fn runtime() -> Result<&'static Runtime> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::failed(format!("cannot start the async runtime: {e}")))?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Runs `future` to completion on the shared runtime.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    Ok(runtime()?.block_on(future))
}
