//! A suite of test files: which ones this shard runs, and running them on
//! several host threads, one machine per thread at a time.

use super::exec::{run_test_file, Outcome, RunOptions, TestReport};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Stack of each test thread (the main thread's size: guest code and the
/// JIT's translation recurse no deeper there).
const TEST_THREAD_STACK: usize = 8 << 20;

/// One share of a suite: `--shard I/N` runs the files whose index in the
/// sorted list is `I - 1` modulo `N`, so the N shards together run every
/// file exactly once, whatever machine each runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1-based: 1..=count.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}`: expected I/N with 1 <= I <= N (e.g. 2/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The files `shard` runs out of `files`: sorted by path, duplicates
/// removed, then every `count`th from `index - 1` (all of them without a
/// shard).
pub fn shard_files(files: &[PathBuf], shard: Option<Shard>) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = files.to_vec();
    all.sort();
    all.dedup();
    match shard {
        None => all,
        Some(s) => all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % s.count == s.index - 1)
            .map(|(_, p)| p)
            .collect(),
    }
}

/// What a running suite reports as it goes (for progress displays).
#[derive(Debug)]
pub enum Event<'a> {
    /// A test file started on some thread.
    Started(&'a Path),
    /// A test file finished.
    Finished(&'a TestReport),
}

/// Runs `files` on `jobs` threads (at least 1), calling `on_event` from the
/// threads as tests start and finish; the reports come back in `files`'
/// order. A panic inside the emulator fails that test only.
pub fn run_suite(
    files: &[PathBuf],
    jobs: usize,
    opts: &RunOptions,
    on_event: &(dyn Fn(Event<'_>) + Sync),
) -> Vec<TestReport> {
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<TestReport>> = vec![None; files.len()];
    let jobs = jobs.clamp(1, files.len().max(1));
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|w| {
                let next = &next;
                std::thread::Builder::new()
                    .name(format!("preboard-test-{w}"))
                    .stack_size(TEST_THREAD_STACK)
                    .spawn_scoped(scope, move || {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(path) = files.get(i) else {
                                return done;
                            };
                            on_event(Event::Started(path));
                            let report = run_guarded(path, opts);
                            on_event(Event::Finished(&report));
                            done.push((i, report));
                        }
                    })
                    .expect("spawn a test thread")
            })
            .collect();
        for w in workers {
            // Each test is guarded against panics, so a worker returns.
            if let Ok(done) = w.join() {
                for (i, r) in done {
                    slots[i] = Some(r);
                }
            }
        }
    });
    slots
        .into_iter()
        .zip(files)
        .map(|(r, path)| {
            r.unwrap_or_else(|| TestReport {
                path: path.clone(),
                name: path.display().to_string(),
                engine: None,
                duration: Default::default(),
                outcome: Outcome::Error("the test thread died".into()),
                output: Vec::new(),
            })
        })
        .collect()
}

/// [`run_test_file`], with a panic turned into a failed test.
fn run_guarded(path: &Path, opts: &RunOptions) -> TestReport {
    let start = Instant::now();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_test_file(path, opts))).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        TestReport {
            path: path.to_path_buf(),
            name: path.display().to_string(),
            engine: None,
            duration: start.elapsed(),
            outcome: Outcome::Error(format!("the emulator panicked: {msg}")),
            output: Vec::new(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_sorted_files() {
        let files: Vec<PathBuf> = ["c.ron", "a.ron", "e.ron", "b.ron", "d.ron", "a.ron"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let all = shard_files(&files, None);
        assert_eq!(all.len(), 5);
        for n in 1..=7 {
            let mut seen = Vec::new();
            for i in 1..=n {
                let s = shard_files(&files, Some(Shard { index: i, count: n }));
                assert_eq!(
                    s,
                    shard_files(&files, Some(Shard { index: i, count: n })),
                    "deterministic"
                );
                seen.extend(s);
            }
            seen.sort();
            assert_eq!(seen, all, "{n} shards cover every file exactly once");
        }
    }

    #[test]
    fn shard_syntax() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1/0", "1", "a/b", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
