//! Interruption (SIGINT, SIGTERM) of an operation that holds an environment. While one does, the
//! first signal asks it to stop at its next safe point — it stops waiting for ECS, keeps what is
//! recorded, pushes it and gives the lease back; a second signal, or one while no environment is
//! held, ends the process at once (exit 130 for SIGINT, 143 for SIGTERM), as without a handler.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use futures_util::future::{Either, select};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::runtime::{block_on, runtime};

/// Signals are handled once per process, from the first environment held on.
struct Handler {
    /// How many environments are held now.
    holding: AtomicUsize,
    interrupted: AtomicBool,
    notify: Notify,
}

static HANDLER: OnceLock<Handler> = OnceLock::new();
/// Held while the handler is installed, so that it is installed once.
static INSTALLING: Mutex<()> = Mutex::new(());

/// While alive, a signal interrupts the operation rather than ending the process.
pub struct Handled(&'static Handler);

impl Drop for Handled {
    fn drop(&mut self) {
        self.0.holding.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Handles SIGINT and SIGTERM until the result is dropped.
pub fn handle() -> Result<Handled> {
    let handler = match HANDLER.get() {
        Some(handler) => handler,
        None => install()?,
    };
    handler.holding.fetch_add(1, Ordering::SeqCst);
    Ok(Handled(handler))
}

fn install() -> Result<&'static Handler> {
    let _installing = INSTALLING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handler) = HANDLER.get() {
        return Ok(handler);
    }
    let cannot = |e: std::io::Error| Error::failed(format!("cannot handle interruptions: {e}"));
    let (mut interrupts, mut terminations) = block_on(async {
        Ok::<_, std::io::Error>((signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?))
    })?
    .map_err(cannot)?;
    let handler = HANDLER.get_or_init(|| Handler {
        holding: AtomicUsize::new(0),
        interrupted: AtomicBool::new(false),
        notify: Notify::new(),
    });
    runtime()?.spawn(async move {
        loop {
            let exit_code = match select(Box::pin(interrupts.recv()), Box::pin(terminations.recv())).await {
                Either::Left((Some(()), _)) => 130,
                Either::Right((Some(()), _)) => 143,
                // The runtime is shutting down: no more signals come.
                Either::Left((None, _)) | Either::Right((None, _)) => return,
            };
            let holding = handler.holding.load(Ordering::SeqCst) > 0;
            if !holding || handler.interrupted.swap(true, Ordering::SeqCst) {
                std::process::exit(exit_code);
            }
            handler.notify.notify_waiters();
        }
    });
    Ok(handler)
}

/// Whether a signal asked the running operation to stop.
pub fn interrupted() -> bool {
    HANDLER.get().is_some_and(|handler| handler.interrupted.load(Ordering::SeqCst))
}

/// Runs `future` to completion on the shared runtime, or until a signal interrupts it (then
/// `None`; the future is dropped where it was waiting).
pub fn block_on_interruptible<F: Future>(future: F) -> Result<Option<F::Output>> {
    let Some(handler) = HANDLER.get() else { return block_on(future).map(Some) };
    block_on(async {
        let signalled = async {
            loop {
                let notified = handler.notify.notified();
                if handler.interrupted.load(Ordering::SeqCst) {
                    return;
                }
                notified.await;
            }
        };
        match select(Box::pin(future), Box::pin(signalled)).await {
            Either::Left((output, _)) => Some(output),
            Either::Right(_) => None,
        }
    })
}

/// Stops the operation when a signal asked it to: `what_stands` tells what that left.
pub fn stop_if_interrupted(what_stands: impl FnOnce() -> String) -> Result<()> {
    if interrupted() { Err(Error::failed(format!("interrupted: {}", what_stands()))) } else { Ok(()) }
}

/// The error of an operation a signal stopped while it waited for ECS.
pub fn stopped_waiting(what_stands: String) -> Error {
    Error::failed(format!("interrupted while waiting for ECS: {what_stands}"))
}
