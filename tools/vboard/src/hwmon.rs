//! The ZCU102's 18 INA226 rails as the kernel's hwmon drivers show them.
//!
//! The monitors sit behind a PCA9544 mux at 0x75 on PS I2C0 (`ff020000.i2c`, `i2c-0`);
//! the mux's channels 0 to 3 become logical buses `i2c-2` to `i2c-5` (channel 0 = PS
//! PMBus, 1 = PL PMBus), each adapter with a `mux_device` link to the mux and the mux with
//! `channel-N` links back, as the pca954x driver makes them. Every monitor is an I2C client
//! `B-00AA` on its bus in both layouts; what differs is where its hwmon device hangs:
//!
//! - legacy (`ina2xx` hwmon driver): under the client, `name` = `ina226`, attributes
//!   `in0_input` (shunt mV), `in1_input` (bus mV), `curr1_input`, `power1_input`,
//!   `shunt_resistor` (uOhm), `update_interval` (ms);
//! - mainline (`iio-hwmon` over `ina2xx-adc`): under the platform device `ina226_uNN`,
//!   `name` = `ina226_uNN`, attributes `in1_input` (shunt mV), `in2_input` (bus mV),
//!   `curr1_input`, `power1_input`.
//!
//! `hwmonN` numbers are deliberately scrambled with respect to the rail table (N = (7 i + 3)
//! mod 18 for table row i): a reader that goes by enumeration order reads the wrong rail
//! here, as it would after a kernel update on a real board.

use std::path::{Path, PathBuf};

use fibha_board::power::PowerRail;
use fibha_board::zcu102::RAILS;

use crate::attr;
use crate::error::Result;
use crate::layout::{RailLayout, join};
use crate::power::Reading;

const I2C0_DIR: &str = "/sys/devices/platform/axi/ff020000.i2c/i2c-0";
/// I2C address of the PMBus mux.
const MUX_ADDRESS: u8 = 0x75;
/// The PCA9544 has four channels.
const MUX_CHANNELS: u32 = 4;
/// Logical bus number of mux channel 0.
const FIRST_MUX_BUS: u32 = 2;

/// What a rail's `power1_input` holds instead of its reading under a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerOverride {
    /// Text that is not a number.
    Garbage,
    /// A number far beyond any rail of the board.
    Absurd,
}

impl PowerOverride {
    fn text(self) -> &'static str {
        match self {
            Self::Garbage => "not-a-number",
            Self::Absurd => "4294967295",
        }
    }
}

/// The files of one rail's hwmon device.
#[derive(Debug, Clone)]
pub struct RailFiles {
    /// The rail.
    pub rail: PowerRail,
    layout: RailLayout,
    /// The hwmon device's directory.
    pub dir: PathBuf,
    class_link: PathBuf,
    class_target: String,
    device_target: String,
}

/// The hwmon files of every rail, in rail-table order.
pub fn rail_files(root: &Path, layout: RailLayout) -> Vec<RailFiles> {
    RAILS
        .iter()
        .enumerate()
        .map(|(index, rail)| {
            let hwmon = format!("hwmon{}", (index * 7 + 3) % RAILS.len());
            let device = match layout {
                RailLayout::Legacy => client_dir(rail),
                RailLayout::Mainline => format!("/sys/devices/platform/ina226_{}", rail.part),
            };
            let device_leaf = device.rsplit('/').next().unwrap_or_default().to_owned();
            let dir = format!("{device}/hwmon/{hwmon}");
            RailFiles {
                rail: *rail,
                layout,
                dir: join(root, &dir),
                class_link: join(root, &format!("/sys/class/hwmon/{hwmon}")),
                class_target: format!("../../{}", dir.trim_start_matches("/sys/")),
                device_target: format!("../../../{device_leaf}"),
            }
        })
        .collect()
}

/// The I2C client directory of `rail`'s monitor.
fn client_dir(rail: &PowerRail) -> String {
    let bus = FIRST_MUX_BUS + rail.bus.mux_channel();
    format!("{I2C0_DIR}/i2c-{bus}/{bus}-{:04x}", rail.address)
}

impl RailFiles {
    /// Creates the hwmon device with `reading` and the update interval.
    pub fn create(&self, reading: &Reading, update_interval_ms: u64) -> Result<()> {
        attr::create_dir(&self.dir)?;
        attr::symlink(&self.device_target, &self.dir.join("device"))?;
        let name = match self.layout {
            RailLayout::Legacy => "ina226".to_owned(),
            RailLayout::Mainline => format!("ina226_{}", self.rail.part),
        };
        attr::write_new(&self.dir.join("name"), &name)?;
        if self.layout == RailLayout::Legacy {
            attr::write_new(
                &self.dir.join("shunt_resistor"),
                &self.rail.shunt_uohm.to_string(),
            )?;
            attr::write_new(
                &self.dir.join("update_interval"),
                &update_interval_ms.to_string(),
            )?;
        }
        for (attr_name, value) in self
            .attribute_names()
            .into_iter()
            .zip(Published::idle(reading).values())
        {
            attr::write_new(&self.dir.join(attr_name), &value)?;
        }
        if let Some(parent) = self.class_link.parent() {
            attr::create_dir(parent)?;
        }
        attr::symlink(&self.class_target, &self.class_link)
    }

    /// The measured attributes: shunt mV, bus mV, current, power.
    fn attribute_names(&self) -> [&'static str; 4] {
        match self.layout {
            RailLayout::Legacy => ["in0_input", "in1_input", "curr1_input", "power1_input"],
            RailLayout::Mainline => ["in1_input", "in2_input", "curr1_input", "power1_input"],
        }
    }

    /// Whether the device is present.
    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// Removes the device, as a driver unbind would.
    pub fn remove(&self) -> Result<()> {
        attr::remove_if_present(&self.class_link)?;
        attr::remove_tree_if_present(&self.dir)
    }

    /// Publishes `reading`, with `power1_input` replaced under a fault. Only attributes
    /// that differ from `previous` (what was published last, if known) are rewritten: a
    /// rename costs a journal commit on a disk-backed root, and most updates change nothing.
    pub fn publish(
        &self,
        reading: &Reading,
        power: Option<PowerOverride>,
        previous: Option<&Published>,
    ) -> Result<()> {
        let new = Published {
            reading: *reading,
            power,
        };
        let old = previous.map(Published::values);
        for (index, (attr_name, value)) in self
            .attribute_names()
            .into_iter()
            .zip(new.values())
            .enumerate()
        {
            if old.as_ref().is_none_or(|old| old[index] != value) {
                attr::publish(&self.dir.join(attr_name), &value)?;
            }
        }
        Ok(())
    }
}

/// What a rail's files hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The modelled reading.
    pub reading: Reading,
    /// The fault that replaces `power1_input`, if any.
    pub power: Option<PowerOverride>,
}

impl Published {
    /// `reading` with no fault.
    pub fn idle(reading: &Reading) -> Self {
        Self {
            reading: *reading,
            power: None,
        }
    }

    /// Shunt mV, bus mV, current and power, as written.
    fn values(&self) -> [String; 4] {
        let power = match self.power {
            Some(fault) => fault.text().to_owned(),
            None => self.reading.power_uw.to_string(),
        };
        [
            self.reading.shunt_mv.to_string(),
            self.reading.bus_mv.to_string(),
            self.reading.current_ma.to_string(),
            power,
        ]
    }
}

/// Lays out the I2C mux, its buses and clients, and every rail's hwmon device at `readings`
/// (one per rail, in table order).
pub fn create_tree(
    root: &Path,
    layout: RailLayout,
    readings: &[Reading],
    update_interval_ms: u64,
) -> Result<()> {
    create_i2c(root)?;
    for (files, reading) in rail_files(root, layout).iter().zip(readings) {
        files.create(reading, update_interval_ms)?;
    }
    Ok(())
}

fn create_i2c(root: &Path) -> Result<()> {
    let devices = join(root, "/sys/bus/i2c/devices");
    attr::create_dir(&devices)?;
    let i2c0 = join(root, I2C0_DIR);
    let mux_name = format!("0-{:04x}", MUX_ADDRESS);
    let mux = i2c0.join(&mux_name);
    attr::create_dir(&mux)?;
    attr::write_new(&mux.join("name"), "pca9544")?;
    // From /sys/bus/i2c/devices, four levels up is the root.
    let to_devices = |path: &str| format!("../../../..{path}");
    attr::symlink(&to_devices(I2C0_DIR), &devices.join("i2c-0"))?;
    attr::symlink(
        &to_devices(&format!("{I2C0_DIR}/{mux_name}")),
        &devices.join(&mux_name),
    )?;
    for channel in 0..MUX_CHANNELS {
        let bus = FIRST_MUX_BUS + channel;
        let adapter = i2c0.join(format!("i2c-{bus}"));
        attr::create_dir(&adapter)?;
        attr::write_new(
            &adapter.join("name"),
            &format!("i2c-0-mux (chan_id {channel})"),
        )?;
        attr::symlink(&format!("../{mux_name}"), &adapter.join("mux_device"))?;
        attr::symlink(
            &format!("../i2c-{bus}"),
            &mux.join(format!("channel-{channel}")),
        )?;
        attr::symlink(
            &to_devices(&format!("{I2C0_DIR}/i2c-{bus}")),
            &devices.join(format!("i2c-{bus}")),
        )?;
    }
    for rail in &RAILS {
        let client = client_dir(rail);
        let dir = join(root, &client);
        attr::create_dir(&dir)?;
        attr::write_new(&dir.join("name"), "ina226")?;
        let leaf = client.rsplit('/').next().unwrap_or_default();
        attr::symlink(&to_devices(&client), &devices.join(leaf))?;
    }
    Ok(())
}
