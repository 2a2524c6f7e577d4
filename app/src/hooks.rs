//! How an operation talks to whoever called it without printing: progress goes to a
//! [`Progress`] sink, a confirmation is asked through a [`Confirm`] hook, and the plan of a
//! deployment is shown through [`Progress::planned`] before anything is recorded.

use ledger_remote::exchange;

use crate::error::Result;
use crate::views::PlanView;

/// Where an operation reports what it is doing. Front ends decide how (and whether) to show it.
pub trait Progress: exchange::Progress {
    /// A line about the operation as a whole, e.g. "deployment 1a2b to stage: rolling out 3
    /// service(s) on cluster c".
    fn note(&self, line: &str);

    /// A line about one service of a rollout.
    fn service(&self, service: &str, line: &str);

    /// Something went wrong that does not stop the operation (a lease not given back).
    fn warning(&self, line: &str);

    /// A deployment's plan, once made and before it is confirmed or recorded.
    fn planned(&self, plan: &PlanView);
}

/// Asks whoever runs the operation to confirm a deployment.
pub trait Confirm {
    /// `Ok` to go ahead; an error (a refusal, no one to ask) stops the deployment before anything
    /// is recorded.
    fn confirm_deploy(&self, env: &str, protected: bool) -> Result<()>;
}

/// Shows nothing, for front ends and tests that only want the result.
impl Progress for () {
    fn note(&self, _line: &str) {}
    fn service(&self, _service: &str, _line: &str) {}
    fn warning(&self, _line: &str) {}
    fn planned(&self, _plan: &PlanView) {}
}
