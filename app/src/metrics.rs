//! Delivery metrics per environment, week by week: deployment frequency, change failure rate,
//! time to restore and lead time (see `ledger::metrics`), for `ledger metrics` and the
//! dashboard's `/metrics`, which show the same figures.

use ledger::Timestamp;
use ledger::metrics::{Delivery, Week, delivery, week_of};
use ledger::store::Reader;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// The weeks shown when none are asked for.
pub const DEFAULT_WEEKS: u32 = 12;
/// The most weeks one request may cover (two years).
pub const MAX_WEEKS: u32 = 104;

/// What is counted, in the words the page and the JSON use.
pub const COUNTED: &str = "every deployment that started in these weeks, none left out; a failure is a deployment that failed or was rolled back";

/// Each environment's delivery over a window of weeks.
pub struct Metrics {
    pub weeks: u32,
    /// The Monday the window starts on.
    pub first_week: Timestamp,
    /// The Monday of its last week, the one holding the time asked about.
    pub last_week: Timestamp,
    /// In the manifest's order.
    pub environments: Vec<(String, Delivery)>,
}

/// Each environment's delivery over the `weeks` weeks (Monday to Sunday, UTC) up to and
/// including the one holding `now`.
pub fn metrics(workspace: &Workspace, reader: &Reader, now: Timestamp, weeks: u32) -> Result<Metrics> {
    if !(1..=MAX_WEEKS).contains(&weeks) {
        return Err(Error::usage(format!("weeks must be 1 to {MAX_WEEKS}, not {weeks}")));
    }
    let mut environments = Vec::new();
    for env in &workspace.manifest.environment_order {
        environments.push((env.clone(), delivery(reader, env, now, weeks)?));
    }
    let last_week = week_of(now);
    let first_week = last_week.plus_seconds(-i64::from(weeks - 1) * 7 * 86_400);
    Ok(Metrics { weeks, first_week, last_week, environments })
}

impl Metrics {
    /// `{"weeks", "from", "to", "counted", "environments": [{"env", "recorded", figures…,
    /// "weeks": [{"start", figures…}]}]}`; durations in seconds, `null` when there is none.
    pub fn json(&self) -> Value {
        let environments: Vec<Value> = self
            .environments
            .iter()
            .map(|(env, delivery)| {
                let mut figures = week_json(&delivery.overall());
                figures["env"] = json!(env);
                figures["recorded"] = json!(delivery.recorded);
                figures["weeks"] = delivery
                    .weeks
                    .iter()
                    .map(|week| {
                        let mut figures = week_json(week);
                        figures["start"] = json!(day(week.start));
                        figures
                    })
                    .collect();
                figures
            })
            .collect();
        json!({
            "weeks": self.weeks,
            "from": day(self.first_week),
            "to": day(self.last_week.plus_seconds(6 * 86_400)),
            "counted": COUNTED,
            "environments": environments,
        })
    }
}

fn week_json(week: &Week) -> Value {
    json!({
        "deployments": week.counts.deployments,
        "concluded": week.counts.concluded,
        "failures": week.counts.failures,
        "failure_percent": week.failure_percent(),
        "median_restore_seconds": week.median_restore(),
        "restores": week.restore.count(),
        "median_lead_seconds": week.median_lead(),
        "lead_times": week.lead.count(),
    })
}

/// `2026-11-23`.
pub fn day(at: Timestamp) -> String {
    at.to_rfc3339()[..10].to_string()
}

/// `45s`, `12m`, `5h 20m`, `3d 4h`.
pub fn duration(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3_600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3_600, s % 3_600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
    }
}
