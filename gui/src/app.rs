//! The inspector window: a toolbar (run, pause, steps, reset, engine,
//! rate) over dockable panels. Everything it shows comes from the latest
//! [`View`] the machine thread published; everything it does is a
//! [`Command`].

use crate::code::{Disassembler, Symbols};
use crate::host::{Command, CoreView, Handle, Interest, MemoryRequest, RunState, View};
use boards::control::{DebugWalk, Space, Stop};
use eframe::egui::{self, Color32, RichText, Ui};
use egui_dock::{DockArea, DockState, NodeIndex, TabViewer};
use serde::{Deserialize, Serialize};
use soc::chardev::Capture;
use soc::device::DeviceView;
use soc::pflash::{FlashStore, FlashView, Mode as FlashMode};
use std::sync::Arc;

/// The panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tab {
    /// Registers of the selected core.
    Cores,
    /// Code around the PC.
    Disassembly,
    /// Hex + ASCII, and the translation walk.
    Memory,
    /// One UART (index into the consoles).
    Console(usize),
    /// The device tree the guest received.
    DeviceTree,
    /// Memory-mapped devices and the cores' timers.
    Devices,
    /// Execution counters and the rate plot.
    Stats,
}

/// A host-side console: what a UART sent, and input for it.
pub struct Console {
    /// The UART's name.
    pub name: String,
    /// Its backend (the machine holds a clone).
    pub capture: Capture,
}

/// How much of a console's output the window shows (the tail).
const CONSOLE_KEEP: usize = 32 * 1024;
/// Highlight for values that changed since the previous stop.
const CHANGED: Color32 = Color32::from_rgb(0xff, 0x9a, 0x3c);
/// The PC's line in the disassembly.
const PC_LINE: Color32 = Color32::from_rgb(0x5c, 0xc8, 0x5c);
/// A breakpoint's marker.
const BREAK: Color32 = Color32::from_rgb(0xe0, 0x40, 0x40);

/// The window's state apart from the dock layout.
pub struct State {
    host: Handle,
    view: Arc<View>,
    consoles: Vec<ConsoleState>,
    disasm: Disassembler,
    symbols: Symbols,
    /// What the window asks the machine thread for.
    interest: Interest,
    /// Registers at the previous stop and at the latest one.
    prev_stop: Option<Vec<CoreView>>,
    this_stop: Option<Vec<CoreView>>,
    seen_stops: u64,
    goto_code: String,
    mem_addr: String,
    mem_space: Space,
    mem_follow: Option<String>,
    mem_edit: String,
    /// The byte being edited in the hex view.
    hex_edit: Option<HexEdit>,
    walk_addr: String,
    vector_lanes: Lanes,
    all_irqs: bool,
    /// The stop and code window (first address, lines) the disassembly
    /// last centred the PC's line for.
    scrolled_for: Option<(u64, Option<u64>, usize)>,
    error: Option<String>,
}

/// Inline editing of one byte of the hex view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HexEdit {
    /// The byte's address (in the memory window's space).
    addr: u64,
    /// The first hex digit typed, waiting for the second.
    high: Option<u8>,
    /// The editor has had keyboard focus (losing it ends the edit).
    armed: bool,
}

struct ConsoleState {
    console: Console,
    input: String,
}

/// How V registers are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lanes {
    Q,
    D,
    S,
    H,
    B,
}

/// The inspector: the dock layout and the state its panels show.
pub struct Inspector {
    dock: DockState<Tab>,
    state: State,
}

/// The layout a first start gets (later starts get the one saved).
/// At 1280x800: the Cores column as wide as its register grid, the
/// memory rows' hex bytes unclipped beside the disassembly, and the
/// consoles, statistics and devices below both, wide enough for every
/// tab title and the device tables.
pub fn default_layout(consoles: usize) -> DockState<Tab> {
    let mut dock = DockState::new(vec![Tab::Disassembly]);
    let surface = dock.main_surface_mut();
    let [rest, _left] = surface.split_left(NodeIndex::root(), 0.3, vec![Tab::Cores]);
    let mut bottom: Vec<Tab> = (0..consoles).map(Tab::Console).collect();
    bottom.extend([Tab::Stats, Tab::Devices]);
    let [top, _bottom] = surface.split_below(rest, 0.6, bottom);
    surface.split_right(top, 0.45, vec![Tab::Memory, Tab::DeviceTree]);
    dock
}

impl Inspector {
    /// An inspector over the machine thread `host`, showing `consoles`
    /// and naming addresses after `image`'s symbols when it is an ELF
    /// file. `layout` is a saved layout, if any.
    pub fn new(host: Handle, consoles: Vec<Console>, image: Option<&[u8]>, layout: Option<DockState<Tab>>) -> Self {
        let n = consoles.len();
        // A saved layout from a board with other UARTs may name consoles
        // that no longer exist: start over then.
        let layout = layout.filter(|d| d.iter_all_tabs().all(|(_, t)| !matches!(t, Tab::Console(i) if *i >= n)));
        let interest = Interest {
            memory: Some(MemoryRequest {
                addr: 0,
                space: Space::Virtual,
                rows: 32,
            }),
            ..Interest::default()
        };
        host.send(Command::Watch(interest.clone()));
        let view = host.view();
        Inspector {
            dock: layout.unwrap_or_else(|| default_layout(n)),
            state: State {
                host,
                view,
                consoles: consoles
                    .into_iter()
                    .map(|console| ConsoleState {
                        console,
                        input: String::new(),
                    })
                    .collect(),
                disasm: Disassembler::new(),
                symbols: image.map(Symbols::from_image).unwrap_or_default(),
                interest,
                prev_stop: None,
                this_stop: None,
                seen_stops: 0,
                goto_code: String::new(),
                mem_addr: String::new(),
                mem_space: Space::Virtual,
                mem_follow: Some("PC".into()),
                mem_edit: String::new(),
                hex_edit: None,
                walk_addr: String::new(),
                vector_lanes: Lanes::D,
                all_irqs: false,
                scrolled_for: None,
                error: None,
            },
        }
    }

    /// The dock layout (saved between runs).
    pub fn layout(&self) -> &DockState<Tab> {
        &self.dock
    }

    /// The machine thread's handle.
    pub fn host(&self) -> &Handle {
        &self.state.host
    }

    /// The view last shown.
    pub fn view(&self) -> &View {
        &self.state.view
    }

    /// Brings `tab` to the front of its dock leaf (opening it in the
    /// focused leaf if it was closed).
    pub fn show_tab(&mut self, tab: Tab) {
        match self.dock.find_tab(&tab) {
            Some(at) => self.dock.set_active_tab(at),
            None => self.dock.push_to_focused_leaf(tab),
        }
    }

    /// Draws one frame.
    pub fn ui(&mut self, ctx: &egui::Context) {
        self.state.refresh();
        self.state.shortcuts(ctx);
        egui::TopBottomPanel::top("toolbar").show(ctx, |ui| self.state.toolbar(ui, &mut self.dock));
        egui::TopBottomPanel::bottom("status").show(ctx, |ui| self.state.status_line(ui));
        egui::CentralPanel::default().frame(egui::Frame::NONE).show(ctx, |ui| {
            DockArea::new(&mut self.dock)
                .style(egui_dock::Style::from_egui(ctx.style().as_ref()))
                .show_inside(ui, &mut self.state);
        });
        // Console output arrives without a new view while the guest runs.
        if self.state.view.state == RunState::Running {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }
}

/// Parses `0x…` hex (the default) or a decimal with a `#` prefix, or a
/// symbol name.
fn parse_addr(s: &str, symbols: &Symbols) -> Option<u64> {
    let t = s.trim().replace('_', "");
    if let Some(d) = t.strip_prefix('#') {
        return d.parse().ok();
    }
    let h = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(&t);
    u64::from_str_radix(h, 16).ok().or_else(|| symbols.lookup(s.trim()))
}

impl State {
    /// Takes the latest view; remembers registers at each new stop.
    fn refresh(&mut self) {
        self.view = self.host.view();
        let new_stop = self.view.stops != self.seen_stops || self.this_stop.is_none();
        if new_stop && self.view.state != RunState::Running && !self.view.cores.is_empty() {
            self.seen_stops = self.view.stops;
            self.prev_stop = self.this_stop.take();
            self.this_stop = Some(self.view.cores.clone());
        }
        if self.view.state == RunState::Quit {
            self.error = Some("the machine thread ended".into());
        }
    }

    fn watch(&mut self) {
        self.host.send(Command::Watch(self.interest.clone()));
    }

    fn running(&self) -> bool {
        self.view.state == RunState::Running
    }

    fn run_pause(&self) {
        self.host
            .send(if self.running() { Command::Pause } else { Command::Run });
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        let (f5, f10, f11) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::F5),
                i.key_pressed(egui::Key::F10) && !i.modifiers.shift,
                i.key_pressed(egui::Key::F11) || (i.key_pressed(egui::Key::F10) && i.modifiers.shift),
            )
        });
        if f5 {
            self.run_pause();
        }
        if f10 {
            self.host.send(Command::Step(self.interest.core));
        }
        if f11 {
            self.host.send(Command::StepBlock(self.interest.core));
        }
    }

    fn toolbar(&mut self, ui: &mut Ui, dock: &mut DockState<Tab>) {
        ui.horizontal_wrapped(|ui| {
            let running = self.running();
            let can_run = matches!(self.view.state, RunState::Running | RunState::Paused);
            let label = if running { "Pause" } else { "Run" };
            if ui
                .add_enabled(can_run, egui::Button::new(label))
                .on_hover_text("Run / pause every core (F5)")
                .clicked()
            {
                self.run_pause();
            }
            let core = self.interest.core;
            if ui
                .add_enabled(can_run, egui::Button::new("Step"))
                .on_hover_text("Execute one instruction of the selected core (F10)")
                .clicked()
            {
                self.host.send(Command::Step(core));
            }
            if ui
                .add_enabled(can_run, egui::Button::new("Step block"))
                .on_hover_text("Execute the selected core until a branch is taken (F11 or Shift+F10)")
                .clicked()
            {
                self.host.send(Command::StepBlock(core));
            }
            if ui
                .button("Reset")
                .on_hover_text("Build the machine again from its images (paused)")
                .clicked()
            {
                self.host.send(Command::Reset);
            }
            ui.separator();
            let n = self.view.cores.len().max(1);
            egui::ComboBox::from_id_salt("core")
                .selected_text(format!("core {core}"))
                .show_ui(ui, |ui| {
                    for c in 0..n {
                        if ui.selectable_label(c == core, format!("core {c}")).clicked() && c != core {
                            self.interest.core = c;
                            self.watch();
                        }
                    }
                })
                .response
                .on_hover_text("The core the Cores, Disassembly and Memory panels look through");
            ui.separator();
            ui.label(format!("engine: {}", self.view.engine))
                .on_hover_text("--engine: jit (host code) or interp (reference interpreter)");
            let det = if self.view.deterministic {
                "deterministic"
            } else {
                "host time"
            };
            ui.label(det)
                .on_hover_text("--deterministic: every clock follows retired instructions");
            ui.separator();
            ui.label(format!("{:.1} MIPS", self.view.ips / 1e6))
                .on_hover_text("Guest instructions per second (millions), last half second");
            ui.separator();
            ui.menu_button("Panels", |ui| {
                let mut tabs = vec![
                    Tab::Cores,
                    Tab::Disassembly,
                    Tab::Memory,
                    Tab::DeviceTree,
                    Tab::Devices,
                    Tab::Stats,
                ];
                tabs.extend((0..self.consoles.len()).map(Tab::Console));
                for t in tabs {
                    if ui.button(self.tab_title(t)).clicked() {
                        match dock.find_tab(&t) {
                            Some(at) => dock.set_active_tab(at),
                            None => dock.push_to_focused_leaf(t),
                        }
                        ui.close();
                    }
                }
                if ui.button("Default layout").clicked() {
                    *dock = default_layout(self.consoles.len());
                    ui.close();
                }
            });
        });
    }

    fn status_line(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            let (text, colour) = match &self.view.state {
                RunState::Running => ("running".to_string(), PC_LINE),
                RunState::Paused => (
                    match &self.view.last_stop {
                        Some(s) => format!("paused: {}", describe_stop(s)),
                        None => "paused".into(),
                    },
                    ui.visuals().text_color(),
                ),
                RunState::Finished(why) => (format!("finished: {why} (Reset to start over)"), CHANGED),
                RunState::Failed(why) => (format!("cannot build the machine: {why}"), BREAK),
                RunState::Quit => ("the machine has stopped".into(), BREAK),
            };
            ui.label(RichText::new(text).color(colour));
            ui.separator();
            ui.label(format!("{} instructions", self.view.stats.instructions()));
            if let Some(e) = self.view.error.as_ref().or(self.error.as_ref()) {
                ui.separator();
                ui.label(RichText::new(e).color(BREAK));
            }
        });
    }

    fn tab_title(&self, tab: Tab) -> String {
        match tab {
            Tab::Cores => "Cores".into(),
            Tab::Disassembly => "Disassembly".into(),
            Tab::Memory => "Memory".into(),
            Tab::Console(i) => match self.consoles.get(i) {
                Some(c) => format!("Console {}", c.console.name),
                None => format!("Console {i}"),
            },
            Tab::DeviceTree => "Device tree".into(),
            Tab::Devices => "Devices".into(),
            Tab::Stats => "Stats".into(),
        }
    }

    /// Whether `f` of the selected core differs from the previous stop.
    fn changed<T: PartialEq>(&self, f: impl Fn(&CoreView) -> T) -> bool {
        let c = self.interest.core;
        match (&self.prev_stop, self.view.core()) {
            (Some(prev), Some(now)) if !self.running() => prev.get(c).is_some_and(|p| f(p) != f(now)),
            _ => false,
        }
    }

    fn cores(&mut self, ui: &mut Ui) {
        let Some(core) = self.view.core().cloned() else {
            ui.label("no machine");
            return;
        };
        let st = core.status;
        let power = match (st.on, st.sleeping) {
            (false, _) => "off",
            (true, true) => "asleep (WFI/WFE)",
            (true, false) => "on",
        };
        ui.label(format!(
            "core {} · MPIDR {:#x} · {power} · {} instructions",
            self.interest.core,
            st.mpidr,
            self.view.stats.per_core.get(self.interest.core).copied().unwrap_or(0)
        ));
        egui::ScrollArea::vertical().auto_shrink([false; 2]).show(ui, |ui| {
            let mono = |s: String, changed: bool| {
                let t = RichText::new(s).monospace();
                if changed {
                    t.color(CHANGED).strong()
                } else {
                    t
                }
            };
            egui::CollapsingHeader::new("General registers")
                .default_open(true)
                .show(ui, |ui| {
                    egui::Grid::new("xregs").striped(true).show(ui, |ui| {
                        for n in 0..32usize {
                            let (name, value, ch) = match n {
                                31 => ("SP".to_string(), core.sp, self.changed(|c| c.sp)),
                                _ => (format!("X{n}"), core.x[n], self.changed(|c| c.x[n])),
                            };
                            ui.label(RichText::new(name).monospace());
                            ui.label(mono(format!("{value:016x}"), ch));
                            if n % 2 == 1 {
                                ui.end_row();
                            }
                        }
                        ui.label(RichText::new("PC").monospace());
                        let pc = mono(format!("{:016x}", st.pc), self.changed(|c| c.status.pc));
                        ui.label(pc);
                        if let Some(s) = self.symbols.describe(st.pc) {
                            ui.label("");
                            ui.label(RichText::new(s).italics());
                        }
                        ui.end_row();
                    });
                });
            egui::CollapsingHeader::new("PSTATE").default_open(true).show(ui, |ui| {
                let p = core.cpsr;
                let flags: String = [(31, 'N'), (30, 'Z'), (29, 'C'), (28, 'V')]
                    .iter()
                    .map(|&(b, c)| if p >> b & 1 == 1 { c } else { '-' })
                    .collect();
                let daif: String = [(9, 'D'), (8, 'A'), (7, 'I'), (6, 'F')]
                    .iter()
                    .map(|&(b, c)| if p >> b & 1 == 1 { c } else { '-' })
                    .collect();
                let el = p >> 2 & 3;
                let sp = if p & 1 == 1 {
                    format!("SP_EL{el}")
                } else {
                    "SP_EL0".into()
                };
                let text = format!("CPSR {p:08x}  EL{el}  {sp}  NZCV={flags}  DAIF={daif}");
                ui.label(mono(text, self.changed(|c| c.cpsr)));
                ui.label(mono(
                    format!("FPSR {:08x}  FPCR {:08x}", core.fpsr, core.fpcr),
                    self.changed(|c| (c.fpsr, c.fpcr)),
                ));
            });
            egui::CollapsingHeader::new("System registers")
                .default_open(true)
                .show(ui, |ui| {
                    egui::Grid::new("sysregs").striped(true).show(ui, |ui| {
                        for (i, (name, value)) in core.sys.iter().enumerate() {
                            ui.label(RichText::new(*name).monospace());
                            let ch = self.changed(|c| c.sys.get(i).map(|s| s.1));
                            ui.label(mono(value.map_or("—".into(), |v| format!("{v:016x}")), ch));
                            ui.end_row();
                        }
                    });
                });
            egui::CollapsingHeader::new("SIMD&FP registers").show(ui, |ui| {
                ui.horizontal(|ui| {
                    for (l, name) in [
                        (Lanes::Q, "Q"),
                        (Lanes::D, "2D"),
                        (Lanes::S, "4S"),
                        (Lanes::H, "8H"),
                        (Lanes::B, "16B"),
                    ] {
                        ui.selectable_value(&mut self.vector_lanes, l, name);
                    }
                });
                egui::Grid::new("vregs").striped(true).show(ui, |ui| {
                    for n in 0..32usize {
                        ui.label(RichText::new(format!("V{n}")).monospace());
                        let ch = self.changed(|c| c.v[n]);
                        ui.label(mono(lanes(core.v[n], self.vector_lanes), ch));
                        ui.end_row();
                    }
                });
            });
        });
    }

    fn disassembly(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            let mut follow = self.interest.code_at.is_none();
            if ui
                .checkbox(&mut follow, "Follow PC")
                .on_hover_text("Keep the PC's line in view")
                .changed()
            {
                self.interest.code_at = if follow {
                    None
                } else {
                    self.view.core().map(|c| c.status.pc)
                };
                self.watch();
            }
            let l = ui.label("Go to:");
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut self.goto_code)
                        .desired_width(140.0)
                        .hint_text("addr or symbol"),
                )
                .labelled_by(l.id);
            if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                match parse_addr(&self.goto_code, &self.symbols) {
                    Some(a) => {
                        self.interest.code_at = Some(a);
                        self.error = None;
                        self.watch();
                    }
                    None => self.error = Some(format!("not an address or symbol: {:?}", self.goto_code)),
                }
            }
        });
        if !self.symbols.is_empty() {
            ui.label(RichText::new(format!("{} symbols from the image", self.symbols.len())).weak());
        }
        ui.label(RichText::new("Click a line to set or clear a breakpoint").weak());
        ui.separator();
        let pc = self.view.core().map(|c| c.status.pc);
        let follow = self.interest.code_at.is_none();
        // Centre the PC's line while running and once after each stop
        // (then the user may scroll away); no animation, so where it ends
        // depends only on the PC. "Once" means once the PC's line is shown
        // in the window the machine sent for that stop: the window may
        // arrive frames after the stop, and centring on an earlier one left
        // the line off centre (a flaky UI snapshot).
        let window = (
            self.view.stops,
            self.view.code.first().map(|c| c.0),
            self.view.code.len(),
        );
        let centre = follow && (self.running() || self.scrolled_for != Some(window));
        let mut centred = false;
        egui::ScrollArea::vertical()
            .animated(false)
            .auto_shrink([false; 2])
            .show(ui, |ui| {
                for &(addr, word) in &self.view.code {
                    if let Some(name) = self.symbols.at(addr) {
                        ui.label(RichText::new(format!("<{name}>:")).monospace().italics());
                    }
                    let bp = self.view.breakpoints.contains(&addr);
                    let at_pc = Some(addr) == pc;
                    let text = match word {
                        Some(w) => format!(
                            "{}{addr:016x}  {w:08x}  {}",
                            if bp { "● " } else { "  " },
                            self.disasm.text(addr, w)
                        ),
                        None => format!("{}{addr:016x}  (unmapped)", if bp { "● " } else { "  " }),
                    };
                    let mut rt = RichText::new(text).monospace();
                    if bp {
                        rt = rt.color(BREAK);
                    }
                    if at_pc {
                        rt = rt.background_color(PC_LINE.gamma_multiply(0.35)).strong();
                    }
                    let r = ui.add(egui::Label::new(rt).extend().sense(egui::Sense::click()));
                    if r.clicked() {
                        self.host.send(Command::ToggleBreakpoint(addr));
                    }
                    if at_pc && centre {
                        r.scroll_to_me(Some(egui::Align::Center));
                        centred = true;
                    }
                }
            });
        if centred {
            self.scrolled_for = Some(window);
        }
    }

    fn memory(&mut self, ui: &mut Ui) {
        let panel_w = ui.available_width();
        ui.horizontal(|ui| {
            let l = ui.label("Address:");
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut self.mem_addr)
                        .desired_width(150.0)
                        .hint_text("0x…"),
                )
                .labelled_by(l.id);
            let mut go = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let before = self.mem_space;
            ui.selectable_value(&mut self.mem_space, Space::Virtual, "virtual")
                .on_hover_text("Through the core's current translation regime");
            ui.selectable_value(&mut self.mem_space, Space::Physical, "physical");
            go |= before != self.mem_space;
            egui::ComboBox::from_id_salt("follow")
                .selected_text(match &self.mem_follow {
                    Some(r) => format!("follow {r}"),
                    None => "no follow".into(),
                })
                .show_ui(ui, |ui| {
                    let mut opts: Vec<Option<String>> = vec![None, Some("PC".into()), Some("SP".into())];
                    opts.extend((0..31).map(|n| Some(format!("X{n}"))));
                    for o in opts {
                        let name = o.clone().map_or("no follow".into(), |r| format!("follow {r}"));
                        if ui.selectable_label(self.mem_follow == o, name).clicked() {
                            self.mem_follow = o;
                            go = true;
                        }
                    }
                });
            if go {
                if !self.mem_addr.trim().is_empty() && r.lost_focus() {
                    self.mem_follow = None;
                }
                self.update_memory_interest();
            }
        });
        // Following a register: keep the window on its current value.
        if self.mem_follow.is_some() {
            self.update_memory_interest();
        }
        ui.horizontal(|ui| {
            ui.label("Write:");
            ui.add(
                egui::TextEdit::singleline(&mut self.mem_edit)
                    .desired_width(220.0)
                    .hint_text("ADDR: hex bytes"),
            )
            .on_hover_text("e.g. `0x40201000: de ad be ef` writes four bytes there");
            if ui.button("Write").clicked() {
                match parse_write(&self.mem_edit, &self.symbols) {
                    Some((addr, bytes)) => {
                        self.host.send(Command::WriteMemory {
                            core: self.interest.core,
                            addr,
                            space: self.mem_space,
                            bytes,
                        });
                        self.error = None;
                    }
                    None => self.error = Some(format!("write: expected `ADDR: hex bytes`, not {:?}", self.mem_edit)),
                }
            }
        });
        ui.label(RichText::new("Click a byte and type two hex digits to change it (Esc cancels)").weak());
        ui.separator();
        let focus_id = egui::Id::new("hex-editor");
        let mut clicked: Option<u64> = None;
        let mut clicked_elsewhere = false;
        // Vertical only: rows are clipped at the panel's edge (widen it to
        // see more), so no horizontal offset changes what is drawn.
        let hex = egui::ScrollArea::vertical()
            .id_salt("hex")
            .max_height(ui.available_height() * 0.45)
            .auto_shrink([false; 2])
            .show(ui, |ui| {
                let font = egui::TextStyle::Monospace.resolve(ui.style());
                let cw = ui.fonts(|f| f.glyph_width(&font, '0'));
                for (addr, row) in &self.view.memory {
                    let text = match row {
                        Some(b) => {
                            let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
                            let ascii: String = b
                                .iter()
                                .map(|&x| if (0x20..0x7f).contains(&x) { x as char } else { '.' })
                                .collect();
                            format!("{addr:016x}: {} {}  {ascii}", hex[..8].join(" "), hex[8..].join(" "))
                        }
                        None => format!("{addr:016x}: (not readable)"),
                    };
                    let r = ui.add(egui::Label::new(RichText::new(text).monospace()).extend());
                    let Some(bytes) = row else { continue };
                    // Byte k's two digits are at column 18 + 3k of the row
                    // (`ADDR: ` is 18 columns; the gap between the halves
                    // is one column, like the gaps between bytes).
                    for (k, &byte) in bytes.iter().enumerate() {
                        let a = addr.wrapping_add(k as u64);
                        let x = r.rect.min.x + (18 + 3 * k) as f32 * cw;
                        let cell = egui::Rect::from_min_size(
                            egui::pos2(x, r.rect.min.y),
                            egui::vec2(2.0 * cw, r.rect.height()),
                        );
                        let c = ui.interact(cell, egui::Id::new(("hex-byte", a)), egui::Sense::click());
                        c.widget_info(|| {
                            egui::WidgetInfo::labeled(egui::WidgetType::Button, true, format!("byte {a:#x}"))
                        });
                        if c.clicked() {
                            clicked = Some(a);
                        }
                        let Some(e) = self.hex_edit.filter(|e| e.addr == a) else {
                            continue;
                        };
                        clicked_elsewhere |= c.clicked_elsewhere();
                        let shown = match e.high {
                            Some(h) => format!("{h:x}_"),
                            None => format!("{byte:02x}"),
                        };
                        let p = ui.painter();
                        p.rect_filled(cell.expand(1.0), 2.0, ui.visuals().selection.bg_fill);
                        p.text(
                            cell.left_top(),
                            egui::Align2::LEFT_TOP,
                            shown,
                            font.clone(),
                            ui.visuals().selection.stroke.color,
                        );
                    }
                }
            });
        // The editor's keyboard focus lives on the whole hex view (always
        // drawn, so focus and the accessibility tree never name a widget
        // that is missing, and its key filter survives moving between
        // bytes); the byte cells only take clicks.
        let editor = ui.interact(hex.inner_rect, focus_id, egui::Sense::focusable_noninteractive());
        editor.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Other, true, "hex editor"));
        if let Some(a) = clicked {
            self.hex_edit = Some(HexEdit {
                addr: a,
                high: None,
                armed: false,
            });
            ui.memory_mut(|m| m.request_focus(focus_id));
        } else if clicked_elsewhere {
            self.hex_edit = None;
        }
        self.hex_keys(ui, focus_id);
        ui.separator();
        // The hex rows may be wider than the panel: wrap what follows at
        // the panel's own width, not theirs.
        let rect = egui::Rect::from_min_size(ui.cursor().min, egui::vec2(panel_w, ui.available_height()));
        ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| self.walk_section(ui));
    }

    fn walk_section(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            let l = ui.label("Translation walk of:");
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut self.walk_addr)
                        .desired_width(150.0)
                        .hint_text("VA"),
                )
                .labelled_by(l.id);
            if (r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))) || ui.button("Walk").clicked() {
                self.interest.walk = parse_addr(&self.walk_addr, &self.symbols);
                self.watch();
            }
        });
        match &self.view.walk {
            Some((va, Ok(w))) => walk_view(ui, *va, w),
            Some((va, Err(e))) => {
                ui.label(format!("{va:#x}: {e}"));
            }
            None => {
                ui.label(RichText::new("Enter a virtual address to see each table level").weak());
            }
        }
    }

    /// Typing into the byte being edited: two hex digits write it and
    /// move on; Tab and the arrows move, Escape and Enter stop.
    fn hex_keys(&mut self, ui: &mut Ui, focus_id: egui::Id) {
        let Some(mut e) = self.hex_edit else { return };
        let focused = ui.memory(|m| m.has_focus(focus_id));
        if !focused {
            // Focus went elsewhere (or the byte left the window).
            if e.armed {
                self.hex_edit = None;
            }
            return;
        }
        e.armed = true;
        // Keep Tab, the arrows and Escape for the editor, not for moving
        // keyboard focus between widgets.
        ui.memory_mut(|m| {
            m.set_focus_lock_filter(
                focus_id,
                egui::EventFilter {
                    tab: true,
                    horizontal_arrows: true,
                    vertical_arrows: true,
                    escape: true,
                },
            )
        });
        let space = self.interest.memory.map_or(self.mem_space, |m| m.space);
        let mut writes = Vec::new();
        let mut stop = false;
        for ev in ui.input(|i| i.events.clone()) {
            match ev {
                egui::Event::Text(t) => {
                    for d in t.chars().filter_map(|c| c.to_digit(16)) {
                        match e.high.take() {
                            None => e.high = Some(d as u8),
                            Some(h) => {
                                writes.push((e.addr, h << 4 | d as u8));
                                e.addr = e.addr.wrapping_add(1);
                            }
                        }
                    }
                }
                egui::Event::Key {
                    key,
                    pressed: true,
                    modifiers,
                    ..
                } => {
                    let step: i64 = match key {
                        egui::Key::Tab if modifiers.shift => -1,
                        egui::Key::Tab | egui::Key::ArrowRight => 1,
                        egui::Key::ArrowLeft => -1,
                        egui::Key::ArrowDown => 16,
                        egui::Key::ArrowUp => -16,
                        egui::Key::Escape | egui::Key::Enter => {
                            stop = true;
                            0
                        }
                        _ => 0,
                    };
                    if step != 0 {
                        e.high = None;
                        e.addr = e.addr.wrapping_add_signed(step);
                    }
                }
                _ => {}
            }
        }
        for (addr, b) in writes {
            self.host.send(Command::WriteMemory {
                core: self.interest.core,
                addr,
                space,
                bytes: vec![b],
            });
        }
        // Moving out of the window (or the window moving away, following
        // a register) ends the edit: no typing into bytes nobody sees.
        let shown = self
            .view
            .memory
            .iter()
            .any(|(a, row)| row.is_some() && e.addr.wrapping_sub(*a) < 16);
        if stop || !shown {
            ui.memory_mut(|m| m.surrender_focus(focus_id));
            self.hex_edit = None;
        } else {
            self.hex_edit = Some(e);
        }
    }

    fn update_memory_interest(&mut self) {
        let follow = self.mem_follow.as_deref().and_then(|r| {
            let c = self.view.core()?;
            Some(match r {
                "PC" => c.status.pc,
                "SP" => c.sp,
                x => c.x[x.strip_prefix('X')?.parse::<usize>().ok()?.min(30)],
            })
        });
        let addr = follow.or_else(|| parse_addr(&self.mem_addr, &self.symbols));
        let Some(addr) = addr else { return };
        let want = Some(MemoryRequest {
            addr: addr & !15,
            space: self.mem_space,
            rows: 32,
        });
        if self.interest.memory != want {
            self.interest.memory = want;
            self.watch();
        }
    }

    fn console(&mut self, ui: &mut Ui, i: usize) {
        let Some(c) = self.consoles.get_mut(i) else {
            ui.label("no such UART");
            return;
        };
        // The last CONSOLE_KEEP bytes: laying out a whole boot log every
        // frame would slow the window down as the log grows.
        let from = c.console.capture.len().saturating_sub(CONSOLE_KEEP);
        let out = c.console.capture.output_from(from);
        let text = terminal_text(&out);
        let input_h = 28.0;
        egui::ScrollArea::vertical()
            .id_salt(("console", i))
            .stick_to_bottom(true)
            .auto_shrink([false; 2])
            .max_height((ui.available_height() - input_h).max(40.0))
            .show(ui, |ui| {
                ui.label(RichText::new(text).monospace());
            });
        ui.horizontal(|ui| {
            let r = ui.add(
                egui::TextEdit::singleline(&mut c.input)
                    .desired_width(ui.available_width() - 60.0)
                    .hint_text("input for the guest (Enter sends it with a carriage return)"),
            );
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Send").clicked() || enter {
                let mut bytes = std::mem::take(&mut c.input).into_bytes();
                bytes.push(b'\r');
                c.console.capture.send(&bytes);
                r.request_focus();
            }
        });
    }

    fn device_tree(&mut self, ui: &mut Ui) {
        let dtb = self.view.dtb.clone();
        egui::ScrollArea::both()
            .auto_shrink([false; 2])
            .show(ui, |ui| match fdt::Fdt::new(&dtb) {
                Ok(fdt) => {
                    let root = fdt.find_node("/");
                    match root {
                        Some(root) => dt_node(ui, &root, "/", "/"),
                        None => {
                            ui.label("the device tree has no root node");
                        }
                    }
                }
                Err(e) => {
                    ui.label(format!(
                        "the guest's device tree blob ({} bytes) does not parse: {e:?}",
                        dtb.len()
                    ));
                }
            });
    }

    fn devices(&mut self, ui: &mut Ui) {
        // Live state first (the device list is long: 32 virtio slots on
        // virt); both directions, since the tables are wider than a column.
        egui::ScrollArea::both().auto_shrink([false; 2]).show(ui, |ui| {
            egui::CollapsingHeader::new("Interrupt controller")
                .default_open(true)
                .show(ui, |ui| {
                    let Some(g) = &self.view.gic else {
                        ui.label("the board has no GIC");
                        return;
                    };
                    let version = match g.version {
                        soc::gic::GicVersion::V2 => 2,
                        soc::gic::GicVersion::V3 => 3,
                    };
                    let on = |bit: u32| if g.dist_ctlr >> bit & 1 != 0 { "on" } else { "off" };
                    ui.label(format!(
                        "GICv{version} · distributor Group 0 {} · Group 1 {}",
                        on(0),
                        on(1)
                    ));
                    ui.checkbox(&mut self.all_irqs, "Show every interrupt")
                        .on_hover_text("Otherwise only those enabled, pending or active");
                    egui::Grid::new("gic").striped(true).show(ui, |ui| {
                        for h in [
                            "INTID", "core", "group", "enabled", "pending", "active", "trigger", "priority",
                        ] {
                            ui.label(RichText::new(h).strong());
                        }
                        ui.end_row();
                        let yes = |b: bool| if b { "yes" } else { "·" };
                        // Each core's SGIs and PPIs, then the SPIs.
                        let banked = g
                            .cpus
                            .iter()
                            .enumerate()
                            .flat_map(|(c, cpu)| cpu.private.iter().map(move |i| (Some(c), i)));
                        let all = banked.chain(g.spis.iter().map(|i| (None, i)));
                        for (cpu, i) in all.filter(|(_, i)| self.all_irqs || i.enabled || i.pending || i.active) {
                            ui.label(RichText::new(i.intid.to_string()).monospace());
                            ui.label(cpu.map_or("all".into(), |c| c.to_string()));
                            ui.label(i.group.to_string());
                            ui.label(yes(i.enabled));
                            let pending = RichText::new(yes(i.pending));
                            ui.label(if i.pending { pending.color(CHANGED) } else { pending });
                            ui.label(yes(i.active));
                            ui.label(if i.edge { "edge" } else { "level" });
                            ui.label(RichText::new(format!("{:#04x}", i.priority)).monospace());
                            ui.end_row();
                        }
                    });
                });
            egui::CollapsingHeader::new("Virtio devices")
                .default_open(true)
                .show(ui, |ui| virtio_views(ui, &self.view.device_views));
            egui::CollapsingHeader::new("Flash").default_open(true).show(ui, |ui| {
                let mut any = false;
                for (name, v) in &self.view.device_views {
                    if let DeviceView::Flash(f) = v {
                        any = true;
                        ui.label(RichText::new(flash_summary(name, f)).monospace());
                    }
                }
                if !any {
                    ui.label("the board has no flash");
                }
            });
            egui::CollapsingHeader::new("Generic timers")
                .default_open(true)
                .show(ui, |ui| {
                    for (n, c) in self.view.cores.iter().enumerate() {
                        let get = |name: &str| c.sys.iter().find(|s| s.0 == name).and_then(|s| s.1);
                        let now = get("CNTVCT_EL0");
                        let freq = get("CNTFRQ_EL0").filter(|&f| f != 0);
                        ui.label(RichText::new(format!("core {n}")).strong());
                        for t in ["P", "V"] {
                            let ctl = get(&format!("CNT{t}_CTL_EL0"));
                            let cval = get(&format!("CNT{t}_CVAL_EL0"));
                            let text = match (ctl, cval) {
                                (Some(ctl), Some(cval)) => {
                                    let state = match (ctl & 1 == 1, ctl >> 1 & 1 == 1, ctl >> 2 & 1 == 1) {
                                        (false, _, _) => "disabled".to_string(),
                                        (true, masked, status) => format!(
                                            "enabled{}{}",
                                            if masked { ", masked" } else { "" },
                                            if status { ", firing" } else { "" }
                                        ),
                                    };
                                    let left = match (now, freq) {
                                        (Some(now), Some(f)) if ctl & 1 == 1 => {
                                            let ticks = cval as i128 - now as i128;
                                            format!(", fires in {:.3} ms", ticks as f64 * 1e3 / f as f64)
                                        }
                                        _ => String::new(),
                                    };
                                    format!("  CNT{t}: CTL {ctl:#x} ({state}) CVAL {cval:#x}{left}")
                                }
                                _ => format!("  CNT{t}: not readable"),
                            };
                            ui.label(RichText::new(text).monospace());
                        }
                    }
                });
            egui::CollapsingHeader::new("Memory-mapped devices")
                .default_open(true)
                .show(ui, |ui| {
                    egui::Grid::new("devices").striped(true).show(ui, |ui| {
                        for d in self.view.devices.iter() {
                            ui.label(RichText::new(&d.name).monospace());
                            let regions: Vec<String> =
                                d.regions.iter().map(|(b, s)| format!("{b:#x}+{s:#x}")).collect();
                            ui.label(RichText::new(regions.join(" ")).monospace());
                            ui.label(d.compatible.join(", "));
                            ui.end_row();
                        }
                    });
                });
        });
    }

    fn stats(&mut self, ui: &mut Ui) {
        let s = &self.view.stats;
        egui::Grid::new("stats").striped(true).show(ui, |ui| {
            let mut row = |k: &str, v: String| {
                ui.label(k);
                ui.label(RichText::new(v).monospace());
                ui.end_row();
            };
            row("instructions", s.instructions().to_string());
            for (c, n) in s.per_core.iter().enumerate() {
                row(&format!("  core {c}"), n.to_string());
            }
            row("rate", format!("{:.2} MIPS", self.view.ips / 1e6));
            match &s.jit {
                Some(j) => {
                    row("JIT blocks", j.blocks.to_string());
                    row("translated instructions", j.insns.to_string());
                    row("  via the interpreter", j.interp_insns.to_string());
                    row("dispatches", j.dispatches.to_string());
                    row("chained exits", j.chains.to_string());
                    row("fast-path TLB fills", j.tlb_fills.to_string());
                    row("slow memory accesses", j.slow_accesses.to_string());
                    row("blocks invalidated", j.invalidated.to_string());
                    row("cache flushes", j.flushes.to_string());
                }
                None => row("engine", "interpreter (no JIT counters)".into()),
            }
            row("machine builds", self.view.builds.to_string());
        });
        ui.separator();
        ui.label("MIPS over the last minute");
        let points: Vec<[f64; 2]> = self.view.rate_history.clone();
        egui_plot::Plot::new("mips")
            .allow_scroll(false)
            .include_y(0.0)
            .show(ui, |p| p.line(egui_plot::Line::new("MIPS", points)));
    }
}

impl TabViewer for State {
    type Tab = Tab;

    fn title(&mut self, tab: &mut Tab) -> egui::WidgetText {
        self.tab_title(*tab).into()
    }

    fn ui(&mut self, ui: &mut Ui, tab: &mut Tab) {
        match *tab {
            Tab::Cores => self.cores(ui),
            Tab::Disassembly => self.disassembly(ui),
            Tab::Memory => self.memory(ui),
            Tab::Console(i) => self.console(ui, i),
            Tab::DeviceTree => self.device_tree(ui),
            Tab::Devices => self.devices(ui),
            Tab::Stats => self.stats(ui),
        }
    }

    fn id(&mut self, tab: &mut Tab) -> egui::Id {
        egui::Id::new(("tab", *tab))
    }
}

/// Guest terminal output as plain text: carriage returns and ANSI escape
/// sequences (cursor queries, colours: `ESC [ params letter`, or ESC and
/// one more byte) dropped, since the panel is not a terminal emulator.
fn terminal_text(out: &[u8]) -> String {
    let mut plain = Vec::with_capacity(out.len());
    let mut i = 0;
    while i < out.len() {
        match out[i] {
            0x1b if out.get(i + 1) == Some(&b'[') => {
                i += 2;
                while i < out.len() && !(0x40..=0x7e).contains(&out[i]) {
                    i += 1;
                }
                i += 1;
            }
            0x1b => i += 2,
            b'\r' => i += 1,
            b => {
                plain.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&plain).into_owned()
}

fn describe_stop(s: &Stop) -> String {
    match s {
        Stop::Breakpoint { core, pc } => format!("core {core} at breakpoint {pc:#x}"),
        Stop::Watchpoint { core, pc, addr, kind } => {
            format!("core {core} at {pc:#x}: {kind:?} watchpoint hit at {addr:#x}")
        }
        Stop::Stepped { core } => format!("core {core} stepped"),
        Stop::Exited(c) => format!("the guest exited with code {c}"),
        Stop::PoweredOff => "the guest powered off".into(),
        Stop::Reset => "the guest reset the system".into(),
        Stop::Quit => "quit".into(),
        Stop::Fatal { core, message } => format!("core {core}: {message}"),
    }
}

fn lanes(v: u128, l: Lanes) -> String {
    let (bits, n) = match l {
        Lanes::Q => return format!("{v:032x}"),
        Lanes::D => (64, 2),
        Lanes::S => (32, 4),
        Lanes::H => (16, 8),
        Lanes::B => (8, 16),
    };
    // Highest lane first, as the register reads left to right.
    (0..n)
        .rev()
        .map(|i| {
            let x = (v >> (i * bits)) & ((1u128 << bits) - 1);
            format!("{x:0w$x}", w = bits as usize / 4)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Each attached virtio device (empty slots are only counted): type,
/// status, features, then a row per queue.
fn virtio_views(ui: &mut Ui, views: &[(String, DeviceView)]) {
    let virtio: Vec<_> = views
        .iter()
        .filter_map(|(n, v)| match v {
            DeviceView::Virtio(v) => Some((n, v)),
            _ => None,
        })
        .collect();
    let empty = virtio.iter().filter(|(_, v)| v.device_id == 0).count();
    for (name, v) in virtio.iter().filter(|(_, v)| v.device_id != 0) {
        let kind =
            soc::virtio::device_id::name(v.device_id).map_or_else(|| format!("device {}", v.device_id), str::to_string);
        let status = soc::virtio::status::names(v.status);
        let status = if status.is_empty() {
            "0 (reset)".to_string()
        } else {
            status.join("|")
        };
        ui.label(
            RichText::new(format!(
                "{name} · {kind} · {} · status {status}",
                if v.legacy { "legacy" } else { "modern" }
            ))
            .monospace()
            .strong(),
        );
        ui.label(
            RichText::new(format!(
                "  features {:#x} of {:#x} offered · interrupt status {:#x}",
                v.negotiated, v.offered, v.interrupt_status
            ))
            .monospace(),
        );
        egui::Grid::new(("virtqueues", name.as_str()))
            .striped(true)
            .show(ui, |ui| {
                for h in [
                    "queue",
                    "ready",
                    "size",
                    "desc",
                    "avail",
                    "used",
                    "avail idx",
                    "seen",
                    "used idx",
                    "in flight",
                ] {
                    ui.label(RichText::new(h).strong());
                }
                ui.end_row();
                for (i, q) in v.queues.iter().enumerate() {
                    let mono = |s: String| RichText::new(s).monospace();
                    ui.label(mono(i.to_string()));
                    ui.label(match (q.ready, q.notified) {
                        (false, _) => "no",
                        (true, false) => "yes",
                        (true, true) => "yes, notified",
                    });
                    ui.label(mono(format!("{}/{}", q.size, q.max_size)));
                    for a in [q.desc_table, q.avail_ring, q.used_ring] {
                        ui.label(mono(if q.ready { format!("{a:#x}") } else { "·".into() }));
                    }
                    ui.label(mono(q.driver_avail_idx.map_or("·".into(), |i| i.to_string())));
                    ui.label(mono(q.next_avail.to_string()));
                    ui.label(mono(q.used_idx.to_string()));
                    let n = q.in_flight();
                    let t = mono(n.to_string());
                    ui.label(if n > 0 { t.color(CHANGED) } else { t });
                    ui.end_row();
                }
            });
    }
    if virtio.len() == empty {
        ui.label(format!("no virtio device attached ({empty} empty virtio-mmio slots)"));
    } else if empty > 0 {
        ui.label(RichText::new(format!("{empty} empty virtio-mmio slots")).weak());
    }
}

/// One line for a flash bank: command state, status register, where
/// writes go.
fn flash_summary(name: &str, f: &FlashView) -> String {
    let mode = match f.mode {
        FlashMode::ReadArray => "read array".to_string(),
        FlashMode::ReadId => "read identifier".into(),
        FlashMode::Query => "CFI query".into(),
        FlashMode::Status => "read status".into(),
        FlashMode::ProgramSetup => "program: waiting for data".into(),
        FlashMode::EraseSetup(b) => format!("erase block {b:#x}: waiting for confirm"),
        FlashMode::LockSetup => "lock setup: waiting for confirm".into(),
        FlashMode::BufferCount(b) => format!("buffered program, block {b:#x}: waiting for count"),
        FlashMode::BufferData(b, left) => {
            format!(
                "buffered program, block {b:#x}: {} bytes in, {left} to come",
                f.buffered
            )
        }
        FlashMode::BufferConfirm => format!("buffered program: {} bytes in, waiting for confirm", f.buffered),
    };
    let errors: Vec<&str> = [
        (soc::pflash::sr::ERASE_ERROR, "erase error"),
        (soc::pflash::sr::PROGRAM_ERROR, "program error"),
        (soc::pflash::sr::BLOCK_LOCKED, "locked"),
    ]
    .into_iter()
    .filter(|&(bit, _)| f.status & bit != 0)
    .map(|(_, n)| n)
    .collect();
    let status = match errors.is_empty() {
        true => format!("SR {:#04x}", f.status),
        false => format!("SR {:#04x} ({})", f.status, errors.join(", ")),
    };
    let store = match &f.store {
        FlashStore::Memory => "writes kept in memory".to_string(),
        FlashStore::File(p) => format!(
            "writes go to {}{}",
            p.display(),
            if f.unsynced { " (not synced yet)" } else { "" }
        ),
        FlashStore::ReadOnly(Some(p)) => format!("read-only image {}", p.display()),
        FlashStore::ReadOnly(None) => "read-only".into(),
    };
    format!("{name} · {} MiB · {mode} · {status} · {store}", f.size >> 20)
}

/// `ADDR: b0 b1 …` (hex bytes).
fn parse_write(s: &str, symbols: &Symbols) -> Option<(u64, Vec<u8>)> {
    let (addr, bytes) = s.split_once(':')?;
    let addr = parse_addr(addr, symbols)?;
    let bytes: Option<Vec<u8>> = bytes
        .split_whitespace()
        .map(|b| u8::from_str_radix(b.trim_start_matches("0x"), 16).ok())
        .collect();
    let bytes = bytes.filter(|b| !b.is_empty())?;
    Some((addr, bytes))
}

fn walk_view(ui: &mut Ui, va: u64, w: &DebugWalk) {
    ui.label(RichText::new(format!("{va:#x} in the {:?} regime", w.kind)).monospace());
    if w.steps.is_empty() {
        match w.result {
            Ok(pa) => ui.label(format!("stage 1 translation is off: flat mapping to {:#x}", pa.0)),
            Err(f) => ui.label(format!("stage 1 translation is off: {f:?}")),
        };
        return;
    }
    if let Some((r, start)) = &w.regime {
        ui.label(
            RichText::new(format!(
                "{} KiB granule · {}-bit VAs from TTBR{} {:#x} · MAIR {:#018x}",
                (1u64 << start.granule.bits()) >> 10,
                start.in_bits,
                u8::from(start.upper),
                if start.upper { r.ttbr1 } else { r.ttbr0 },
                r.mair
            ))
            .monospace(),
        );
    }
    // One line per level, its decoded fields wrapped below it across the
    // panel's width (a grid column would be squeezed to a sliver).
    for (s, (level, d)) in w.steps.iter().zip(w.decoded()) {
        ui.label(
            RichText::new(format!(
                "level {level}  {:016x} at {:#x}  {}",
                s.desc,
                s.desc_pa,
                d.kind()
            ))
            .monospace()
            .strong(),
        );
        let attrs = d.attributes(w.kind);
        if !attrs.is_empty() {
            ui.indent(("walk", level), |ui| {
                ui.add(egui::Label::new(RichText::new(attrs.join(" · ")).monospace()).wrap());
            });
        }
    }
    match (&w.translation, w.result) {
        (Some(t), Ok(pa)) => ui.label(
            RichText::new(format!(
                "→ {:#x} ({} KiB {}, {:?})",
                pa.0,
                (1u64 << t.size_bits) >> 10,
                if t.level == 3 { "page" } else { "block" },
                t.perms
            ))
            .monospace(),
        ),
        (_, Err(f)) => ui.label(RichText::new(format!("→ fault: {f:?}")).color(BREAK)),
        _ => ui.label(""),
    };
}

/// One node (`path` names it uniquely) and, when open, its properties
/// and children.
fn dt_node(ui: &mut Ui, node: &fdt::node::FdtNode<'_, '_>, name: &str, path: &str) {
    let id = egui::Id::new(("dt", path));
    egui::collapsing_header::CollapsingState::load_with_default_open(ui.ctx(), id, path == "/")
        .show_header(ui, |ui| {
            ui.label(RichText::new(name).monospace().strong());
        })
        .body(|ui| {
            for p in node.properties() {
                ui.label(RichText::new(format!("{} = {}", p.name, prop_text(p.value))).monospace());
            }
            for child in node.children() {
                let p = format!("{}/{}", path.trim_end_matches('/'), child.name);
                dt_node(ui, &child, child.name, &p);
            }
        });
}

/// A property value as DTS would show it: strings, cells or bytes.
fn prop_text(v: &[u8]) -> String {
    if v.is_empty() {
        return "<empty>".into();
    }
    let printable =
        v.last() == Some(&0) && v[..v.len() - 1].iter().all(|&b| b == 0 || (0x20..0x7f).contains(&b)) && v[0] != 0;
    if printable {
        let parts: Vec<String> = v[..v.len() - 1]
            .split(|&b| b == 0)
            .map(|s| format!("\"{}\"", String::from_utf8_lossy(s)))
            .collect();
        return parts.join(", ");
    }
    if v.len() % 4 == 0 {
        let cells: Vec<String> = v
            .chunks(4)
            .take(32)
            .map(|c| format!("{:#x}", u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        let more = if v.len() > 128 { " …" } else { "" };
        return format!("<{}{more}>", cells.join(" "));
    }
    let bytes: Vec<String> = v.iter().take(64).map(|b| format!("{b:02x}")).collect();
    format!("[{}]", bytes.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_lanes_read_highest_first() {
        let v = 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100u128;
        assert_eq!(lanes(v, Lanes::D), "0f0e0d0c0b0a0908 0706050403020100");
        assert_eq!(lanes(v, Lanes::S), "0f0e0d0c 0b0a0908 07060504 03020100");
        assert_eq!(lanes(v, Lanes::B).split(' ').next(), Some("0f"));
        assert_eq!(lanes(v, Lanes::Q), "0f0e0d0c0b0a09080706050403020100");
    }

    #[test]
    fn addresses_and_writes_parse() {
        let s = Symbols::default();
        assert_eq!(parse_addr("0x4020_0000", &s), Some(0x4020_0000));
        assert_eq!(parse_addr("40200000", &s), Some(0x4020_0000));
        assert_eq!(parse_addr("#16", &s), Some(16));
        assert_eq!(parse_addr("nowhere", &s), None);
        assert_eq!(parse_write("0x10: de ad", &s), Some((0x10, vec![0xde, 0xad])));
        assert_eq!(parse_write("0x10:", &s), None);
        assert_eq!(parse_write("0x10: zz", &s), None);
    }

    /// The SR bits as the pflash module documents them: 0xB0 is ready
    /// with both error bits (a command sequence error).
    #[test]
    fn flash_lines_name_state_status_and_store() {
        let v = FlashView {
            size: 64 << 20,
            mode: FlashMode::BufferData(0x40000, 8),
            status: 0xb0,
            buffered: 8,
            store: FlashStore::File("vars.fd".into()),
            unsynced: true,
        };
        assert_eq!(
            flash_summary("flash1", &v),
            "flash1 · 64 MiB · buffered program, block 0x40000: 8 bytes in, 8 to come · \
             SR 0xb0 (erase error, program error) · writes go to vars.fd (not synced yet)"
        );
    }

    /// ECMA-48: CSI is ESC [, parameters and intermediates, then a final
    /// byte in 0x40..=0x7e.
    #[test]
    fn terminal_escapes_are_dropped() {
        assert_eq!(
            terminal_text(b"/ # \x1b[6n\r\nok \x1b[1;32mgreen\x1b[0m\x1bc!"),
            "/ # \nok green!"
        );
        assert_eq!(terminal_text(b"cut \x1b[12"), "cut ");
    }

    /// DTS conventions: NUL-terminated strings quoted, cells in hex.
    #[test]
    fn property_values_read_as_dts() {
        assert_eq!(
            prop_text(b"arm,pl011\0arm,primecell\0"),
            "\"arm,pl011\", \"arm,primecell\""
        );
        assert_eq!(prop_text(&[0, 0, 0, 1, 0, 0, 0x10, 0]), "<0x1 0x1000>");
        assert_eq!(prop_text(&[]), "<empty>");
        assert_eq!(prop_text(&[1, 2, 3]), "[01 02 03]");
    }
}
