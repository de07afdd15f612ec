//! The headless test runner: scripted tests against a machine, as a Rust
//! API and as test files that `preboard test` runs in parallel.
//!
//! ```text
//!  tests/hw/*.ron ──file::load_test_file──▶ TestFile (board, images, steps; errors at file:line:col)
//!                                              │ exec::run_test
//!                                              ▼
//!  MachineBuilder ──build──▶ Harness ── Machine::run_until(slice of host time) ──┐
//!      every PL011 + semihosting → chardev::Capture (output kept, input queued)  │
//!                              ◀── between slices: match UART lines, timeouts ───┘
//!                                              │
//!                                              ▼
//!  suite::run_suite (threads, one machine each) ──▶ TestReport ──▶ junit::junit_xml
//! ```
//!
//! Time is the host's (timeouts are host milliseconds), or with
//! `deterministic: true` the guest's virtual time ([`crate::time`]):
//! slices and timeouts in guest time, with a host-time safety net.
//! Snapshots: `Harness::snapshot`/`restore` and the `Snapshot`/`Restore`
//! steps (named snapshots in a directory of the harness's own).

mod exec;
mod file;
mod harness;
mod junit;
mod suite;

pub use exec::{run_test, run_test_file, Outcome, RunOptions, StepFailure, TestReport};
pub use file::{load_test_file, parse_size, parse_test_file, Images, Step, TestFile, TestFileError, DEFAULT_TIMEOUT};
pub use harness::{
    BuildError, CoreState, EngineKind, Failure, Harness, MachineBuilder, Match, RegName, Stopped, DEFAULT_GUEST_SLICE,
    DEFAULT_HOST_SAFETY_NET, DEFAULT_SLICE, SEMIHOSTING,
};
pub use junit::{escape as xml_escape, junit_xml};
/// The pattern type [`Harness::run_until_uart`] takes (the `regex` crate's).
pub use regex::Regex;
pub use suite::{run_suite, shard_files, Event, Shard};
