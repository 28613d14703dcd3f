//! Power rails: what they are, how they are read, and how their energy is accounted.
//!
//! A [`PowerRail`] is one INA226 monitor of the board's rail table ([`crate::zcu102`]),
//! addressed by the PMBus it sits on and its I2C address, and placed in a [`RailGroup`].
//! A [`RailReader`] reads its power: [`HwmonRail`] through the kernel's hwmon attributes,
//! [`Ina226`] directly over I2C for kernels without the driver. The [`Sampler`] thread reads
//! every rail at a fixed period into an [`EnergyLog`], which integrates energy with
//! trapezoids and splits it at the inference marks.
//!
//! A reading is refused, with the rail and its source named, when it is not a number, is
//! negative or exceeds [`MAX_PLAUSIBLE_RAIL_UW`]: a rail that reads garbage must stop the
//! measurement, not silently bend the joules per inference.

mod energy;
mod hwmon;
mod ina226;
mod sampler;

pub use energy::{EnergyLog, GroupValues, InferenceEnergy, Mark, Sample, WindowEnergy};
pub use hwmon::{
    HWMON_CLASS_DIR, HwmonLayout, HwmonRail, RailDiscovery, UnplacedSensor, discover_hwmon_rails,
};
pub use ina226::{
    Ina226, PmBusAdapters, find_pmbus_adapters, open_i2c_rails, power_uw_from_registers, registers,
};
pub use sampler::{DEFAULT_PERIOD, MARK_CAPACITY, Measured, Sampler, SamplerHandle};

use std::fmt;

use crate::error::{BoardError, Result};

/// The most power any single ZCU102 rail can plausibly draw; a larger reading is garbage.
pub const MAX_PLAUSIBLE_RAIL_UW: u64 = 100_000_000;

/// The PMBus segment a monitor sits on: a channel of the PCA9544 I2C mux.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PmBus {
    /// `PS_PMBUS`, mux channel 0.
    Ps,
    /// `PL_PMBUS`, mux channel 1.
    Pl,
}

impl PmBus {
    /// The mux channel that carries this bus.
    pub fn mux_channel(self) -> u32 {
        match self {
            Self::Ps => 0,
            Self::Pl => 1,
        }
    }

    /// The bus on mux channel `channel`, if it carries one.
    pub fn from_mux_channel(channel: u32) -> Option<Self> {
        match channel {
            0 => Some(Self::Ps),
            1 => Some(Self::Pl),
            _ => None,
        }
    }
}

impl fmt::Display for PmBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ps => "PS",
            Self::Pl => "PL",
        })
    }
}

/// How rails are summed in reports, as the schematic groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RailGroup {
    /// Processing system: cores, interconnect, PS I/O.
    Ps,
    /// Programmable logic: fabric, BRAM, PL I/O.
    Pl,
    /// PS DDR memory I/O and its PLL.
    Ddr,
    /// Multi-gigabit transceivers (PS-GTR and GTH).
    Mgt,
}

impl RailGroup {
    /// All groups, in report order.
    pub const ALL: [RailGroup; 4] = [Self::Ps, Self::Pl, Self::Ddr, Self::Mgt];

    /// Position in [`RailGroup::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// `PS`, `PL`, `DDR` or `MGT`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ps => "PS",
            Self::Pl => "PL",
            Self::Ddr => "DDR",
            Self::Mgt => "MGT",
        }
    }
}

impl fmt::Display for RailGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One monitored rail of the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PowerRail {
    /// The rail's schematic name (`VCCINT`).
    pub name: &'static str,
    /// The monitor's reference designator (`u79`); mainline device trees name hwmon
    /// devices after it (`ina226_u79`).
    pub part: &'static str,
    /// The PMBus segment.
    pub bus: PmBus,
    /// The monitor's 7-bit I2C address.
    pub address: u8,
    /// The shunt resistor in micro-ohms.
    pub shunt_uohm: u32,
    /// The report group.
    pub group: RailGroup,
}

/// Something that reads one rail's power.
pub trait RailReader: Send {
    /// The rail read.
    fn rail(&self) -> &PowerRail;

    /// Where it is read from (hwmon directory, I2C bus and address), for messages.
    fn origin(&self) -> String;

    /// The rail's power now, in microwatts.
    fn read_power_uw(&mut self) -> Result<u64>;
}

impl<R: RailReader + ?Sized> RailReader for Box<R> {
    fn rail(&self) -> &PowerRail {
        (**self).rail()
    }

    fn origin(&self) -> String {
        (**self).origin()
    }

    fn read_power_uw(&mut self) -> Result<u64> {
        (**self).read_power_uw()
    }
}

/// Accepts a power reading in microwatts or says why it is garbage.
pub(crate) fn plausible_uw(
    rail: &PowerRail,
    origin: impl FnOnce() -> String,
    uw: i128,
) -> Result<u64> {
    let problem = if uw < 0 {
        format!("negative power {uw} uW")
    } else if uw > i128::from(MAX_PLAUSIBLE_RAIL_UW) {
        format!(
            "implausible power {uw} uW (more than {} W)",
            MAX_PLAUSIBLE_RAIL_UW / 1_000_000
        )
    } else {
        return Ok(uw as u64);
    };
    Err(BoardError::Rail {
        rail: rail.name,
        origin: origin(),
        problem,
    })
}
