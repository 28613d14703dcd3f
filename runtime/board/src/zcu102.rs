//! Board data of the ZCU102: its 18 INA226 power monitors.
//!
//! The monitors sit on PS I2C0 behind a PCA9544 mux at 0x75: channel 0 is `PS_PMBUS`,
//! channel 1 is `PL_PMBUS` (ZCU102 schematic and user guide; shunt values as in the
//! device tree, in micro-ohms).
//!
//! Grouping, decided from the rail names:
//! - DDR: `VCCO_PSDDR_504` (PS DDR I/O bank 504) and `VCCPSDDRPLL` (the DDR PLL);
//! - MGT: `MGTRAVCC` and `MGTRAVTT` (PS-GTR, on the PS bus), `MGTAVCC` and `MGTAVTT` (GTH, on
//!   the PL bus);
//! - PS: every other rail on the PS bus;
//! - PL: every other rail on the PL bus. `VCC1V2` and `VCC3V3` feed board I/O and the PL
//!   DDR4 component memory, not only fabric; they are counted as PL because they sit on
//!   the PL bus, and a report that needs the fabric alone can use `VCCINT` + `VCCBRAM` +
//!   `VCCAUX` from the per-rail figures.

use crate::error::Result;
use crate::power::{
    HwmonRail, Ina226, PmBus, PowerRail, RailDiscovery, RailGroup, discover_hwmon_rails,
    open_i2c_rails,
};
use crate::root::Root;

/// I2C bus number of the PMBus mux's parent (PS I2C0).
pub const PMBUS_MUX_BUS: u32 = 0;
/// I2C address of the PCA9544 PMBus mux.
pub const PMBUS_MUX_ADDRESS: u8 = 0x75;

const fn rail(
    bus: PmBus,
    part: &'static str,
    address: u8,
    shunt_mohm: u32,
    name: &'static str,
    group: RailGroup,
) -> PowerRail {
    PowerRail {
        name,
        part,
        bus,
        address,
        shunt_uohm: shunt_mohm * 1000,
        group,
    }
}

use PmBus::{Pl, Ps};
use RailGroup::{Ddr, Mgt};

/// The ZCU102's monitored rails, PS bus first, in address order.
pub const RAILS: [PowerRail; 18] = [
    rail(Ps, "u76", 0x40, 5, "VCCPSINTFP", RailGroup::Ps),
    rail(Ps, "u77", 0x41, 5, "VCCPSINTLP", RailGroup::Ps),
    rail(Ps, "u78", 0x42, 5, "VCCPSAUX", RailGroup::Ps),
    rail(Ps, "u87", 0x43, 5, "VCCPSPLL", RailGroup::Ps),
    rail(Ps, "u85", 0x44, 5, "MGTRAVCC", Mgt),
    rail(Ps, "u86", 0x45, 5, "MGTRAVTT", Mgt),
    rail(Ps, "u93", 0x46, 5, "VCCO_PSDDR_504", Ddr),
    rail(Ps, "u88", 0x47, 5, "VCCOPS", RailGroup::Ps),
    rail(Ps, "u15", 0x4a, 5, "VCCOPS3", RailGroup::Ps),
    rail(Ps, "u92", 0x4b, 5, "VCCPSDDRPLL", Ddr),
    rail(Pl, "u79", 0x40, 2, "VCCINT", RailGroup::Pl),
    rail(Pl, "u81", 0x41, 5, "VCCBRAM", RailGroup::Pl),
    rail(Pl, "u80", 0x42, 5, "VCCAUX", RailGroup::Pl),
    rail(Pl, "u84", 0x43, 5, "VCC1V2", RailGroup::Pl),
    rail(Pl, "u16", 0x44, 5, "VCC3V3", RailGroup::Pl),
    rail(Pl, "u65", 0x45, 5, "VADJ_FMC", RailGroup::Pl),
    rail(Pl, "u74", 0x46, 5, "MGTAVCC", Mgt),
    rail(Pl, "u75", 0x47, 5, "MGTAVTT", Mgt),
];

/// The ZCU102's rails through the kernel's hwmon drivers under `root`.
pub fn hwmon_rails(root: &Root) -> Result<RailDiscovery<HwmonRail>> {
    discover_hwmon_rails(root, &RAILS)
}

/// The ZCU102's rails read directly over I2C (`/dev/i2c-N` of the mux channels), for
/// kernels without the INA226 driver. Needs the kernel's pca954x mux driver.
pub fn i2c_rails(root: &Root) -> Result<Vec<Ina226<linux_embedded_hal::I2cdev>>> {
    open_i2c_rails(root, &RAILS, PMBUS_MUX_BUS, PMBUS_MUX_ADDRESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn groups_follow_the_naming_rule() {
        for rail in RAILS {
            let expected = match rail.name {
                "VCCO_PSDDR_504" | "VCCPSDDRPLL" => Ddr,
                name if name.starts_with("MGT") => Mgt,
                _ if rail.bus == Ps => RailGroup::Ps,
                _ => RailGroup::Pl,
            };
            assert_eq!(rail.group, expected, "{}", rail.name);
        }
        let count = |g| RAILS.iter().filter(|r| r.group == g).count();
        assert_eq!(
            [
                count(RailGroup::Ps),
                count(RailGroup::Pl),
                count(Ddr),
                count(Mgt)
            ],
            [6, 6, 2, 4]
        );
    }

    #[test]
    fn addresses_parts_and_names_are_unique() {
        let places: HashSet<_> = RAILS.iter().map(|r| (r.bus, r.address)).collect();
        let parts: HashSet<_> = RAILS.iter().map(|r| r.part).collect();
        let names: HashSet<_> = RAILS.iter().map(|r| r.name).collect();
        assert_eq!((places.len(), parts.len(), names.len()), (18, 18, 18));
        assert_eq!(
            RAILS
                .iter()
                .find(|r| r.name == "VCCINT")
                .unwrap()
                .shunt_uohm,
            2000
        );
    }
}
