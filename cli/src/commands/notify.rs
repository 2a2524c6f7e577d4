//! `ledger notify`: what the outbox still owes the sinks of `[[notify]]`, and delivering it now.

use clap::Args;
use ledger_app::notify::{self, Outbox};
use ledger_app::text::inert;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{note, out, print_json, table};
use crate::progress::Shown;

/// Show the events waiting in the outbox, or deliver them now
///
/// Every entry recorded here (or appended to the remote from here) is queued in the outbox of
/// the ledger, once for each [[notify]] sink whose filters take it, in the same transaction as
/// the entry itself. Each recording command delivers what is due when its work is done, with a
/// few attempts; a delivery that fails never fails the command: the event stays in the outbox,
/// the command says so on stderr, and the next command (after a backoff of 30 s, doubling up to
/// an hour) or `ledger notify --flush` tries again. Delivery is at least once: a receiver may see
/// an event twice, and the entry id (the X-Ledger-Delivery and Idempotency-Key headers, the
/// event's "id") tells it so.
///
/// Exit codes: 0, or 3 when --flush left events undelivered.
///
/// Examples:
///   ledger notify                   what waits, per sink, and why it failed
///   ledger notify --flush           deliver everything now, due or not
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct NotifyArgs {
    /// Deliver every waiting event now, without waiting for its next attempt
    #[arg(long, conflicts_with = "status")]
    pub flush: bool,
    /// Show what waits in the outbox (the default)
    #[arg(long)]
    pub status: bool,
}

pub fn run(globals: &GlobalArgs, args: &NotifyArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    if args.flush {
        let delivery = notify::flush(&workspace, &Shown::new(globals))?;
        if globals.json() {
            print_json(&delivery.json())?;
        } else {
            note(&format!("delivered {} event(s); {} left in the outbox", delivery.delivered, delivery.left));
            for (sink, (count, error)) in &delivery.failed {
                note(&format!("{sink}: {count} event(s) not delivered: {}", inert(error)));
            }
        }
        return Ok(if delivery.failed.is_empty() { Finished::Success } else { Finished::Failed });
    }
    let outbox = notify::outbox(&workspace)?;
    if globals.json() {
        print_json(&outbox.json())?;
    } else {
        if workspace.manifest.notify.is_empty() && outbox.events.is_empty() {
            out("no [[notify]] sinks in ledger.toml: nothing is announced (README, \"Events\")\n")?;
        } else {
            out(&render(&outbox))?;
        }
    }
    Ok(Finished::Success)
}

fn render(outbox: &Outbox) -> String {
    if outbox.events.is_empty() {
        return "the outbox is empty: every event was delivered\n".to_string();
    }
    let header = ["SINK", "ENTRY", "KIND", "ATTEMPTS", "NEXT", "LAST ERROR"].map(String::from).to_vec();
    let rows = outbox.events.iter().map(|owed| {
        let next = match owed.queued.attempts {
            0 => "due".to_string(),
            _ => owed.queued.not_before.to_human(),
        };
        let sink = if owed.configured {
            owed.queued.sink.clone()
        } else {
            format!("{} (not in ledger.toml)", owed.queued.sink)
        };
        vec![
            sink,
            owed.entry.short(),
            owed.kind.as_str().to_string(),
            owed.queued.attempts.to_string(),
            next,
            inert(&owed.queued.error).into_owned(),
        ]
    });
    let rows: Vec<Vec<String>> = std::iter::once(header).chain(rows).collect();
    let mut text = format!(
        "{} event(s) wait in the outbox, {} failing\n",
        outbox.events.len(),
        outbox.failing().count()
    );
    text.push_str(&table(&rows));
    text
}
