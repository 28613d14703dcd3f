//! INA226 monitors read directly over I2C, for kernels without the INA226 driver.
//!
//! Generic over `embedded_hal::i2c::I2c`, so tests drive a fake device and the board uses
//! `linux_embedded_hal::I2cdev` on `/dev/i2c-N`. Only reads are issued: the shunt-voltage
//! and bus-voltage registers, whose scales are fixed by the chip (2.5 uV and 1.25 mV per
//! LSB), so no calibration register has to be written and a configuration left by
//! firmware or another tool is not disturbed. Power is their product over the shunt
//! resistance from the board table.
//!
//! Registers (INA226 datasheet, 16-bit, most significant byte first): 0x00 configuration,
//! 0x01 shunt voltage (two's complement), 0x02 bus voltage, 0x03 power, 0x04 current,
//! 0x05 calibration, 0xFE manufacturer ID (0x5449, "TI"), 0xFF die ID (0x2260).

use embedded_hal::i2c::I2c;

use crate::error::{BoardError, Result};
use crate::power::hwmon::mux_channel_links;
use crate::power::{PmBus, PowerRail, RailReader, plausible_uw};
use crate::root::Root;

/// INA226 register addresses and fixed facts.
pub mod registers {
    /// Configuration (averaging, conversion times, mode).
    pub const CONFIG: u8 = 0x00;
    /// Shunt voltage, two's complement, [`SHUNT_LSB_NV`] per LSB.
    pub const SHUNT_VOLTAGE: u8 = 0x01;
    /// Bus voltage, [`BUS_LSB_UV`] per LSB.
    pub const BUS_VOLTAGE: u8 = 0x02;
    /// Power, valid only after calibration.
    pub const POWER: u8 = 0x03;
    /// Current, valid only after calibration.
    pub const CURRENT: u8 = 0x04;
    /// Calibration.
    pub const CALIBRATION: u8 = 0x05;
    /// Manufacturer ID.
    pub const MANUFACTURER_ID: u8 = 0xfe;
    /// Die ID.
    pub const DIE_ID: u8 = 0xff;
    /// Texas Instruments' manufacturer ID ("TI").
    pub const TI_MANUFACTURER_ID: u16 = 0x5449;
    /// The INA226's die ID.
    pub const INA226_DIE_ID: u16 = 0x2260;
    /// Shunt voltage per LSB: 2.5 uV.
    pub const SHUNT_LSB_NV: i64 = 2_500;
    /// Bus voltage per LSB: 1.25 mV.
    pub const BUS_LSB_UV: u64 = 1_250;
    /// The INA226's worst-case shunt offset (10 uV) in LSBs: a reading this far below
    /// zero is noise around no current, not a reverse current.
    pub const SHUNT_OFFSET_LSB: i16 = 4;
}

/// One INA226 on an I2C bus.
#[derive(Debug)]
pub struct Ina226<I> {
    i2c: I,
    rail: PowerRail,
    bus: String,
}

impl<I: I2c> Ina226<I> {
    /// A monitor of `rail` on `i2c`; `bus` names the bus in messages (`i2c-3`).
    pub fn new(i2c: I, rail: PowerRail, bus: impl Into<String>) -> Self {
        Self {
            i2c,
            rail,
            bus: bus.into(),
        }
    }

    /// Checks that the device at the rail's address is an INA226.
    pub fn probe(&mut self) -> Result<()> {
        let manufacturer = self.read_register(registers::MANUFACTURER_ID)?;
        let die = self.read_register(registers::DIE_ID)?;
        if (manufacturer, die) == (registers::TI_MANUFACTURER_ID, registers::INA226_DIE_ID) {
            return Ok(());
        }
        Err(self.problem(format!(
            "not an INA226: manufacturer ID {manufacturer:#06x}, die ID {die:#06x} (expected {:#06x}, {:#06x})",
            registers::TI_MANUFACTURER_ID,
            registers::INA226_DIE_ID
        )))
    }

    /// Reads 16-bit register `register`.
    pub fn read_register(&mut self, register: u8) -> Result<u16> {
        let mut word = [0u8; 2];
        self.i2c
            .write_read(self.rail.address, &[register], &mut word)
            .map_err(|e| self.problem(format!("reading register {register:#04x} failed: {e:?}")))?;
        Ok(u16::from_be_bytes(word))
    }

    /// Shunt voltage in nanovolts.
    pub fn shunt_voltage_nv(&mut self) -> Result<i64> {
        Ok(
            i64::from(self.read_register(registers::SHUNT_VOLTAGE)? as i16)
                * registers::SHUNT_LSB_NV,
        )
    }

    /// Bus voltage in microvolts.
    pub fn bus_voltage_uv(&mut self) -> Result<u64> {
        Ok(u64::from(self.read_register(registers::BUS_VOLTAGE)?) * registers::BUS_LSB_UV)
    }

    /// Gives the bus back.
    pub fn into_inner(self) -> I {
        self.i2c
    }

    fn problem(&self, problem: String) -> BoardError {
        BoardError::Rail {
            rail: self.rail.name,
            origin: self.origin_text(),
            problem,
        }
    }

    fn origin_text(&self) -> String {
        format!("{} address {:#04x}", self.bus, self.rail.address)
    }
}

impl<I: I2c + Send> RailReader for Ina226<I> {
    fn rail(&self) -> &PowerRail {
        &self.rail
    }

    fn origin(&self) -> String {
        self.origin_text()
    }

    fn read_power_uw(&mut self) -> Result<u64> {
        let shunt = self.read_register(registers::SHUNT_VOLTAGE)? as i16;
        let bus = self.read_register(registers::BUS_VOLTAGE)?;
        let uw = power_uw_from_registers(bus, shunt, self.rail.shunt_uohm)
            .map_err(|p| self.problem(p))?;
        plausible_uw(&self.rail, || self.origin_text(), i128::from(uw))
    }
}

/// Power in microwatts from raw bus- and shunt-voltage registers and the shunt resistance:
/// `P = (bus x 1.25 mV) x (shunt x 2.5 uV) / R`, which is `bus x shunt x 3125 / R[uOhm]`
/// uW, rounded to nearest. A shunt reading within the chip's offset below zero counts as
/// no current; further below zero is an error (reverse current or a wrong shunt).
pub fn power_uw_from_registers(bus: u16, shunt: i16, shunt_uohm: u32) -> Result<u64, String> {
    if shunt_uohm == 0 {
        return Err("the shunt resistance in the rail table is 0".into());
    }
    if shunt < -registers::SHUNT_OFFSET_LSB {
        return Err(format!(
            "negative shunt voltage {} nV: reverse current, or the shunt is wired backwards",
            i64::from(shunt) * registers::SHUNT_LSB_NV
        ));
    }
    let product = u128::from(bus) * u128::from(shunt.max(0) as u16) * 3125;
    let r = u128::from(shunt_uohm);
    Ok(((product + r / 2) / r) as u64)
}

/// Logical I2C bus numbers of the two PMBus mux channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmBusAdapters {
    /// Bus number of mux channel 0 (PS PMBus).
    pub ps: u32,
    /// Bus number of mux channel 1 (PL PMBus).
    pub pl: u32,
}

impl PmBusAdapters {
    /// The bus number that carries `pmbus`.
    pub fn bus(&self, pmbus: PmBus) -> u32 {
        match pmbus {
            PmBus::Ps => self.ps,
            PmBus::Pl => self.pl,
        }
    }
}

/// Finds the logical buses of the PMBus mux at `mux_address` on bus `mux_bus` through
/// its `channel-0` and `channel-1` links (the kernel's pca954x driver must be bound).
pub fn find_pmbus_adapters(root: &Root, mux_bus: u32, mux_address: u8) -> Result<PmBusAdapters> {
    let mux_link = root.join(format!("/sys/bus/i2c/devices/{mux_bus}-{mux_address:04x}"));
    let channels = mux_channel_links(root, &mux_link)?;
    let bus_of = |pmbus: PmBus| {
        channels
            .iter()
            .find(|(channel, _)| *channel == pmbus.mux_channel())
            .map(|(_, bus)| *bus)
            .ok_or_else(|| BoardError::Layout {
                path: mux_link.clone(),
                problem: format!(
                    "has no channel-{} link to a bus: is this the PMBus mux, with the pca954x driver bound?",
                    pmbus.mux_channel()
                ),
            })
    };
    Ok(PmBusAdapters {
        ps: bus_of(PmBus::Ps)?,
        pl: bus_of(PmBus::Pl)?,
    })
}

/// Opens every rail of `table` on its mux channel's `/dev/i2c-N` and checks it is an INA226.
pub fn open_i2c_rails(
    root: &Root,
    table: &[PowerRail],
    mux_bus: u32,
    mux_address: u8,
) -> Result<Vec<Ina226<linux_embedded_hal::I2cdev>>> {
    let adapters = find_pmbus_adapters(root, mux_bus, mux_address)?;
    table
        .iter()
        .map(|rail| {
            let bus = adapters.bus(rail.bus);
            let path = root.join(format!("/dev/i2c-{bus}"));
            let i2c = linux_embedded_hal::I2cdev::new(&path).map_err(|e| {
                use linux_embedded_hal::i2cdev::linux::LinuxI2CError;
                let io = match e {
                    LinuxI2CError::Io(io) => io,
                    LinuxI2CError::Errno(code) => std::io::Error::from_raw_os_error(code),
                };
                BoardError::open_device(&path)(io)
            })?;
            let mut monitor = Ina226::new(i2c, *rail, format!("i2c-{bus}"));
            monitor.probe()?;
            Ok(monitor)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zcu102::RAILS;
    use embedded_hal::i2c::{ErrorKind, ErrorType, NoAcknowledgeSource, Operation};
    use std::collections::HashMap;

    /// An INA226 on a bus: answers register reads at its address, NAKs elsewhere.
    struct FakeIna226 {
        address: u8,
        registers: HashMap<u8, u16>,
    }

    impl FakeIna226 {
        fn new(address: u8, shunt: i16, bus: u16) -> Self {
            let registers = HashMap::from([
                (registers::SHUNT_VOLTAGE, shunt as u16),
                (registers::BUS_VOLTAGE, bus),
                (registers::MANUFACTURER_ID, registers::TI_MANUFACTURER_ID),
                (registers::DIE_ID, registers::INA226_DIE_ID),
            ]);
            Self { address, registers }
        }
    }

    impl ErrorType for FakeIna226 {
        type Error = ErrorKind;
    }

    impl I2c for FakeIna226 {
        fn transaction(
            &mut self,
            address: u8,
            operations: &mut [Operation<'_>],
        ) -> Result<(), ErrorKind> {
            if address != self.address {
                return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
            }
            let mut pointer = None;
            for op in operations {
                match op {
                    Operation::Write([register]) => pointer = Some(*register),
                    Operation::Write(_) => return Err(ErrorKind::Other),
                    Operation::Read(buf) => {
                        let value = pointer
                            .and_then(|r| self.registers.get(&r))
                            .ok_or(ErrorKind::Other)?;
                        buf.copy_from_slice(&value.to_be_bytes());
                    }
                }
            }
            Ok(())
        }
    }

    fn rail(name: &str) -> PowerRail {
        *RAILS.iter().find(|r| r.name == name).unwrap()
    }

    #[test]
    fn power_from_hand_computed_registers() {
        // VCCINT, 2 mOhm: bus 0x0290 = 656 x 1.25 mV = 0.82 V; shunt 0x0FA0 = 4000 x 2.5 uV
        // = 10 mV -> 5 A -> 4.1 W.
        let vccint = rail("VCCINT");
        let mut monitor = Ina226::new(FakeIna226::new(0x40, 0x0FA0, 0x0290), vccint, "i2c-4");
        monitor.probe().unwrap();
        assert_eq!(monitor.bus_voltage_uv().unwrap(), 820_000);
        assert_eq!(monitor.shunt_voltage_nv().unwrap(), 10_000_000);
        assert_eq!(monitor.read_power_uw().unwrap() / 1000, 4_100);
        // VCCO_PSDDR_504, 5 mOhm: 1.2 V (960 LSB) and 1 mV (400 LSB) -> 0.2 A -> 240 mW.
        let ddr = rail("VCCO_PSDDR_504");
        let mut monitor = Ina226::new(FakeIna226::new(0x46, 400, 960), ddr, "i2c-3");
        assert_eq!(monitor.read_power_uw().unwrap(), 240_000);
    }

    #[test]
    fn offset_noise_is_zero_and_reverse_current_is_an_error() {
        assert_eq!(power_uw_from_registers(960, -3, 5000), Ok(0));
        let err = power_uw_from_registers(960, -400, 5000).unwrap_err();
        assert!(err.contains("negative shunt voltage -1000000 nV"), "{err}");
        assert_eq!(
            power_uw_from_registers(960, 400, 0).unwrap_err(),
            "the shunt resistance in the rail table is 0"
        );
        // Rounded to nearest: 1 x 1 x 3125 / 5000 = 0.625 uW -> 1.
        assert_eq!(power_uw_from_registers(1, 1, 5000), Ok(1));
    }

    #[test]
    fn a_wrong_chip_or_address_is_named() {
        let mut fake = FakeIna226::new(0x40, 0, 0);
        fake.registers.insert(registers::DIE_ID, 0x3220);
        let err = Ina226::new(fake, rail("VCCINT"), "i2c-4")
            .probe()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("power rail VCCINT (i2c-4 address 0x40): not an INA226"),
            "{err}"
        );
        let mut absent = Ina226::new(FakeIna226::new(0x41, 0, 0), rail("VCCINT"), "i2c-4");
        let err = absent.read_power_uw().unwrap_err().to_string();
        assert!(err.contains("reading register 0x01 failed"), "{err}");
    }

    #[test]
    fn pmbus_adapters_come_from_the_mux_channel_links() {
        use crate::power::HwmonLayout;
        use crate::power::hwmon::tests::Fixture;
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let mut fixture = Fixture::new(HwmonLayout::Ina2xx, (0..18).collect());
        fixture.buses = [9, 5];
        fixture.build(&root);
        assert_eq!(
            find_pmbus_adapters(&root, 0, 0x75).unwrap(),
            PmBusAdapters { ps: 9, pl: 5 }
        );
        let err = find_pmbus_adapters(&root, 1, 0x75).unwrap_err().to_string();
        assert!(err.contains("1-0075") && err.contains("pca954x"), "{err}");
        // The fixture has no /dev/i2c-9: opening the rails names the device node.
        let Err(err) = open_i2c_rails(&root, &RAILS, 0, 0x75) else {
            panic!("opened I2C rails that do not exist");
        };
        assert!(err.to_string().contains("dev/i2c-9"), "{err}");
    }

    #[test]
    fn implausible_power_is_refused() {
        // 36 V across the bus and 81.9 mV across 2 mOhm would be 1.47 kW.
        let mut monitor = Ina226::new(
            FakeIna226::new(0x40, 0x7FFF, 0x7080),
            rail("VCCINT"),
            "i2c-4",
        );
        let err = monitor.read_power_uw().unwrap_err().to_string();
        assert!(err.contains("implausible power"), "{err}");
    }
}
