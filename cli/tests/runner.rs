//! The CLI's integration tests: the real `ledger` binary, one module per command, snapshots of
//! what users and scripts see.

mod test_apply;
mod test_bad_input;
mod test_bundle;
mod test_demo;
mod test_diff;
mod test_gates;
mod test_help;
mod test_init;
mod test_log;
mod test_metrics;
mod test_notify;
mod test_register;
mod test_release;
mod test_rollback;
mod test_show;
mod test_signing;
mod test_status;
mod test_verify;
