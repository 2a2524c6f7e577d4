//! Delivery metrics per environment, week by week: deployment frequency, change failure rate,
//! time to restore and lead time (see `ledger::metrics`).

use ledger::metrics::{Delivery, delivery};
use ledger::{Source, Timestamp};

use crate::error::Result;
use crate::views::Releases;
use crate::workspace::Workspace;

/// Each environment's delivery over the `weeks` weeks before `now`, in the manifest's order.
pub fn metrics<S: Source>(
    workspace: &Workspace,
    releases: &Releases<'_, S>,
    now: Timestamp,
    weeks: u32,
) -> Result<Vec<(String, Delivery)>> {
    let mut envs = Vec::new();
    for env in &workspace.manifest.environment_order {
        envs.push((env.clone(), delivery(releases.source(), env, now, weeks)?));
    }
    Ok(envs)
}
