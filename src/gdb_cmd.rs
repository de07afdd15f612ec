//! `--gdb` / `--wait-gdb` of `preboard run`: the GDB remote stub (crate
//! `gdb`) drives the machine instead of the plain run loop.

use crate::{exit, Failure};
use boards::machine::{Machine, MachineError, RunOutcome};
use clap::Args;
use std::cell::Cell;
use std::path::Path;

/// Remote debugging options (`preboard qemu` maps `-s`, `-S` and `-gdb`
/// onto these).
#[derive(Args, Clone, Debug, Default)]
pub struct GdbArgs {
    /// Wait for gdb-multiarch on SPEC: `tcp::PORT` (127.0.0.1) or
    /// `tcp:HOST:PORT` (`target remote :PORT` in gdb). Cores are threads;
    /// `monitor help` lists the stub's commands. `--max-insns` does not
    /// apply while the stub runs the machine.
    #[arg(long, value_name = "SPEC")]
    pub gdb: Option<String>,
    /// Start halted until gdb connects and continues (needs --gdb).
    #[arg(long, requires = "gdb")]
    pub wait_gdb: bool,
}

/// A listening stub and whether the next run waits for it.
pub struct Listening {
    server: gdb::GdbServer,
    /// Only the first boot waits: after a guest reset the machine runs on.
    wait: Cell<bool>,
}

/// Opens the stub's socket when `--gdb` was given.
pub fn listen(args: &GdbArgs) -> Result<Option<Listening>, Failure> {
    let Some(spec) = &args.gdb else {
        return Ok(None);
    };
    let server = gdb::GdbServer::bind(spec).map_err(|e| Failure::new(exit::BAD_INPUT, e))?;
    if let Ok(a) = server.local_addr() {
        eprintln!("preboard: gdb stub listening on {a}");
    }
    Ok(Some(Listening {
        server,
        wait: Cell::new(args.wait_gdb),
    }))
}

impl Listening {
    /// Runs `machine` under the stub until the guest stops. `build` makes
    /// the machine as `preboard run` starts it (`None`: booting its
    /// images, or `--snapshot-load`'s snapshot) or restored from a
    /// snapshot: the stub's resets and `monitor snapshot load` use it,
    /// and so do guest resets unless `no_reboot`.
    pub fn serve(
        &self,
        machine: &mut Machine,
        build: &dyn Fn(Option<&Path>) -> Result<Machine, Failure>,
        no_reboot: bool,
    ) -> Result<RunOutcome, MachineError> {
        let mut rebuild = Rebuilder { build, no_reboot };
        self.server.serve(machine, self.wait.replace(false), &mut rebuild)
    }
}

/// The stub's way to build the machine again: `preboard run`'s own.
struct Rebuilder<'a> {
    build: &'a dyn Fn(Option<&Path>) -> Result<Machine, Failure>,
    no_reboot: bool,
}

impl gdb::Rebuild for Rebuilder<'_> {
    fn reset(&mut self) -> Result<Machine, gdb::RebuildError> {
        (self.build)(None).map_err(|f| f.error.into())
    }

    fn restore(&mut self, path: &Path) -> Result<Machine, gdb::RebuildError> {
        (self.build)(Some(path)).map_err(|f| f.error.into())
    }

    fn reboot_on_guest_reset(&self) -> bool {
        !self.no_reboot
    }
}
