//! The inspector GUI (eframe/egui): watch and steer a running board.
//!
//! The machine runs on its own thread ([`host`]); the window reads what
//! it shows from the views that thread publishes and steers it with
//! commands, both through the inspection and control interface the gdb
//! stub and the monitor use (`boards::control`). Panels ([`app::Tab`]):
//! cores, disassembly, memory with translation walks, one console per
//! UART, the device tree, devices and timers, statistics.
#![deny(missing_docs)]

pub mod app;
pub mod code;
pub mod host;

pub use app::{Console, Inspector, Tab};
pub use host::{Command, Factory, Handle, RunState, View};

use eframe::egui;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What the window inspects.
pub struct Launch {
    /// Builds the machine (again on reset).
    pub factory: Factory,
    /// One console per UART, in board order.
    pub consoles: Vec<Console>,
    /// The kernel image, for its ELF symbols.
    pub image: Option<Vec<u8>>,
}

/// How the window behaves.
#[derive(Clone, Debug, Default)]
pub struct WindowOptions {
    /// Start with the machine paused (at its first instruction).
    pub paused: bool,
    /// Close the window after this long (scripted runs, smoke tests).
    pub quit_after: Option<Duration>,
    /// With `quit_after`: save a screenshot of the window (binary PPM)
    /// here just before closing.
    pub screenshot: Option<PathBuf>,
}

/// Why the window could not run.
#[derive(Debug, thiserror::Error)]
pub enum GuiError {
    /// The machine thread could not start.
    #[error("cannot start the machine thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The window (display, OpenGL) could not be opened or failed.
    #[error("the inspector window failed: {0}")]
    Window(String),
    /// The screenshot could not be written.
    #[error("cannot write the screenshot {path}: {source}")]
    Screenshot {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The key the dock layout is saved under.
const LAYOUT_KEY: &str = "preboard-dock-layout";

struct WindowApp {
    inspector: Inspector,
    options: WindowOptions,
    started: Instant,
    screenshot_asked: bool,
    closing: bool,
    failure: Arc<Mutex<Option<GuiError>>>,
}

impl eframe::App for WindowApp {
    fn update(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.inspector.ui(ctx);
        if self.inspector.view().state == RunState::Quit && !self.closing {
            // SIGTERM / quit requested: the machine thread is done.
            self.closing = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        for e in ctx.input(|i| i.events.clone()) {
            if let egui::Event::Screenshot { image, .. } = e {
                if let Some(path) = &self.options.screenshot {
                    if let Err(source) = write_ppm(path, &image) {
                        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(GuiError::Screenshot {
                            path: path.clone(),
                            source,
                        });
                    }
                }
                self.closing = true;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
        if let Some(after) = self.options.quit_after {
            let left = after.saturating_sub(self.started.elapsed());
            if left.is_zero() && !self.closing {
                if self.options.screenshot.is_some() {
                    if !self.screenshot_asked {
                        self.screenshot_asked = true;
                        ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(egui::UserData::default()));
                    }
                    ctx.request_repaint();
                } else {
                    self.closing = true;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            } else {
                ctx.request_repaint_after(left);
            }
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, LAYOUT_KEY, self.inspector.layout());
    }
}

/// Writes `image` as a binary PPM (P6): a format any viewer and a test
/// can read without an image library.
fn write_ppm(path: &Path, image: &egui::ColorImage) -> std::io::Result<()> {
    let [w, h] = image.size;
    let mut out = format!("P6\n{w} {h}\n255\n").into_bytes();
    for p in &image.pixels {
        out.extend_from_slice(&[p.r(), p.g(), p.b()]);
    }
    std::fs::write(path, out)
}

/// Opens the inspector window over the machine `launch` builds, and
/// returns when the window closes (the machine thread is ended then).
pub fn run_window(launch: Launch, options: WindowOptions) -> Result<(), GuiError> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Preboard inspector")
            .with_app_id("preboard")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([640.0, 400.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    let failure: Arc<Mutex<Option<GuiError>>> = Arc::default();
    // The machine thread, started by the window (its repaint callback
    // needs the window's context) and ended here once the window closes.
    type Started = Option<(Handle, std::thread::JoinHandle<()>)>;
    let threads: Arc<Mutex<Started>> = Arc::default();
    let (f, t) = (failure.clone(), threads.clone());
    let Launch {
        factory,
        consoles,
        image,
    } = launch;
    let opts = options.clone();
    let r = eframe::run_native(
        "preboard",
        native,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let (handle, join) = host::spawn(factory, opts.paused, Arc::new(move || ctx.request_repaint()))?;
            let layout = cc.storage.and_then(|s| eframe::get_value(s, LAYOUT_KEY));
            let inspector = Inspector::new(handle.clone(), consoles, image.as_deref(), layout);
            *t.lock().unwrap_or_else(PoisonError::into_inner) = Some((handle, join));
            Ok(Box::new(WindowApp {
                inspector,
                options: opts,
                started: Instant::now(),
                screenshot_asked: false,
                closing: false,
                failure: f,
            }))
        }),
    );
    if let Some((handle, join)) = threads.lock().unwrap_or_else(PoisonError::into_inner).take() {
        handle.send(Command::Quit);
        let _ = join.join();
    }
    r.map_err(|e| GuiError::Window(e.to_string()))?;
    let failed = failure.lock().unwrap_or_else(PoisonError::into_inner).take();
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
