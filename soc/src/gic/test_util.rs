//! Helpers shared by the GIC tests.

use cpu_aarch64::irq::{IrqLines, FIQ, IRQ};

use super::{Gic, GicConfig, GicCpuConfig, GicVersion};
use crate::device::AccessInfo;

/// A GIC plus the lines it drives.
pub struct Rig {
    pub gic: Gic,
    pub lines: Vec<IrqLines>,
}

/// Region indices.
pub const DIST: usize = 0;
/// v2 CPU interface / v3 redistributors.
pub const CPU: usize = 1;

impl Rig {
    /// A GIC of `version` with cores of the given affinities and 64 SPIs.
    pub fn new(version: GicVersion, affinities: &[u64]) -> Rig {
        Rig::with_spis(version, affinities, 64)
    }

    pub fn with_spis(version: GicVersion, affinities: &[u64], num_spis: u32) -> Rig {
        let lines: Vec<IrqLines> = affinities.iter().map(|_| IrqLines::new()).collect();
        let cpus = affinities
            .iter()
            .zip(&lines)
            .map(|(&affinity, l)| GicCpuConfig {
                affinity,
                lines: l.clone(),
            })
            .collect();
        let mut cfg = GicConfig::virt(version, cpus);
        cfg.num_spis = num_spis;
        Rig {
            gic: Gic::new(cfg).unwrap(),
            lines,
        }
    }

    pub fn read(&mut self, cpu: usize, region: usize, offset: u64, size: u8) -> u64 {
        self.gic.mmio_read(AccessInfo {
            cpu,
            region,
            offset,
            size,
            debug: false,
        })
    }

    pub fn write(&mut self, cpu: usize, region: usize, offset: u64, size: u8, value: u64) {
        self.gic.mmio_write(
            AccessInfo {
                cpu,
                region,
                offset,
                size,
                debug: false,
            },
            value,
        )
    }

    /// 32-bit distributor read by core 0.
    pub fn gicd(&mut self, offset: u64) -> u32 {
        self.read(0, DIST, offset, 4) as u32
    }

    /// 32-bit distributor write by core 0.
    pub fn set_gicd(&mut self, offset: u64, v: u32) {
        self.write(0, DIST, offset, 4, u64::from(v))
    }

    pub fn irq(&self, cpu: usize) -> bool {
        self.lines[cpu].get() & IRQ != 0
    }

    pub fn fiq(&self, cpu: usize) -> bool {
        self.lines[cpu].get() & FIQ != 0
    }

    /// (IRQ, FIQ) of every core.
    pub fn outputs(&self) -> Vec<(bool, bool)> {
        (0..self.lines.len()).map(|c| (self.irq(c), self.fiq(c))).collect()
    }
}
