//! Delivery metrics of an environment, week by week: how often it is deployed to, how often a
//! deployment fails, how long it takes to recover, and how long a commit takes to get there.
//!
//! They are computed from the environment log, newest first, back to the start of the window
//! (and at most [`MAX_DEPLOYMENTS`] deployments, so a page stays fast on any history).

use std::collections::BTreeMap;

use crate::entry::DeployResult;
use crate::history::{self, HistoryError};
use crate::id::EntryId;
use crate::store::{EnvLogRow, Source};
use crate::timestamp::Timestamp;

/// The most deployments one computation reads.
pub const MAX_DEPLOYMENTS: usize = 5_000;

const WEEK_SECONDS: i64 = 7 * 86_400;

/// One week of an environment's deliveries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Week {
    pub start: Timestamp,
    /// Deployments started this week.
    pub deployments: u32,
    /// Those that ended: succeeded, failed or rolled back.
    pub concluded: u32,
    /// Those that failed or were rolled back.
    pub failures: u32,
    /// For each failure this week that a later deployment recovered from: seconds from the
    /// failed deployment to the next successful outcome.
    pub restore_seconds: Vec<i64>,
    /// For each service a successful deployment this week changed to a release with a commit
    /// time: seconds from the commit to the successful outcome.
    pub lead_seconds: Vec<i64>,
}

impl Week {
    fn starting(start: Timestamp) -> Week {
        Week {
            start,
            deployments: 0,
            concluded: 0,
            failures: 0,
            restore_seconds: Vec::new(),
            lead_seconds: Vec::new(),
        }
    }

    /// Failures per concluded deployment, in percent.
    pub fn failure_percent(&self) -> Option<u32> {
        (self.concluded > 0).then(|| self.failures * 100 / self.concluded)
    }

    pub fn median_restore(&self) -> Option<i64> {
        median(&self.restore_seconds)
    }

    pub fn median_lead(&self) -> Option<i64> {
        median(&self.lead_seconds)
    }
}

/// An environment's weeks, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub weeks: Vec<Week>,
    /// The window reached further back than the deployments read ([`MAX_DEPLOYMENTS`]).
    pub truncated: bool,
}

impl Delivery {
    /// Over the whole window.
    pub fn overall(&self) -> Week {
        let mut all = Week::starting(self.weeks.first().map_or(Timestamp(0), |w| w.start));
        for week in &self.weeks {
            all.deployments += week.deployments;
            all.concluded += week.concluded;
            all.failures += week.failures;
            all.restore_seconds.extend(&week.restore_seconds);
            all.lead_seconds.extend(&week.lead_seconds);
        }
        all
    }
}

/// The `weeks` weeks of `env` that end at `now`.
pub fn delivery(
    source: &impl Source,
    env: &str,
    now: Timestamp,
    weeks: u32,
) -> Result<Delivery, HistoryError> {
    let window_start = now.plus_seconds(-i64::from(weeks) * WEEK_SECONDS);
    let mut rows: Vec<EnvLogRow> = Vec::new();
    let mut truncated = false;
    source.visit_env_log(env, &mut |row| {
        if rows.len() == MAX_DEPLOYMENTS {
            truncated = true;
            return Ok(false);
        }
        rows.push(row);
        Ok(true)
    })?;
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let record = history::record_of(source, env, row)?;
        if record.deployment.entry.at < window_start {
            truncated = false;
            break;
        }
        records.push(record);
    }
    records.reverse();

    let mut weeks: Vec<Week> =
        (0..weeks).map(|n| Week::starting(window_start.plus_seconds(i64::from(n) * WEEK_SECONDS))).collect();
    let count = weeks.len();
    let week_of = |at: Timestamp| -> Option<usize> {
        let index = (at.0 - window_start.0).div_euclid(WEEK_SECONDS * 1_000_000);
        usize::try_from(index).ok().filter(|i| *i < count)
    };
    let mut revision_times = RevisionTimes { source, known: BTreeMap::new() };
    // Failures not yet recovered from: (their week, when they started).
    let mut unrecovered: Vec<(usize, Timestamp)> = Vec::new();
    for record in &records {
        let Some(week) = week_of(record.deployment.entry.at) else { continue };
        weeks[week].deployments += 1;
        let Some(outcome) = &record.outcome else { continue };
        let ended_at = outcome.entry.at;
        match record.result() {
            Some(DeployResult::Succeeded) => {
                weeks[week].concluded += 1;
                for (failed_week, failed_at) in unrecovered.drain(..) {
                    weeks[failed_week].restore_seconds.push(seconds_between(failed_at, ended_at));
                }
                let changes = record.deployment.entry.as_deployment().map(|d| &d.changes);
                for change in changes.into_iter().flat_map(|c| c.values()) {
                    if let Some(committed) = revision_times.of(change.to)? {
                        weeks[week].lead_seconds.push(seconds_between(committed, ended_at));
                    }
                }
            }
            Some(DeployResult::Failed | DeployResult::RolledBack) => {
                weeks[week].concluded += 1;
                weeks[week].failures += 1;
                unrecovered.push((week, record.deployment.entry.at));
            }
            Some(DeployResult::Submitted) | None => {}
        }
    }
    Ok(Delivery { weeks, truncated })
}

/// Commit times of releases, each looked up once.
struct RevisionTimes<'s, S> {
    source: &'s S,
    known: BTreeMap<EntryId, Option<Timestamp>>,
}

impl<S: Source> RevisionTimes<'_, S> {
    fn of(&mut self, release: EntryId) -> Result<Option<Timestamp>, HistoryError> {
        if let Some(known) = self.known.get(&release) {
            return Ok(*known);
        }
        let stored = self.source.entry(&release)?;
        let at = stored.and_then(|s| s.entry.as_release().and_then(|r| r.revision_at));
        self.known.insert(release, at);
        Ok(at)
    }
}

fn seconds_between(from: Timestamp, to: Timestamp) -> i64 {
    ((to.0 - from.0) / 1_000_000).max(0)
}

fn median(values: &[i64]) -> Option<i64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().filter(|_| !sorted.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[5, 1, 3]), Some(3));
        assert_eq!(median(&[4, 1, 3, 2]), Some(3));
        assert_eq!(median(&[]), None);
    }
}
