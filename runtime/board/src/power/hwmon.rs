//! Rails read through the kernel's hwmon drivers, found by I2C bus and address.
//!
//! `hwmonN` numbers follow probe order, which changes between kernels and boots, so a
//! rail is never identified by N. Discovery reads each `/sys/class/hwmon/hwmonN/name`,
//! keeps the INA226 ones, and follows the `device` link (relative, resolved inside the
//! root) to the monitor's device:
//!
//! - Legacy `ina2xx` hwmon driver (Xilinx BSP kernels): `name` is `ina226`, the device is
//!   the I2C client `B-00AA` (bus B, address 0xAA). Attributes: `in0_input` shunt mV,
//!   `in1_input` bus mV, `curr1_input` mA, `power1_input` uW, `shunt_resistor`,
//!   `update_interval`.
//! - Mainline device tree (`iio-hwmon` over the `ina2xx-adc` IIO driver): `name` is
//!   `ina226_uNN` and the device is the platform device `ina226_uNN`, which has no I2C
//!   address; the rail is then the table's part `uNN`. Attributes: `in1_input` shunt mV,
//!   `in2_input` bus mV, `curr1_input` mA, `power1_input` uW.
//!
//! An I2C client's bus number is a logical bus created by the PMBus mux. Which mux channel
//! it is comes from the kernel's i2c-mux links: the adapter directory `i2c-B` (the client's
//! parent, or `/sys/bus/i2c/devices/i2c-B`) has a `mux_device` link to the mux, and the mux
//! has `channel-N` links back to its adapters. Channel 0 is the PS PMBus, channel 1 the PL
//! PMBus. Only when no `mux_device` link exists (a kernel that flattened the buses) and the
//! monitors sit on exactly two buses, the lower bus number is taken as PS: the pca954x
//! driver numbers a mux's channels in ascending order.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::error::{BoardError, Result};
use crate::power::{PmBus, PowerRail, RailReader, plausible_uw};
use crate::root::Root;
use crate::sysfs;

/// Where the kernel lists hwmon devices.
pub const HWMON_CLASS_DIR: &str = "/sys/class/hwmon";

/// Which driver stack exposes a monitor, and so which attribute holds which voltage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HwmonLayout {
    /// The `ina2xx` hwmon driver bound to the I2C client.
    Ina2xx,
    /// `iio-hwmon` over the `ina2xx-adc` IIO driver (mainline device tree).
    IioHwmon,
}

impl HwmonLayout {
    fn of_name(name: &str) -> Option<Self> {
        if name == "ina226" {
            Some(Self::Ina2xx)
        } else if name.starts_with(IIO_NAME_PREFIX) {
            Some(Self::IioHwmon)
        } else {
            None
        }
    }

    fn bus_voltage_attr(self) -> &'static str {
        match self {
            Self::Ina2xx => "in1_input",
            Self::IioHwmon => "in2_input",
        }
    }

    fn shunt_voltage_attr(self) -> &'static str {
        match self {
            Self::Ina2xx => "in0_input",
            Self::IioHwmon => "in1_input",
        }
    }
}

const IIO_NAME_PREFIX: &str = "ina226_";

/// One rail read through its hwmon directory.
#[derive(Debug, Clone)]
pub struct HwmonRail {
    rail: PowerRail,
    dir: PathBuf,
    layout: HwmonLayout,
}

impl HwmonRail {
    /// The hwmon directory (resolved).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The driver stack behind it.
    pub fn layout(&self) -> HwmonLayout {
        self.layout
    }

    /// Bus voltage in millivolts.
    pub fn read_bus_voltage_mv(&self) -> Result<i64> {
        self.read_number(self.layout.bus_voltage_attr())
    }

    /// Shunt voltage in millivolts (coarse: the drivers round to whole mV).
    pub fn read_shunt_voltage_mv(&self) -> Result<i64> {
        self.read_number(self.layout.shunt_voltage_attr())
    }

    /// Current in milliamperes.
    pub fn read_current_ma(&self) -> Result<i64> {
        self.read_number("curr1_input")
    }

    /// The driver's conversion interval in milliseconds, where it exposes one (legacy
    /// layout); sampling faster than this reads repeated values.
    pub fn update_interval_ms(&self) -> Result<Option<u64>> {
        match sysfs::read_optional(&self.dir.join("update_interval"))? {
            Some(_) => sysfs::read_u64(&self.dir.join("update_interval")).map(Some),
            None => Ok(None),
        }
    }

    fn read_number(&self, attr: &str) -> Result<i64> {
        let path = self.dir.join(attr);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| self.problem(format!("cannot read {attr}: {e}")))?;
        let text = text.trim();
        text.parse()
            .map_err(|_| self.problem(format!("{attr} holds {text:?}, not a number")))
    }

    fn problem(&self, problem: String) -> BoardError {
        BoardError::Rail {
            rail: self.rail.name,
            origin: self.origin(),
            problem,
        }
    }
}

impl RailReader for HwmonRail {
    fn rail(&self) -> &PowerRail {
        &self.rail
    }

    fn origin(&self) -> String {
        format!("hwmon {}", self.dir.display())
    }

    fn read_power_uw(&mut self) -> Result<u64> {
        let uw = self.read_number("power1_input")?;
        plausible_uw(&self.rail, || self.origin(), i128::from(uw))
    }
}

/// A hwmon device that looks like an INA226 but matches no rail of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnplacedSensor {
    /// Its hwmon directory.
    pub hwmon_dir: PathBuf,
    /// Why it was not matched.
    pub reason: String,
}

/// What discovery found: the rails it can read, the table's rails it did not find (the
/// caller decides whether a subset is good enough), and monitors it could not place.
#[derive(Debug)]
pub struct RailDiscovery<R> {
    /// Readers for the rails found, in table order.
    pub found: Vec<R>,
    /// Rails of the table that were not found.
    pub missing: Vec<PowerRail>,
    /// INA226 monitors that match no rail.
    pub unplaced: Vec<UnplacedSensor>,
}

impl<R> RailDiscovery<R> {
    /// Names of the missing rails, for messages.
    pub fn missing_names(&self) -> Vec<&'static str> {
        self.missing.iter().map(|r| r.name).collect()
    }
}

/// Where a monitor sits, before the bus is known to be PS or PL.
#[derive(Debug)]
enum Place {
    /// An I2C client on a logical bus; `pmbus` is known when the mux links told.
    I2c {
        bus: u32,
        address: u8,
        pmbus: Option<PmBus>,
    },
    /// Only the part name is known (iio-hwmon).
    Part(String),
    /// Neither.
    Unknown(String),
}

#[derive(Debug)]
struct Candidate {
    dir: PathBuf,
    layout: HwmonLayout,
    place: Place,
}

/// Finds the rails of `table` among the hwmon devices under `root`.
pub fn discover_hwmon_rails(root: &Root, table: &[PowerRail]) -> Result<RailDiscovery<HwmonRail>> {
    let mut candidates = Vec::new();
    for (_, path) in sysfs::list_dir(&root.join(HWMON_CLASS_DIR))? {
        let dir = root.resolve(&path)?;
        let Some(name) = sysfs::read_optional(&dir.join("name"))? else {
            continue;
        };
        let Some(layout) = HwmonLayout::of_name(&name) else {
            continue;
        };
        let place = place_of(root, &dir, &name)?;
        candidates.push(Candidate { dir, layout, place });
    }
    assign_buses_by_order(&mut candidates);

    let mut by_rail: HashMap<usize, HwmonRail> = HashMap::new();
    let mut unplaced = Vec::new();
    for Candidate { dir, layout, place } in candidates {
        let index = match &place {
            Place::I2c {
                pmbus: Some(pmbus),
                address,
                ..
            } => table
                .iter()
                .position(|r| r.bus == *pmbus && r.address == *address),
            Place::Part(part) => table.iter().position(|r| r.part == part),
            Place::I2c { pmbus: None, .. } | Place::Unknown(_) => None,
        };
        let Some(index) = index else {
            unplaced.push(UnplacedSensor {
                hwmon_dir: dir,
                reason: describe_unplaced(&place),
            });
            continue;
        };
        let rail = HwmonRail {
            rail: table[index],
            dir,
            layout,
        };
        check_shunt(&rail);
        if let Some(first) = by_rail.insert(index, rail) {
            return Err(BoardError::Layout {
                path: first.dir,
                problem: format!(
                    "and {} both claim rail {}",
                    by_rail[&index].dir.display(),
                    table[index].name
                ),
            });
        }
    }
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for (index, rail) in table.iter().enumerate() {
        match by_rail.remove(&index) {
            Some(reader) => found.push(reader),
            None => missing.push(*rail),
        }
    }
    Ok(RailDiscovery {
        found,
        missing,
        unplaced,
    })
}

fn place_of(root: &Root, dir: &Path, name: &str) -> Result<Place> {
    let device = root.resolve(&dir.join("device"))?;
    let device_name = device
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if let Some((bus, address)) = parse_client(device_name) {
        let pmbus = mux_channel(root, &device, bus)?.and_then(PmBus::from_mux_channel);
        return Ok(Place::I2c {
            bus,
            address,
            pmbus,
        });
    }
    Ok(match name.strip_prefix(IIO_NAME_PREFIX) {
        Some(part) => Place::Part(part.to_owned()),
        None => Place::Unknown(format!("its device {device_name:?} is not an I2C client")),
    })
}

/// `3-0040` -> bus 3, address 0x40.
fn parse_client(name: &str) -> Option<(u32, u8)> {
    let (bus, address) = name.split_once('-')?;
    if address.len() != 4 {
        return None;
    }
    Some((
        bus.parse().ok()?,
        u8::try_from(u16::from_str_radix(address, 16).ok()?).ok()?,
    ))
}

/// The mux channel of logical I2C bus `bus`, or `None` when the bus is not behind a mux.
fn mux_channel(root: &Root, client: &Path, bus: u32) -> Result<Option<u32>> {
    let adapter_name = format!("i2c-{bus}");
    let adapter = match client.parent() {
        Some(parent) if parent.file_name().is_some_and(|n| *n == *adapter_name) => {
            parent.to_path_buf()
        }
        _ => root.resolve(&root.join(format!("/sys/bus/i2c/devices/{adapter_name}")))?,
    };
    let mux = root.resolve(&adapter.join("mux_device"))?;
    if !mux.is_dir() {
        return Ok(None);
    }
    let channel = mux_channel_links(root, &mux)?
        .into_iter()
        .find_map(|(channel, channel_bus)| (channel_bus == bus).then_some(channel));
    channel.map(Some).ok_or_else(|| BoardError::Layout {
        path: mux,
        problem: format!("is the mux of {adapter_name}, but no channel-N link points back at it"),
    })
}

/// The `channel-N` links of the I2C mux device at `mux`, as (N, logical bus number).
pub(crate) fn mux_channel_links(root: &Root, mux: &Path) -> Result<Vec<(u32, u32)>> {
    let dir = root.resolve(mux)?;
    if !dir.is_dir() {
        return Err(BoardError::Layout {
            path: mux.to_path_buf(),
            problem: "no such I2C mux device (is its pca954x driver bound?)".into(),
        });
    }
    let mut links = Vec::new();
    for (entry, link) in sysfs::list_dir(&dir)? {
        let Some(channel) = sysfs::trailing_number(&entry, "channel-") else {
            continue;
        };
        let adapter = root.resolve(&link)?;
        let bus = adapter
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| sysfs::trailing_number(n, "i2c-"))
            .ok_or_else(|| BoardError::Layout {
                path: link.clone(),
                problem: format!("points at {}, not at an i2c-N adapter", adapter.display()),
            })?;
        links.push((channel, bus));
    }
    Ok(links)
}

/// The fallback for buses without mux links: with exactly two such buses, the lower one is
/// the PS PMBus (channel 0).
fn assign_buses_by_order(candidates: &mut [Candidate]) {
    let unknown: BTreeSet<u32> = candidates
        .iter()
        .filter_map(|c| match c.place {
            Place::I2c {
                bus, pmbus: None, ..
            } => Some(bus),
            _ => None,
        })
        .collect();
    let [ps, pl] = unknown.iter().copied().collect::<Vec<_>>()[..] else {
        return;
    };
    tracing::warn!(
        ps,
        pl,
        "no i2c mux links for the INA226 buses; taking the lower bus number as the PS PMBus"
    );
    for candidate in candidates {
        if let Place::I2c {
            bus,
            pmbus: pmbus @ None,
            ..
        } = &mut candidate.place
        {
            *pmbus = Some(if *bus == ps { PmBus::Ps } else { PmBus::Pl });
        }
    }
}

fn describe_unplaced(place: &Place) -> String {
    match place {
        Place::I2c {
            bus,
            address,
            pmbus: Some(pmbus),
        } => format!("no rail of the table at {pmbus} PMBus address {address:#04x} (i2c-{bus})"),
        Place::I2c {
            bus,
            address,
            pmbus: None,
        } => format!(
            "i2c-{bus} address {address:#04x}: the bus is on no PMBus mux channel 0 or 1, and the bus-order fallback needs exactly two INA226 buses"
        ),
        Place::Part(part) => format!("no rail of the table has part {part}"),
        Place::Unknown(reason) => reason.clone(),
    }
}

/// The legacy driver reports the shunt it computes with; a mismatch with the table makes
/// every reading wrong by the same factor, which no plausibility check would catch.
fn check_shunt(rail: &HwmonRail) {
    let Ok(Some(text)) = sysfs::read_optional(&rail.dir.join("shunt_resistor")) else {
        return;
    };
    if text.parse::<u32>().ok() != Some(rail.rail.shunt_uohm) {
        tracing::warn!(
            rail = rail.rail.name,
            dir = %rail.dir.display(),
            driver_uohm = %text,
            table_uohm = rail.rail.shunt_uohm,
            "hwmon shunt_resistor differs from the board table"
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::zcu102::RAILS;
    use std::os::unix::fs::symlink;

    const I2C0: &str = "/sys/devices/platform/axi/ff020000.i2c/i2c-0";

    /// How the fixture numbers hwmon devices and wires the buses.
    pub(crate) struct Fixture {
        pub layout: HwmonLayout,
        /// hwmonN for table index i is `numbering[i]`.
        pub numbering: Vec<usize>,
        /// Logical bus numbers of mux channels 0 and 1.
        pub buses: [u32; 2],
        pub mux_links: bool,
        pub skip: Vec<&'static str>,
    }

    /// The power each rail reports in the fixture, distinct per rail.
    pub(crate) fn fixture_uw(index: usize) -> u64 {
        (index as u64 + 1) * 100_000
    }

    impl Fixture {
        pub fn new(layout: HwmonLayout, numbering: Vec<usize>) -> Self {
            Self {
                layout,
                numbering,
                buses: [4, 3],
                mux_links: true,
                skip: Vec::new(),
            }
        }

        pub fn build(&self, root: &Root) {
            let class = root.join(HWMON_CLASS_DIR);
            std::fs::create_dir_all(&class).unwrap();
            std::fs::create_dir_all(root.join("/sys/bus/i2c/devices")).unwrap();
            self.build_mux(root);
            for (index, rail) in RAILS.iter().enumerate() {
                if self.skip.contains(&rail.name) {
                    continue;
                }
                let hwmon = format!("hwmon{}", self.numbering[index]);
                let device = match self.layout {
                    HwmonLayout::Ina2xx => {
                        let bus = self.buses[rail.bus.mux_channel() as usize];
                        format!("{I2C0}/i2c-{bus}/{bus}-{:04x}", rail.address)
                    }
                    HwmonLayout::IioHwmon => format!("/sys/devices/platform/ina226_{}", rail.part),
                };
                let dir = root.join(format!("{device}/hwmon/{hwmon}"));
                std::fs::create_dir_all(&dir).unwrap();
                let device_leaf = device.rsplit('/').next().unwrap();
                symlink(format!("../../../{device_leaf}"), dir.join("device")).unwrap();
                symlink(
                    format!("../../..{device}/hwmon/{hwmon}"),
                    class.join(&hwmon),
                )
                .unwrap();
                let name = match self.layout {
                    HwmonLayout::Ina2xx => "ina226".to_owned(),
                    HwmonLayout::IioHwmon => format!("ina226_{}", rail.part),
                };
                let write = |attr: &str, value: String| {
                    std::fs::write(dir.join(attr), value + "\n").unwrap()
                };
                write("name", name);
                write("power1_input", fixture_uw(index).to_string());
                write("curr1_input", "1000".into());
                write(self.layout.bus_voltage_attr(), "850".into());
                write(self.layout.shunt_voltage_attr(), "5".into());
                if self.layout == HwmonLayout::Ina2xx {
                    write("shunt_resistor", rail.shunt_uohm.to_string());
                    write("update_interval", "35".into());
                }
            }
            // A hwmon device that is not an INA226 must be ignored.
            let other = root.join("/sys/devices/virtual/thermal/thermal_zone0/hwmon/hwmon99");
            std::fs::create_dir_all(&other).unwrap();
            std::fs::write(other.join("name"), "cpu_thermal\n").unwrap();
            symlink(
                "../../devices/virtual/thermal/thermal_zone0/hwmon/hwmon99",
                class.join("hwmon99"),
            )
            .unwrap();
        }

        fn build_mux(&self, root: &Root) {
            let mux = root.join(format!("{I2C0}/0-0075"));
            std::fs::create_dir_all(&mux).unwrap();
            std::fs::write(mux.join("name"), "pca9544\n").unwrap();
            symlink(
                format!("../../../..{I2C0}/0-0075"),
                root.join("/sys/bus/i2c/devices/0-0075"),
            )
            .unwrap();
            for (channel, bus) in self.buses.iter().enumerate() {
                let adapter = root.join(format!("{I2C0}/i2c-{bus}"));
                std::fs::create_dir_all(&adapter).unwrap();
                symlink(
                    format!("../../../..{I2C0}/i2c-{bus}"),
                    root.join(format!("/sys/bus/i2c/devices/i2c-{bus}")),
                )
                .unwrap();
                if self.mux_links {
                    symlink("../0-0075", adapter.join("mux_device")).unwrap();
                    symlink(
                        format!("../i2c-{bus}"),
                        mux.join(format!("channel-{channel}")),
                    )
                    .unwrap();
                }
            }
        }
    }

    fn shuffled(seed: usize) -> Vec<usize> {
        // A permutation of 0..18 (7 and 18 are coprime), shifted by the seed.
        (0..18).map(|i| (i * 7 + seed) % 18).collect()
    }

    fn discover(fixture: &Fixture) -> (tempfile::TempDir, RailDiscovery<HwmonRail>) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        fixture.build(&root);
        let found = discover_hwmon_rails(&root, &RAILS).unwrap();
        (dir, found)
    }

    fn assert_all_rails_read_their_own_value(found: &mut RailDiscovery<HwmonRail>) {
        assert_eq!(
            found.found.len(),
            18,
            "missing {:?}, unplaced {:?}",
            found.missing_names(),
            found.unplaced
        );
        for (index, reader) in found.found.iter_mut().enumerate() {
            assert_eq!(reader.rail().name, RAILS[index].name);
            assert_eq!(
                reader.read_power_uw().unwrap(),
                fixture_uw(index),
                "{}",
                reader.rail().name
            );
        }
    }

    #[test]
    fn legacy_layout_maps_by_bus_and_address_whatever_the_numbering() {
        for seed in [0, 5, 11] {
            let (_dir, mut found) = discover(&Fixture::new(HwmonLayout::Ina2xx, shuffled(seed)));
            assert_all_rails_read_their_own_value(&mut found);
            assert!(found.missing.is_empty() && found.unplaced.is_empty());
            let vccint = found
                .found
                .iter()
                .find(|r| r.rail().name == "VCCINT")
                .unwrap();
            assert_eq!(vccint.layout(), HwmonLayout::Ina2xx);
            assert_eq!(vccint.read_bus_voltage_mv().unwrap(), 850);
            assert_eq!(vccint.read_shunt_voltage_mv().unwrap(), 5);
            assert_eq!(vccint.update_interval_ms().unwrap(), Some(35));
        }
    }

    #[test]
    fn mainline_iio_hwmon_layout_maps_by_part() {
        for seed in [1, 9] {
            let (_dir, mut found) = discover(&Fixture::new(HwmonLayout::IioHwmon, shuffled(seed)));
            assert_all_rails_read_their_own_value(&mut found);
            let rail = &found.found[0];
            assert_eq!(rail.layout(), HwmonLayout::IioHwmon);
            assert_eq!(rail.read_bus_voltage_mv().unwrap(), 850);
            assert_eq!(rail.update_interval_ms().unwrap(), None);
        }
    }

    #[test]
    fn without_mux_links_the_lower_bus_is_ps() {
        let mut fixture = Fixture::new(HwmonLayout::Ina2xx, shuffled(3));
        fixture.mux_links = false;
        fixture.buses = [3, 7];
        let (_dir, mut found) = discover(&fixture);
        assert_all_rails_read_their_own_value(&mut found);
    }

    #[test]
    fn mux_links_beat_bus_order() {
        // Channel 0 (PS) got the higher bus number: only the links can tell.
        let mut fixture = Fixture::new(HwmonLayout::Ina2xx, shuffled(2));
        fixture.buses = [9, 5];
        let (_dir, mut found) = discover(&fixture);
        assert_all_rails_read_their_own_value(&mut found);
    }

    #[test]
    fn missing_rails_are_reported_by_name() {
        let mut fixture = Fixture::new(HwmonLayout::Ina2xx, shuffled(4));
        fixture.skip = vec!["VCCBRAM", "MGTRAVTT"];
        let (_dir, found) = discover(&fixture);
        assert_eq!(found.found.len(), 16);
        assert_eq!(found.missing_names(), ["MGTRAVTT", "VCCBRAM"]);
    }

    #[test]
    fn garbage_and_vanished_readings_name_the_rail_and_path() {
        let (_dir, mut found) = discover(&Fixture::new(HwmonLayout::Ina2xx, shuffled(0)));
        let rail = &mut found.found[10];
        assert_eq!(rail.rail().name, "VCCINT");
        let power = rail.dir().join("power1_input");
        for (content, expect) in [
            ("12abc\n", "not a number"),
            ("-5\n", "negative power"),
            ("250000000\n", "implausible power"),
        ] {
            std::fs::write(&power, content).unwrap();
            let err = rail.read_power_uw().unwrap_err().to_string();
            assert!(err.starts_with("power rail VCCINT (hwmon "), "{err}");
            assert!(
                err.contains(&rail.dir().display().to_string()) && err.contains(expect),
                "{err}"
            );
        }
        std::fs::remove_file(&power).unwrap();
        let err = rail.read_power_uw().unwrap_err().to_string();
        assert!(
            err.contains("VCCINT") && err.contains("cannot read power1_input"),
            "{err}"
        );
    }

    #[test]
    fn client_names_parse() {
        assert_eq!(parse_client("3-0040"), Some((3, 0x40)));
        assert_eq!(parse_client("12-004b"), Some((12, 0x4b)));
        assert_eq!(parse_client("ina226_u76"), None);
        assert_eq!(parse_client("3-40"), None);
    }
}
