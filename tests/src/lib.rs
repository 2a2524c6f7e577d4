//! The end-to-end tests of ledger live in `tests/`: the real binary, several processes, the
//! README's walk-through, the AWS emulator and the dashboard in Chromium. What they share is in
//! `ledger-testutil`; this library is empty.
