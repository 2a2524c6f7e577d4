//! A recording operation's session: the ledger opened for writing, the default remote (when
//! there is one) brought in step, and the one way to guard an environment — local lock, then
//! the remote's lease, then (when the work needs ECS) the AWS connection and its principal.
//! When a session ends, the events of what was recorded are delivered (see [`notify`]).

use std::time::Duration;

use ledger::manifest::EcsEnvironment;
use ledger::refs::RefName;
use ledger::{Body, Stamp, Store, StoredEntry};
use ledger_sync::Cloud;

use crate::cloud;
use crate::error::Result;
use crate::hooks::Progress;
use crate::interrupt;
use crate::lock;
use crate::notify;
use crate::remotes::{self, Shared};
use crate::workspace::Workspace;

pub struct Session<'a> {
    pub workspace: &'a Workspace,
    pub store: Store,
    pub shared: Option<Shared>,
    pub progress: &'a dyn Progress,
}

impl<'a> Session<'a> {
    /// The ledger and its default remote, without pulling.
    pub fn open(workspace: &'a Workspace, progress: &'a dyn Progress) -> Result<Session<'a>> {
        let store = match crate::signing::signer_for(workspace)? {
            Some(signer) => workspace.open_store()?.signing(signer),
            None => workspace.open_store()?,
        };
        let shared = Shared::connect(workspace, Some(&store))?;
        Ok(Session { workspace, store, shared, progress })
    }

    /// The ledger, first brought up to date with its default remote (when there is one).
    pub fn open_synced(workspace: &'a Workspace, progress: &'a dyn Progress) -> Result<Session<'a>> {
        let session = Session::open(workspace, progress)?;
        session.pull()?;
        Ok(session)
    }

    /// Takes in what the default remote has; nothing without one.
    pub fn pull(&self) -> Result<()> {
        match &self.shared {
            Some(shared) => shared.pull(&self.store, self.progress),
            None => Ok(()),
        }
    }

    /// Sends what was recorded to ref `name` to the default remote; nothing without one.
    pub fn push_ref(&self, name: &RefName) -> Result<()> {
        match &self.shared {
            Some(shared) => shared.push(&self.store, Some(name), self.progress),
            None => Ok(()),
        }
    }

    /// Records a release, release set, approval, freeze, unfreeze or quarantine (on the remote
    /// first, when there is one).
    pub fn append(&self, stamp: Stamp, body: Body) -> Result<StoredEntry> {
        remotes::append(&self.store, self.shared.as_ref(), stamp, body)
    }

    /// Runs `work` while `env` is held for `actor`: its local lock (released when this returns,
    /// or when the process ends), and with a remote its lease there for `timeout` and a margin,
    /// given back after what was recorded has been pushed, also when `work` failed. Meanwhile
    /// SIGINT and SIGTERM stop `work` where it waits (see [`interrupt`]) instead of the process.
    pub fn guarded<T>(
        &self,
        env: &str,
        actor: &str,
        timeout: Duration,
        work: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let _handled = interrupt::handle()?;
        let _lock = lock::lock(&self.workspace.ledger_dir, env, actor)?;
        match &self.shared {
            Some(shared) => shared.under_lease(&self.store, env, actor, timeout, self.progress, work),
            None => work(),
        }
    }

    /// Connects to AWS for an environment on ECS; `stamp` gets the principal beside the actor.
    pub fn connect(&self, ecs: &EcsEnvironment, stamp: Stamp) -> Result<(Cloud, Stamp)> {
        let cloud = cloud::connect(self.workspace, Some(ecs))?;
        let stamp = cloud::with_principal(stamp, &cloud)?;
        Ok((cloud, stamp))
    }
}

/// When the operation is over (done or failed), the events of what it recorded, and any left by
/// earlier operations, are delivered.
impl Drop for Session<'_> {
    fn drop(&mut self) {
        notify::deliver_after(self.workspace, &self.store, self.progress);
    }
}
