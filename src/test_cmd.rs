//! `preboard test`: runs test files (`boards::runner`) in parallel, shows
//! progress, prints failure reports and writes JUnit XML.

use boards::runner::{self, EngineKind, Event, Outcome, RunOptions, Shard, TestReport};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeSet;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Exit codes of `preboard test`.
mod exit {
    /// Every test passed.
    pub const PASSED: u8 = 0;
    /// A test failed or could not run.
    pub const FAILED: u8 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: u8 = 2;
}

#[derive(Args)]
pub struct TestArgs {
    /// Test files (.ron), or directories searched for them recursively.
    #[arg(value_name = "FILES", required = true)]
    files: Vec<PathBuf>,
    /// Write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Run only shard I of N (1-based): the files whose index in the sorted
    /// list is I-1 modulo N, so N machines with the same files share the
    /// suite without overlap.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Tests to run at once (default: the host's cores).
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// Run every test on this engine, whatever its file says.
    #[arg(long, value_name = "ENGINE")]
    engine: Option<EngineKind>,
    /// Run every test in deterministic time, as if its file said
    /// `deterministic: true` (its timeouts become guest time).
    #[arg(long)]
    deterministic: bool,
    /// How many of each UART's last lines a failure shows.
    #[arg(long, value_name = "N", default_value_t = 20)]
    last_lines: usize,
}

/// `.ron` files under `dir`, recursively, sorted.
fn ron_files(dir: &Path, out: &mut BTreeSet<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            ron_files(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "ron") {
            out.insert(p);
        }
    }
    Ok(())
}

/// Runs the command; the exit code (usage problems print their message).
pub fn test(args: TestArgs) -> u8 {
    let mut files = BTreeSet::new();
    for f in &args.files {
        if f.is_dir() {
            if let Err(e) = ron_files(f, &mut files) {
                eprintln!("preboard: error: cannot list {}: {e}", f.display());
                return exit::USAGE;
            }
        } else if f.exists() {
            files.insert(f.clone());
        } else {
            eprintln!("preboard: error: test file {} does not exist", f.display());
            return exit::USAGE;
        }
    }
    let all: Vec<PathBuf> = files.into_iter().collect();
    let selected = runner::shard_files(&all, args.shard);
    let jobs = args
        .jobs
        .map(|j| j as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let opts = RunOptions {
        engine: args.engine,
        last_lines: args.last_lines,
        deterministic: args.deterministic,
        ..RunOptions::default()
    };
    let shard_note = args
        .shard
        .map(|s| format!(" (shard {s} of {} files)", all.len()))
        .unwrap_or_default();
    println!(
        "running {} test file(s){shard_note}, {} at a time",
        selected.len(),
        jobs.min(selected.len().max(1))
    );

    let started = Instant::now();
    // A bar on a terminal; plain lines otherwise (CI logs).
    let bar = std::io::stderr().is_terminal().then(|| {
        let pb = ProgressBar::new(selected.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    });
    let running: Mutex<Vec<PathBuf>> = Mutex::default();
    let print = |text: &str| match &bar {
        Some(pb) => pb.suspend(|| println!("{text}")),
        None => println!("{text}"),
    };
    let on_event = |e: Event<'_>| {
        let mut running = running.lock().unwrap_or_else(|e| e.into_inner());
        match e {
            Event::Started(p) => running.push(p.to_path_buf()),
            Event::Finished(r) => {
                running.retain(|p| *p != r.path);
                print(&r.render());
                if let Some(pb) = &bar {
                    pb.inc(1);
                }
            }
        }
        if let Some(pb) = &bar {
            let names: Vec<String> = running.iter().map(|p| p.display().to_string()).collect();
            pb.set_message(names.join(" "));
        }
    };
    let reports = runner::run_suite(&selected, jobs, &opts, &on_event);
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    let total = started.elapsed();
    summarize(&reports, total);

    if let Some(path) = &args.junit {
        let suite = match args.shard {
            Some(s) => format!("preboard shard {s}"),
            None => "preboard".into(),
        };
        let xml = runner::junit_xml(&suite, &reports, total);
        if let Err(e) = std::fs::write(path, xml) {
            eprintln!("preboard: error: cannot write {}: {e}", path.display());
            return exit::FAILED;
        }
    }
    if reports.iter().all(TestReport::passed) {
        exit::PASSED
    } else {
        exit::FAILED
    }
}

/// The failures again (the list may have scrolled away), then the counts.
fn summarize(reports: &[TestReport], total: Duration) {
    let failed: Vec<&TestReport> = reports.iter().filter(|r| !r.passed()).collect();
    if !failed.is_empty() {
        println!("\nfailures:");
        for r in &failed {
            let path = r.path.display().to_string();
            match &r.outcome {
                Outcome::Failed(f) => println!(
                    "    {path}: step {} {} at {}: {}",
                    f.step + 1,
                    f.step_text,
                    f.step_at,
                    f.message
                ),
                Outcome::Error(e) if e.starts_with(&path) => println!("    {e}"),
                Outcome::Error(e) => println!("    {path}: {e}"),
                Outcome::Passed => {}
            }
        }
    }
    println!("\nfinished in {:.2} s", total.as_secs_f64());
    println!("{} passed, {} failed", reports.len() - failed.len(), failed.len());
}
