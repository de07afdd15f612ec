//! The inspector driven as a person would, through its widgets
//! (egui_kittest finds them by their AccessKit labels), against the
//! bundled demo firmware (firmware/hello) on a paused machine.
//!
//! Snapshots: the window rendered headlessly with wgpu (software Vulkan
//! in CI: mesa-vulkan-drivers) and compared with the committed images in
//! tests/snapshots (`UPDATE_SNAPSHOTS=1` rewrites them). Without a
//! usable adapter the snapshot comparisons are skipped with a message,
//! unless `PREBOARD_REQUIRE_TOOLS` is set (as in CI): then they fail.

use boards::machine::{Attachments, Engine, InputFile, Machine, MachineConfig};
use boards::time::TimeMode;
use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use egui_kittest::Harness;
use gui::{Command, Console, Inspector, RunState, Tab};
use soc::chardev::{Capture, CharBackend};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HELLO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../firmware/prebuilt/hello.elf");
const DEVICES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../firmware/prebuilt/devices.elf");
const MMU: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../firmware/prebuilt/mmu.elf");

/// How long a test waits for the machine thread.
const WAIT: Duration = Duration::from_secs(30);

/// A widget's text: AccessKit keeps a label's in its value.
fn text(node: &egui_kittest::Node<'_>) -> String {
    let n = node.accesskit_node();
    let t = if n.role() == Role::Label { n.value() } else { n.label() };
    t.unwrap_or_default()
}

struct Rig {
    harness: Harness<'static, Inspector>,
    entry: u64,
    image: Vec<u8>,
    uart: Capture,
}

/// What a rig runs and how its window is drawn.
struct Setup {
    engine: &'static str,
    /// The firmware ELF.
    elf: &'static str,
    attach: Attachments,
    /// Logical window size.
    size: [f32; 2],
    pixels_per_point: f32,
}

impl Setup {
    /// hello.elf on `engine`, no attachments, 1280x800 at 1 pixel per point.
    fn hello(engine: &'static str) -> Setup {
        Setup {
            engine,
            elf: HELLO,
            attach: Attachments::default(),
            size: [1280.0, 800.0],
            pixels_per_point: 1.0,
        }
    }
}

/// The virt board with hello.elf, deterministic time, the interpreter
/// (the same instruction counts and output on every run), paused.
fn rig(engine: &'static str) -> Rig {
    rig_with(Setup::hello(engine))
}

/// The virt board as `setup` says, deterministic time, paused.
fn rig_with(setup: Setup) -> Rig {
    let Setup {
        engine,
        elf,
        attach,
        size,
        pixels_per_point,
    } = setup;
    let image = std::fs::read(elf).unwrap_or_else(|e| panic!("{elf}: {e}"));
    let entry = goblin::elf::Elf::parse(&image).expect("an ELF file").entry;
    let uart = Capture::new();
    let semihosting = Capture::new();
    let (u, s, bytes) = (uart.clone(), semihosting.clone(), image.clone());
    let factory: gui::Factory = Box::new(move || {
        let cfg = MachineConfig {
            board: boards::resolve_board("virt").map_err(|e| e.to_string())?,
            kernel: Some(InputFile {
                path: "hello.elf".into(),
                bytes: bytes.clone(),
            }),
            kernel_format: boards::loader::ImageFormat::Auto,
            initrd: None,
            append: None,
            dtb: None,
            console: Box::new(std::io::sink()),
            serial: vec![Box::new(u.clone()) as Box<dyn CharBackend>],
            semihost_console: s.writer(),
            attach: attach.clone(),
        };
        let mut m = Machine::with_time(cfg, TimeMode::deterministic()).map_err(|e| e.to_string())?;
        if engine == "jit" {
            m.set_engine(Engine::Jit(Box::new(
                jit::Jit::new(jit::JitConfig::default()).map_err(|e| e.to_string())?,
            )));
        }
        Ok(m)
    });
    let (handle, _join) = gui::host::spawn(factory, true, Arc::new(|| {})).expect("machine thread");
    let consoles = vec![
        Console {
            name: "uart0".into(),
            capture: uart.clone(),
        },
        Console {
            name: "semihosting".into(),
            capture: semihosting,
        },
    ];
    let inspector = Inspector::new(handle, consoles, Some(&image), None);
    let harness = Harness::builder()
        .with_size(size)
        .with_pixels_per_point(pixels_per_point)
        .build_state(|ctx, app: &mut Inspector| app.ui(ctx), inspector);
    let mut r = Rig {
        harness,
        entry,
        image,
        uart,
    };
    r.settle();
    r
}

impl Rig {
    /// Lets the machine thread finish what the window asked and the
    /// window draw the result.
    /// Two rounds: what the window asks after seeing a new view (the
    /// memory window following a new PC) is answered and drawn too.
    fn settle(&mut self) {
        for _ in 0..2 {
            self.harness.run_steps(2);
            assert!(self.harness.state().host().sync(WAIT), "machine thread did not answer");
            self.harness.run_steps(2);
        }
    }

    /// Waits until the machine is no longer running.
    fn wait_paused(&mut self) {
        let until = Instant::now() + WAIT;
        loop {
            self.settle();
            if self.harness.state().view().state != RunState::Running {
                return;
            }
            assert!(Instant::now() < until, "the machine did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pc(&self) -> u64 {
        self.harness.state().view().core().expect("core 0").status.pc
    }

    /// Whether some widget is labelled exactly `label`.
    fn shows(&self, label: &str) -> bool {
        self.harness.query_all_by_label(label).next().is_some()
    }

    /// The disassembly line of `addr` (unique: memory rows are written
    /// `ADDR: …`, disassembly lines `ADDR  WORD  TEXT`).
    fn line(&self, addr: u64) -> String {
        let key = format!("{addr:016x}  ");
        let nodes: Vec<_> = self.harness.get_all_by_label_contains(&key).collect();
        assert_eq!(nodes.len(), 1, "one disassembly line for {addr:#x}");
        text(&nodes[0])
    }

    fn click_line(&mut self, addr: u64) {
        let key = format!("{addr:016x}  ");
        self.harness.get_by_label_contains(&key).click();
        self.settle();
    }

    fn snapshot(&mut self, name: &str) {
        match self.harness.try_snapshot(name) {
            Ok(()) => {}
            Err(e @ egui_kittest::SnapshotError::RenderError { .. })
                if std::env::var_os("PREBOARD_REQUIRE_TOOLS").is_none() =>
            {
                eprintln!("skipping snapshot {name}: no wgpu adapter ({e}); install mesa-vulkan-drivers");
            }
            Err(e) => panic!("snapshot {name}: {e}"),
        }
    }
}

/// The first instruction of hello.elf is `mov x19, x0` (firmware/common/
/// start.S): not a branch, so one step moves the PC to the next word, and
/// the Cores panel shows it. F10 does the same as the Step button.
#[test]
fn step_advances_the_pc_by_one_instruction() {
    let mut r = rig("interp");
    assert_eq!(r.pc(), r.entry);
    assert!(
        r.shows(&format!("{:016x}", r.entry)),
        "the Cores panel shows the entry PC"
    );
    assert!(r.line(r.entry).contains("mov x19, x0"), "{}", r.line(r.entry));
    r.snapshot("paused_at_entry");

    r.harness.get_by_label("Step").click();
    r.settle();
    assert_eq!(r.pc(), r.entry + 4);
    assert!(
        r.shows(&format!("{:016x}", r.entry + 4)),
        "the Cores panel shows the new PC"
    );
    // X19 took X0 (the DTB address the boot protocol passes), and the
    // panel marks nothing but what changed: the PC and X19.
    r.snapshot("after_one_step");

    r.harness.key_press(egui::Key::F10);
    r.settle();
    assert_eq!(r.pc(), r.entry + 8);
}

/// Step block runs until control flow leaves the straight line. From
/// _start+0x8 (`aarch64-linux-gnu-objdump -d hello.elf`): `cbnz x1, park`
/// falls through on core 0, `b.cs` falls through while the BSS is not yet
/// cleared, and the first taken branch is `b _start+0x30` at _start+0x3c,
/// the clearing loop's back edge. F11 is the same as the button.
#[test]
fn step_block_stops_after_the_first_taken_branch() {
    let mut r = rig("interp");
    r.harness.key_press(egui::Key::F10);
    r.settle();
    r.harness.key_press(egui::Key::F10);
    r.settle();
    assert_eq!(r.pc(), r.entry + 8);
    r.harness.get_by_label("Step block").click();
    r.settle();
    assert_eq!(r.pc(), r.entry + 0x30);
    assert_eq!(r.harness.state().view().stats.instructions(), 2 + 14);
    // Around the loop once more: cmp, b.cs (not taken), stp, b.
    r.harness.key_press(egui::Key::F11);
    r.settle();
    assert_eq!(r.pc(), r.entry + 0x30);
    assert_eq!(r.harness.state().view().stats.instructions(), 2 + 14 + 4);
}

/// A breakpoint set by clicking a disassembly line stops Run there, before
/// the instruction: fw_main is called once by _start, so Run from the
/// entry must stop at its first instruction. Clicking again clears it.
#[test]
fn clicking_a_line_sets_a_breakpoint_that_run_stops_at() {
    for engine in ["interp", "jit"] {
        let mut r = rig(engine);
        let fw_main = gui::code::Symbols::from_image(&r.image)
            .lookup("fw_main")
            .expect("fw_main");
        // Go to the symbol: the disassembly shows its code, labelled.
        let goto = r.harness.get_by_role_and_label(Role::TextInput, "Go to:");
        goto.click();
        goto.type_text("fw_main");
        r.harness.run_steps(1);
        r.harness.key_press(egui::Key::Enter);
        r.settle();
        assert!(r.shows("<fw_main>:"), "{engine}: the symbol labels its line");
        r.click_line(fw_main);
        assert!(r.line(fw_main).starts_with('●'), "{engine}: {}", r.line(fw_main));
        assert_eq!(r.harness.state().view().breakpoints, [fw_main]);

        r.harness.get_by_label("Run").click();
        r.wait_paused();
        let v = r.harness.state().view();
        assert_eq!(
            v.last_stop,
            Some(boards::control::Stop::Breakpoint { core: 0, pc: fw_main }),
            "{engine}"
        );
        assert_eq!(r.pc(), fw_main);
        assert!(
            r.shows(&format!("{fw_main:016x}")),
            "{engine}: the Cores panel shows the stop"
        );

        r.click_line(fw_main);
        assert!(r.harness.state().view().breakpoints.is_empty(), "{engine}");
        assert!(!r.line(fw_main).starts_with('●'));
    }
}

/// Run to the end: hello prints its report on the UART and exits with
/// code 0 through semihosting; the console panel shows what the UART got
/// and the status line says the guest is done. Then each other panel.
#[test]
fn running_to_the_end_fills_the_console_and_the_other_panels_draw() {
    let mut r = rig("interp");
    r.harness.key_press(egui::Key::F5);
    r.wait_paused();
    assert_eq!(
        r.harness.state().view().state,
        RunState::Finished("the guest exited with code 0".into())
    );
    let out = String::from_utf8_lossy(&r.uart.output()).to_string();
    // The banner firmware/hello/main.c prints first.
    assert!(out.starts_with("Preboard hello firmware\n"), "hello's output: {out}");
    let first = out.lines().next().unwrap_or_default().to_string();
    assert!(
        r.harness.query_all_by_label_contains(&first).next().is_some(),
        "the UART panel shows {first:?}"
    );
    r.snapshot("finished_uart");

    // The device tree: the root's model and the UART's node.
    r.harness.state_mut().show_tab(Tab::DeviceTree);
    r.settle();
    assert!(r.harness.query_all_by_label_contains("model = ").next().is_some());
    r.harness.state_mut().show_tab(Tab::Devices);
    r.settle();
    assert!(r.shows("uart0"), "the device list names the UART");
    // The demo firmware enables no interrupt: the GIC reports its
    // distributor off.
    assert!(r.shows("GICv2 · distributor Group 0 off · Group 1 off"));
    // Nothing attached to virt's 32 virtio-mmio slots; hello runs from RAM
    // and leaves both (image-less) flash banks reading their array.
    assert!(r.shows("no virtio device attached (32 empty virtio-mmio slots)"));
    assert!(r.shows("flash1 · 64 MiB · read array · SR 0x80 · writes kept in memory"));
    r.snapshot("devices_and_device_tree");
    // (No snapshot of Stats: its rate plot depends on host time.)
    r.harness.state_mut().show_tab(Tab::Stats);
    r.settle();
    let n = r.harness.state().view().stats.instructions();
    assert!(n > 0);
    assert!(r.shows(&n.to_string()), "the Stats panel shows the instruction count");

    // Reset builds the machine again, paused at the entry.
    r.harness.get_by_label("Reset").click();
    r.settle();
    assert_eq!(r.harness.state().view().state, RunState::Paused);
    assert_eq!(r.pc(), r.entry);
    assert_eq!(r.harness.state().view().builds, 2);
    r.harness.state().host().send(Command::Quit);
}

/// The Memory panel reads by physical address and walks translations:
/// hello runs with the MMU off, so the walk is the flat mapping.
#[test]
fn memory_panel_reads_the_image_and_shows_the_walk() {
    let mut r = rig("interp");
    r.harness.get_by_label("Step").click();
    r.settle();
    // Memory follows the PC by default: the row at the entry holds the
    // image's first instruction words, little-endian, as the ELF has them.
    let row = format!("{:016x}: ", r.entry);
    let label = text(&r.harness.get_by_label_contains(&row));
    let elf = goblin::elf::Elf::parse(&r.image).unwrap();
    let ph = elf
        .program_headers
        .iter()
        .find(|p| p.p_vaddr <= r.entry && r.entry < p.p_vaddr + p.p_filesz)
        .unwrap();
    let off = (ph.p_offset + r.entry - ph.p_vaddr) as usize;
    let hex: Vec<String> = r.image[off..off + 8].iter().map(|b| format!("{b:02x}")).collect();
    assert!(label.contains(&hex.join(" ")), "{label} holds {}", hex.join(" "));

    let walk = r.harness.get_by_role_and_label(Role::TextInput, "Translation walk of:");
    walk.click();
    walk.type_text(&format!("{:#x}", r.entry));
    r.harness.run_steps(1);
    r.harness.get_by_label("Walk").click();
    r.settle();
    let text = format!("stage 1 translation is off: flat mapping to {:#x}", r.entry);
    assert!(r.shows(&text), "{text}");
}

impl Rig {
    /// The byte at `addr` in the memory window (read by the machine
    /// thread through `Machine::read_memory`).
    fn byte(&self, addr: u64) -> u8 {
        let v = self.harness.state().view();
        let (row, bytes) = v
            .memory
            .iter()
            .find(|(a, _)| *a <= addr && addr < a + 16)
            .unwrap_or_else(|| panic!("{addr:#x} is not in the memory window"));
        bytes.expect("a readable row")[(addr - row) as usize]
    }

    /// Runs to the first instruction of `symbol` (a breakpoint there,
    /// removed once hit).
    fn run_to(&mut self, symbol: &str) -> u64 {
        self.run_to_nth(symbol, 1)
    }

    /// Runs until the `n`th time `symbol` is reached.
    fn run_to_nth(&mut self, symbol: &str, n: usize) -> u64 {
        let at = gui::code::Symbols::from_image(&self.image)
            .lookup(symbol)
            .unwrap_or_else(|| panic!("no symbol {symbol}"));
        self.harness.state().host().send(Command::ToggleBreakpoint(at));
        self.settle();
        for _ in 0..n {
            self.harness.get_by_label("Run").click();
            self.wait_paused();
            assert_eq!(
                self.harness.state().view().last_stop,
                Some(boards::control::Stop::Breakpoint { core: 0, pc: at })
            );
        }
        self.harness.state().host().send(Command::ToggleBreakpoint(at));
        self.settle();
        at
    }
}

/// Inline hex editing: click a byte, two hex digits write it (through
/// the same control interface as every other write) and move to the next
/// byte; Escape drops a half-typed byte; Tab moves on without writing;
/// moving out of the memory window ends the edit.
#[test]
fn hex_view_edits_bytes_in_place() {
    let mut r = rig("interp");
    // The memory window follows the PC: the entry's row is shown.
    let e = r.entry;
    let (b1, b2, b4) = (r.byte(e + 1), r.byte(e + 2), r.byte(e + 4));
    assert!(
        b1 != 0xa5 && b2 != 0x5a,
        "the test needs bytes that differ from what it types"
    );

    r.harness.get_by_label(&format!("byte {:#x}", e + 1)).click();
    r.settle();
    r.harness.get_by_label(&format!("byte {:#x}", e + 1)).type_text("a5");
    r.settle();
    assert_eq!(r.byte(e + 1), 0xa5);
    // The editor moved to e + 2: one digit, then Escape, writes nothing.
    r.harness.get_by_label(&format!("byte {:#x}", e + 2)).type_text("5");
    r.settle();
    r.harness.key_press(egui::Key::Escape);
    r.settle();
    r.harness.get_by_label(&format!("byte {:#x}", e + 2)).type_text("a");
    r.settle();
    assert_eq!(
        r.byte(e + 2),
        b2,
        "Escape dropped the half-typed byte and ended editing"
    );

    r.harness.get_by_label(&format!("byte {:#x}", e + 4)).click();
    r.settle();
    r.harness.key_press(egui::Key::Tab);
    r.settle();
    r.harness.get_by_label(&format!("byte {:#x}", e + 5)).type_text("3C");
    r.settle();
    assert_eq!(r.byte(e + 4), b4, "Tab moved on without writing");
    assert_eq!(r.byte(e + 5), 0x3c);
    assert_eq!(r.byte(e + 1), 0xa5);
    // Up from the window's first row (the entry's: the window starts at
    // the PC's 16-byte row) leaves the window: the edit ends there.
    assert_eq!(r.harness.state().view().memory[0].0, e & !15);
    r.harness.get_by_label(&format!("byte {:#x}", e + 3)).click();
    r.settle();
    r.harness.key_press(egui::Key::ArrowUp);
    r.settle();
    // Were the edit still on, Down would bring it back to e + 3.
    r.harness.key_press(egui::Key::ArrowDown);
    r.settle();
    let b3 = r.byte(e + 3);
    assert_ne!(b3, 0x0f);
    r.harness.get_by_label(&format!("byte {:#x}", e + 3)).type_text("0f");
    r.settle();
    assert_eq!(
        r.byte(e + 3),
        b3,
        "typing after the edit left the window writes nothing"
    );
    // The disassembly reads the same memory: the first word changed.
    let word = u32::from_le_bytes([r.byte(e), 0xa5, r.byte(e + 2), r.byte(e + 3)]);
    assert!(r.line(e).contains(&format!("{word:08x}")), "{}", r.line(e));
}

/// The Devices panel against devices.elf (firmware/devices/main.c) with a
/// virtio-blk disk, stopped at the second `blk_request`: the driver set
/// queue 0 up with QSIZE 8 entries at its `desc`, `avail` and `used`
/// arrays and made one request (blk-read-sector0), which the device took
/// and returned. The flash banks are untouched so far (read array).
#[test]
fn devices_panel_shows_virtio_queues_and_flash() {
    let dir = std::env::temp_dir().join(format!("preboard-gui-devices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let disk = dir.join("disk.img");
    std::fs::write(&disk, vec![0u8; 1 << 20]).unwrap();
    let mut setup = Setup::hello("interp");
    setup.elf = DEVICES;
    setup.attach.drives.push(soc::virtio::BlkConfig {
        path: disk,
        read_only: false,
        serial: Some("pb-devices-0001".into()),
        discard: false,
    });
    let mut r = rig_with(setup);
    r.uart.send(b"Preboard devices: UART RX through the GIC\n");
    r.run_to_nth("blk_request", 2);
    r.harness.state_mut().show_tab(Tab::Devices);
    r.settle();
    let syms = gui::code::Symbols::from_image(&r.image);
    let sym = |n: &str| syms.lookup(n).unwrap_or_else(|| panic!("no symbol {n}"));
    let v = r.harness.state().view();
    let blk = v
        .device_views
        .iter()
        .find_map(|(n, d)| match d {
            soc::device::DeviceView::Virtio(v) if v.device_id == 2 => Some((n.clone(), v.clone())),
            _ => None,
        })
        .expect("a virtio-blk view");
    let q = blk.1.queues[0];
    assert!(q.ready);
    assert_eq!(q.size, 8);
    assert_eq!(
        (q.desc_table, q.avail_ring, q.used_ring),
        (sym("desc"), sym("avail"), sym("used"))
    );
    assert_eq!(
        (q.driver_avail_idx, q.next_avail, q.used_idx, q.in_flight()),
        (Some(1), 1, 1, 0)
    );
    let status = "ACKNOWLEDGE|DRIVER|DRIVER_OK|FEATURES_OK";
    assert!(r.shows(&format!("{} · block · modern · status {status}", blk.0)));
    assert!(r.shows("flash0 · 64 MiB · read array · SR 0x80 · writes kept in memory"));
    assert!(r.shows(&format!("{:#x}", sym("avail"))), "the queue row shows the ring");
    r.snapshot("devices_virtio_and_flash");
    r.harness.state().host().send(Command::Quit);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The page-table walk view decodes every level: mmu.elf
/// (firmware/mmu/README.md) maps RAM at 0x40000000 with level-2 blocks of
/// attribute index 1, MAIR_EL1 = 0x0444ff00 (index 1: 0xff, Normal
/// write-back); in its first configuration (4 KiB granule, 39-bit VAs)
/// the walk starts at level 1 with a table descriptor. `load_reads` runs
/// with the MMU on (from translation_cases, after mmu_on).
#[test]
fn walk_view_decodes_each_level() {
    let mut setup = Setup::hello("interp");
    setup.elf = MMU;
    let mut r = rig_with(setup);
    r.run_to("load_reads");
    let walk = r.harness.get_by_role_and_label(Role::TextInput, "Translation walk of:");
    walk.click();
    walk.type_text("0x40000000");
    r.harness.run_steps(1);
    r.harness.get_by_label("Walk").click();
    r.settle();
    let v = r.harness.state().view();
    let w = match &v.walk {
        Some((_, Ok(w))) => w.clone(),
        other => panic!("no walk: {other:?}"),
    };
    let kinds: Vec<(u32, &str)> = w.decoded().iter().map(|(l, d)| (*l, d.kind())).collect();
    assert_eq!(kinds, [(1, "table"), (2, "block")]);
    let regime = text(&r.harness.get_by_label_contains("39-bit VAs from TTBR0"));
    assert!(regime.starts_with("4 KiB granule"), "{regime}");
    assert!(regime.ends_with("MAIR 0x000000000444ff00"), "{regime}");
    let leaf = text(&r.harness.get_by_label_contains("OA 0x40000000"));
    assert!(leaf.contains("AttrIndx 1: 0xff Normal WB RA WA"), "{leaf}");
    assert!(leaf.contains("AF"), "{leaf}");
    r.snapshot("walk_levels");
}

/// HiDPI: the paused window at 2 pixels per point (a 2560x1600 image of
/// the 1280x800 logical window the other snapshots use at 1).
#[test]
fn hidpi_window_draws_at_two_pixels_per_point() {
    let mut setup = Setup::hello("interp");
    setup.pixels_per_point = 2.0;
    let mut r = rig_with(setup);
    assert!(r.shows(&format!("{:016x}", r.entry)), "the Cores panel shows the PC");
    r.snapshot("paused_at_entry_hidpi");
}
