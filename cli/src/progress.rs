//! Progress on stderr, and the plan of a deployment on stdout before it is confirmed: the
//! CLI's [`ledger_app::Progress`] sink.

use std::cell::Cell;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use ledger_app::ledger_remote::exchange;
use ledger_app::text::inert;
use ledger_app::views::PlanView;

use crate::cli::GlobalArgs;
use crate::output::{Style, note, out, table};

/// Progress on stderr: a bar redrawn in place on a terminal, once something has taken more
/// than a moment; otherwise (CI) one plain line per step when it ends.
pub struct Shown {
    /// JSON on stdout: the plan is part of the document, not printed on its own.
    json: bool,
    terminal: bool,
    step: Cell<&'static str>,
    total: Cell<usize>,
    done: Cell<usize>,
    started: Cell<Option<Instant>>,
    drawn: Cell<bool>,
}

/// How long a step runs before a bar appears.
const MOMENT: Duration = Duration::from_millis(300);

impl Shown {
    pub fn new(globals: &GlobalArgs) -> Shown {
        Shown {
            json: globals.json(),
            terminal: std::io::stderr().is_terminal() && !globals.json(),
            step: Cell::new(""),
            total: Cell::new(0),
            done: Cell::new(0),
            started: Cell::new(None),
            drawn: Cell::new(false),
        }
    }

    fn draw(&self) {
        const WIDTH: usize = 30;
        let (done, total) = (self.done.get(), self.total.get());
        let line = match (done * WIDTH).checked_div(total) {
            Some(filled) => {
                let filled = filled.min(WIDTH);
                let bar = format!("{}{}", "#".repeat(filled), " ".repeat(WIDTH - filled));
                format!("{} [{bar}] {done}/{total}", self.step.get())
            }
            None => format!("{} {done}", self.step.get()),
        };
        eprint!("\r{line}\x1b[K");
        std::io::stderr().flush().ok();
        self.drawn.set(true);
    }
}

impl exchange::Progress for Shown {
    fn start(&self, step: &'static str, total: usize) {
        self.step.set(step);
        self.total.set(total);
        self.done.set(0);
        self.started.set(Some(Instant::now()));
        self.drawn.set(false);
    }

    fn advance(&self, items: usize) {
        self.done.set(self.done.get() + items);
        let long = self.started.get().is_some_and(|started| started.elapsed() >= MOMENT);
        if self.terminal
            && long
            && (self.done.get().is_multiple_of(64) || self.done.get() == self.total.get())
        {
            self.draw();
        }
    }

    fn finish(&self) {
        if self.terminal {
            if self.drawn.get() {
                self.draw();
                eprintln!();
            }
        } else if self.done.get() > 0 {
            note(&format!("{} {} objects", self.step.get(), self.done.get()));
        }
    }
}

impl ledger_app::Progress for Shown {
    fn note(&self, line: &str) {
        note(line);
    }

    fn service(&self, service: &str, line: &str) {
        note(&format!("  {service}: {line}"));
    }

    fn warning(&self, line: &str) {
        note(line.trim_end());
    }

    fn planned(&self, plan: &PlanView) {
        if self.json || plan.is_empty() {
            return;
        }
        // A reader that has gone is noticed when the result is written.
        let _ = out(&render_plan(plan, Style::detect()));
    }
}

/// `plan for stage (2 services change):`, a table of each change, the task definitions each
/// would register against the ones running (unified diffs, coloured by `style`), and the notes.
pub fn render_plan(plan: &PlanView, style: Style) -> String {
    let count = plan.changes.len();
    let mut text =
        format!("plan for {} ({count} service{} change):\n", plan.env, if count == 1 { "" } else { "s" });
    let mut rows = vec![vec!["SERVICE".to_string(), "NOW".to_string(), String::new(), "AFTER".to_string()]];
    let strategies = !plan.strategies.is_empty();
    if strategies {
        rows[0].push("STRATEGY".into());
    }
    for change in &plan.changes {
        let from = change.from.as_ref().map_or("-".to_string(), |view| view.human());
        let mut row = vec![inert(&change.service).into_owned(), from, "->".into(), change.to.human()];
        if strategies {
            row.push(plan.strategies.get(&change.service).map_or("-".into(), |s| inert(s).into_owned()));
        }
        rows.push(row);
    }
    text.push_str(&table(&rows));
    for (service, preview) in &plan.definitions {
        let service = inert(service);
        if preview.diff.is_empty() {
            text.push_str(&format!("task definition of {service}: unchanged\n"));
        } else {
            text.push_str(&format!("task definition of {service}:\n"));
        }
        for line in preview.diff.lines() {
            text.push_str(&format!("{}\n", style.diff_line(&inert(line))));
        }
        if !preview.drift.is_empty() {
            text.push_str(&format!(
                "{}\n",
                style.warn(&format!("{service} runs a task definition changed behind ledger's back (the new revision keeps it):"))
            ));
            for change in &preview.drift {
                text.push_str(&format!("  {}\n", inert(&change.human())));
            }
        }
        if let Some(why) = &preview.drift_unknown {
            text.push_str(&format!("note: {service}: whether its task definition changed behind ledger's back is not known: {}\n", inert(why)));
        }
    }
    for line in &plan.notes {
        text.push_str(&format!("note: {}\n", inert(line)));
    }
    if !plan.gates.is_empty() {
        text.push_str(&format!("gates of {}:\n", plan.env));
        let rows: Vec<Vec<String>> = plan
            .gates
            .iter()
            .map(|gate| {
                vec![
                    format!("  {}", if gate.passed { "passed" } else { "REFUSED" }),
                    inert(&gate.state).into_owned(),
                ]
            })
            .collect();
        text.push_str(&table(&rows));
    }
    text
}
