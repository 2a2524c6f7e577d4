//! Environment locks: one apply (or wait, or reconcile) per environment at a time. The lock is
//! an OS file lock, so it is released whenever its holder exits, even when killed; the file
//! names the holder for whoever is refused. Also who this process is as a holder, and whether
//! a remote lease's holder is a process of this machine that has ended.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use ledger_remote::lease::{Holder, LeaseDoc};

use crate::error::{Error, Result};

/// Held until dropped.
pub struct EnvLock {
    _file: File,
}

/// Locks `env` for `holder`, or says who holds it.
pub fn lock(ledger_dir: &Path, env: &str, holder: &str) -> Result<EnvLock> {
    let dir = ledger_dir.join("locks");
    let cannot =
        |e: std::io::Error| Error::failed(format!("cannot lock environment {env} in {}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(cannot)?;
    // Environment names are validated ([a-z0-9-]), so this stays inside `locks/`.
    let path = dir.join(format!("{env}.lock"));
    let mut file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(cannot)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut held_by = String::new();
            let _ = file.read_to_string(&mut held_by);
            let held_by = held_by.trim();
            let held_by = if held_by.is_empty() { "another ledger process" } else { held_by };
            return Err(Error::failed(format!("environment {env} is locked by {held_by}"))
                .hint("another apply, wait or reconcile is running there; try again when it has finished"));
        }
        Err(TryLockError::Error(e)) => return Err(cannot(e)),
    }
    let line = format!("{}\n", self::holder(holder).name);
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(line.as_bytes()))
        .map_err(cannot)?;
    Ok(EnvLock { _file: file })
}

/// `actor` as a lock's or lease's holder: who, which process on which machine, since when.
pub fn holder(actor: &str) -> Holder {
    let (host, pid) = (host_name(), std::process::id());
    let since = ledger::Timestamp::now().to_human();
    Holder { name: format!("{actor} (pid {pid} on {host}, since {since})"), host, pid }
}

/// This machine's name, as holders record it (empty when unknown).
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_string()
}

/// Whether the holder of `lease` is a process of this machine that has ended. A machine whose
/// processes cannot be seen (no `/proc`), or a lease that does not say, never counts as gone.
pub fn holder_gone(lease: &LeaseDoc) -> bool {
    let (Some(host), Some(pid)) = (&lease.host, lease.pid) else { return false };
    let processes = Path::new("/proc");
    !host.is_empty()
        && *host == host_name()
        && processes.join("self").exists()
        && !processes.join(pid.to_string()).exists()
}
