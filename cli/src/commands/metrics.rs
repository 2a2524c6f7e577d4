//! `ledger metrics`: each environment's delivery, week by week.

use clap::Args;
use ledger_app::metrics::{self, DEFAULT_WEEKS, MAX_WEEKS, Metrics, day, duration};
use ledger_app::workspace::clock;

use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult, Finished};
use crate::output::{Style, json_text, out, table};

/// Show delivery metrics: how often each environment is deployed to, how often that fails,
/// how long recovery takes, and how long a commit takes to get there
///
/// For the last N weeks (a week runs Monday 00:00 to Sunday 23:59 UTC; the last is the current
/// one), per environment and per week:
///
///   deployments           deployments that started that week: every one is counted
///   change failure rate   failed or rolled back, out of those that ended (succeeded, failed,
///                         rolled back); in flight and submitted ones are not yet counted
///   time to restore       from a failed deployment to the environment's next success
///                         (median); a failure not recovered from yet has none
///   lead time             from a release's commit (its --revision-at) to the success that
///                         brought it to the environment (median)
///
/// The figures are the dashboard's /metrics, and are read from aggregates the ledger keeps as
/// it records, so they cost the same on any history. LEDGER_TIMESTAMP sets the time they are
/// taken at.
///
/// Examples:
///   ledger metrics
///   ledger metrics --weeks 52 --output json
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct MetricsArgs {
    /// How many weeks, the current one included
    #[arg(long, value_name = "N", default_value_t = DEFAULT_WEEKS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_WEEKS)))]
    pub weeks: u32,
}

pub fn run(globals: &GlobalArgs, args: &MetricsArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let now = clock()?;
    let text = workspace
        .read(|releases| {
            let found = metrics::metrics(&workspace, releases.source(), now, args.weeks)?;
            Ok(if globals.json() { json_text(&found.json()) } else { render(&found) })
        })
        .map_err(CommandError::from)?;
    out(&text)?;
    Ok(Finished::Success)
}

fn render(found: &Metrics) -> String {
    let style = Style::detect();
    let last_day = day(found.last_week.plus_seconds(6 * 86_400));
    let mut text = format!(
        "{} weeks, Monday {} to Sunday {last_day} (UTC): {}\n",
        found.weeks,
        day(found.first_week),
        metrics::COUNTED
    );
    let none = || "–".to_string();
    for (env, delivery) in &found.environments {
        let all = delivery.overall();
        text.push_str(&format!(
            "\n{}: {} deployments counted, of the {} it has\n",
            style.bold(env),
            all.counts.deployments,
            delivery.recorded
        ));
        text.push_str(&format!(
            "  change failure rate     {} ({} failed of {} ended)\n",
            all.failure_percent().map_or_else(none, |p| format!("{p}%")),
            all.counts.failures,
            all.counts.concluded
        ));
        text.push_str(&format!(
            "  median time to restore  {} ({} recoveries)\n",
            all.median_restore().map_or_else(none, duration),
            all.restore.count()
        ));
        text.push_str(&format!(
            "  median lead time        {} ({} changes)\n",
            all.median_lead().map_or_else(none, duration),
            all.lead.count()
        ));
        let mut rows =
            vec![["week of", "deployments", "failed", "restore", "lead time"].map(String::from).to_vec()];
        for week in &delivery.weeks {
            rows.push(vec![
                day(week.start),
                week.counts.deployments.to_string(),
                week.failure_percent().map_or_else(none, |p| format!("{p}%")),
                week.median_restore().map_or_else(none, duration),
                week.median_lead().map_or_else(none, duration),
            ]);
        }
        for line in table(&rows).lines() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    text
}
