//! `preboard gui` in a real window, on a virtual X server (Xvfb; CI
//! installs it, and mesa's software OpenGL): the window opens, draws
//! (its own screenshot is not blank), remembers its layout, and the
//! process exits cleanly when asked (`--quit-after`, SIGTERM).

mod common;

use common::{preboard_command, run_with_timeout, tool, TempDir};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A private X server on a display nobody uses; killed on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Option<Xvfb> {
        if !tool("Xvfb") {
            return None;
        }
        // Tests run in parallel: each takes display numbers of its own,
        // and one another process holds is skipped (Xvfb exits at once).
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base = 40 + std::process::id() % 400;
        for _ in 0..20 {
            let n = base + NEXT.fetch_add(1, Ordering::Relaxed);
            let socket = format!("/tmp/.X11-unix/X{n}");
            if Path::new(&socket).exists() || Path::new(&format!("/tmp/.X{n}-lock")).exists() {
                continue;
            }
            let mut child = Command::new("Xvfb")
                .arg(format!(":{n}"))
                .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start Xvfb");
            let until = Instant::now() + Duration::from_secs(20);
            loop {
                if Path::new(&socket).exists() {
                    return Some(Xvfb {
                        child,
                        display: format!(":{n}"),
                    });
                }
                if child.try_wait().expect("wait for Xvfb").is_some() {
                    break; // the display was taken after all
                }
                assert!(Instant::now() < until, "Xvfb :{n} did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("no free X display for Xvfb");
    }

    /// `preboard gui ARGS` on this display, its settings in `home`.
    fn preboard(&self, home: &Path, args: &[&str]) -> Command {
        let mut c = preboard_command();
        c.arg("gui")
            .args(args)
            .env("DISPLAY", &self.display)
            .env_remove("WAYLAND_DISPLAY")
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"));
        c
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A binary PPM (P6, as `--screenshot` writes): width, height, pixels.
fn read_ppm(path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..at]).to_string());
    }
    assert_eq!(fields[0], "P6");
    assert_eq!(fields[3], "255");
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels: Vec<[u8; 3]> = bytes[at + 1..].chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    assert_eq!(pixels.len(), w * h, "{}: {w}x{h} pixels", path.display());
    (w, h, pixels)
}

/// The window opens at its default size, runs the demo, draws text and
/// panels (many distinct colours, not one fill), saves a screenshot and
/// its layout, and exits with code 0 at --quit-after.
#[test]
fn the_window_draws_and_quits_when_asked() {
    let Some(x) = Xvfb::start() else { return };
    let tmp = TempDir::new("gui-window");
    let dir = tmp.path("");
    let shot = tmp.path("shot.ppm");
    let mut cmd = x.preboard(
        &dir,
        &[
            "--deterministic",
            "--quit-after",
            "4",
            "--screenshot",
            shot.to_str().unwrap(),
        ],
    );
    let r = run_with_timeout(&mut cmd, None, 90);
    assert_eq!(r.code, Some(0), "stderr:\n{}", r.stderr);
    let (w, h, pixels) = read_ppm(&shot);
    assert_eq!((w, h), (1280, 800), "the window's default size");
    let mut colours: Vec<[u8; 3]> = pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 16,
        "only {} colours: the window did not draw",
        colours.len()
    );
    // No single colour covers (nearly) everything.
    let most = pixels.iter().filter(|p| **p == pixels[0]).count();
    assert!(most < pixels.len() * 95 / 100);
    // eframe's persistence: the dock layout is saved under the app id.
    let saved =
        std::fs::read_to_string(dir.join("data/preboard/app.ron")).unwrap_or_else(|e| panic!("layout not saved: {e}"));
    assert!(saved.contains("preboard-dock-layout"), "{saved}");
}

/// SIGTERM ends the window and the machine thread cleanly: exit code 0.
#[test]
fn sigterm_closes_the_window() {
    let Some(x) = Xvfb::start() else { return };
    let tmp = TempDir::new("gui-sigterm");
    let dir = tmp.path("");
    let mut child = x
        .preboard(&dir, &["--paused"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start preboard gui");
    std::thread::sleep(Duration::from_secs(3));
    assert!(child.try_wait().unwrap().is_none(), "the window closed by itself");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("preboard gui did not exit within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "stderr:\n{err}");
    assert!(err.contains("termination signal"), "{err}");
}
