//! `/metrics?weeks=N`: each environment's delivery, week by week, as small SVG bar charts
//! drawn on the server: deployment frequency, change failure rate, time to restore, and lead
//! time from commit to the environment.

use askama::Template;
use ledger_app::ledger::Timestamp;
use ledger_app::ledger::metrics::Week;
use ledger_app::metrics::{self, COUNTED, DEFAULT_WEEKS, MAX_WEEKS, day, duration};

use super::{Dashboard, Nav, PageError, Params};

#[derive(Template)]
#[template(path = "metrics.html")]
struct MetricsPage {
    nav: Nav,
    weeks: u32,
    max_weeks: u32,
    first_week: String,
    last_day: String,
    counted: &'static str,
    envs: Vec<EnvMetrics>,
}

struct EnvMetrics {
    env: String,
    summary: Vec<(&'static str, String)>,
    charts: Vec<Chart>,
    /// The deployments counted in the window, and all the environment has.
    counted: u64,
    recorded: u64,
}

/// A bar chart, laid out for the template.
pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub bars: Vec<Bar>,
    pub width: u32,
    pub height: u32,
    /// The largest value, as the axis label.
    pub top: String,
}

pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// The week it stands for and its value, shown on hover.
    pub title: String,
    pub label: String,
    pub bad: bool,
}

const CHART_WIDTH: u32 = 280;
const CHART_HEIGHT: u32 = 120;
/// Room for the week labels below the bars and the top value above.
const BOTTOM: u32 = 16;
const TOP: u32 = 12;

impl Chart {
    fn new(
        id: &'static str,
        title: &'static str,
        weeks: &[Week],
        value: impl Fn(&Week) -> Option<i64>,
        show: impl Fn(i64) -> String,
        bad: bool,
    ) -> Chart {
        let values: Vec<Option<i64>> = weeks.iter().map(&value).collect();
        let largest = values.iter().flatten().copied().max();
        let max = largest.unwrap_or(0).max(1);
        let slot = CHART_WIDTH / u32::try_from(weeks.len().max(1)).unwrap_or(1);
        let room = CHART_HEIGHT - BOTTOM - TOP;
        let bars = weeks
            .iter()
            .zip(&values)
            .enumerate()
            .map(|(n, (week, value))| {
                let height =
                    value.map_or(0, |v| u32::try_from(v.max(0) * i64::from(room) / max).unwrap_or(room));
                let x = u32::try_from(n).unwrap_or(0) * slot;
                Bar {
                    x: x + 1,
                    y: TOP + room - height,
                    width: slot.saturating_sub(2).max(1),
                    height,
                    title: format!("week of {}: {}", day(week.start), value.map_or("none".into(), &show)),
                    label: if n % 4 == 0 { day(week.start)[5..].to_string() } else { String::new() },
                    bad,
                }
            })
            .collect();
        let top = largest.map(&show).unwrap_or_else(|| "no data".into());
        Chart { id, title, bars, width: CHART_WIDTH, height: CHART_HEIGHT, top }
    }
}

pub fn page(dashboard: &Dashboard, now: Timestamp, params: &Params) -> Result<String, PageError> {
    let weeks = params.number("weeks", 1..=MAX_WEEKS as usize, DEFAULT_WEEKS as usize)?;
    let reader = dashboard.store.read()?;
    let found = metrics::metrics(&dashboard.workspace, &reader, now, u32::try_from(weeks).unwrap_or(1))?;
    let mut envs = Vec::new();
    for (env, delivery) in &found.environments {
        let overall = delivery.overall();
        let summary = vec![
            ("deployments", overall.counts.deployments.to_string()),
            ("change failure rate", overall.failure_percent().map_or("–".into(), |p| format!("{p}%"))),
            ("median time to restore", overall.median_restore().map_or("–".into(), duration)),
            ("median lead time", overall.median_lead().map_or("–".into(), duration)),
        ];
        let charts = vec![
            Chart::new(
                "frequency",
                "Deployments per week",
                &delivery.weeks,
                |w| i64::try_from(w.counts.deployments).ok(),
                |v| v.to_string(),
                false,
            ),
            Chart::new(
                "failure-rate",
                "Change failure rate",
                &delivery.weeks,
                |w| w.failure_percent().and_then(|p| i64::try_from(p).ok()),
                |v| format!("{v}%"),
                true,
            ),
            Chart::new(
                "restore",
                "Time to restore (median)",
                &delivery.weeks,
                Week::median_restore,
                duration,
                true,
            ),
            Chart::new(
                "lead-time",
                "Lead time, commit to here (median)",
                &delivery.weeks,
                Week::median_lead,
                duration,
                false,
            ),
        ];
        envs.push(EnvMetrics {
            env: env.clone(),
            summary,
            charts,
            counted: overall.counts.deployments,
            recorded: delivery.recorded,
        });
    }
    Ok(MetricsPage {
        nav: dashboard.nav("metrics"),
        weeks: found.weeks,
        max_weeks: MAX_WEEKS,
        first_week: day(found.first_week),
        last_day: day(found.last_week.plus_seconds(6 * 86_400)),
        counted: COUNTED,
        envs,
    }
    .render()?)
}
