//! `preboard gui` / `preboard run --gui`: the inspector window (crate
//! `gui`) runs the machine on its own thread, every UART on a console
//! in the window.

use crate::{exit, Failure, Inputs, RunArgs};
use clap::Args;
use soc::chardev::{self, Capture, CharBackend};
use std::path::PathBuf;
use std::time::Duration;

/// Inspector window options.
#[derive(Args, Clone, Debug, Default)]
pub struct GuiArgs {
    /// Open the inspector window instead of running on the terminal (as
    /// `preboard gui`): every UART gets a console in the window.
    #[arg(long)]
    pub gui: bool,
    /// With the GUI: start paused at the first instruction.
    #[arg(long)]
    pub paused: bool,
    /// With the GUI: close the window after SECS seconds (scripts, tests).
    #[arg(long, value_name = "SECS")]
    pub quit_after: Option<f64>,
    /// With the GUI and --quit-after: save a screenshot of the window to
    /// FILE (binary PPM) just before closing.
    #[arg(long, value_name = "FILE", requires = "quit_after")]
    pub screenshot: Option<PathBuf>,
}

/// Refuses the options that mean nothing in the window: its consoles are
/// the UARTs, and it is its own debugger and monitor.
pub fn check(args: &RunArgs) -> Result<(), Failure> {
    let clash = [
        (args.gdb.gdb.is_some(), "--gdb"),
        (args.monitor.is_some(), "--monitor"),
        (!args.serial.is_empty(), "--serial"),
        (args.max_insns.is_some(), "--max-insns"),
        (args.snapshot_save.is_some(), "--snapshot-save"),
    ];
    if let Some((_, name)) = clash.iter().find(|c| c.0) {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!("{name} cannot be used with the inspector window (gui / --gui)"),
        ));
    }
    if let Some(s) = args.gui.quit_after {
        if !(s.is_finite() && s >= 0.0) {
            return Err(Failure::new(
                exit::USAGE,
                anyhow::anyhow!("--quit-after {s}: expected a number of seconds"),
            ));
        }
    }
    Ok(())
}

/// Opens the window; returns when it closes.
pub fn run(args: &GuiArgs, inputs: Inputs, kernel: &Option<PathBuf>) -> Result<u8, Failure> {
    let uarts: Vec<String> = inputs
        .board
        .devices
        .iter()
        .filter_map(|d| match d {
            boards::schema::DeviceSpec::Pl011(p) => Some(p.name.clone()),
            _ => None,
        })
        .collect();
    let captures: Vec<Capture> = uarts.iter().map(|_| Capture::new()).collect();
    let semihosting = Capture::new();
    let mut consoles: Vec<gui::Console> = uarts
        .iter()
        .zip(&captures)
        .map(|(name, c)| gui::Console {
            name: name.clone(),
            capture: c.clone(),
        })
        .collect();
    consoles.push(gui::Console {
        name: "semihosting".into(),
        capture: semihosting.clone(),
    });
    let image = match kernel {
        Some(_) => inputs.kernel.as_ref().map(|k| k.bytes.clone()),
        None => Some(crate::DEMO_FIRMWARE.to_vec()),
    };
    let factory: gui::Factory = Box::new(move || {
        let serial = captures
            .iter()
            .map(|c| Box::new(c.clone()) as Box<dyn CharBackend>)
            .collect();
        inputs
            .machine(inputs.snapshot_load.as_deref(), serial, semihosting.writer())
            .map_err(|f| crate::describe(&f.error))
    });
    let options = gui::WindowOptions {
        paused: args.paused,
        quit_after: args.quit_after.map(Duration::from_secs_f64),
        screenshot: args.screenshot.clone(),
    };
    let r = gui::run_window(
        gui::Launch {
            factory,
            consoles,
            image,
        },
        options,
    );
    chardev::restore_terminal();
    r.map(|()| 0).map_err(|e| Failure::new(exit::IO, e))
}
