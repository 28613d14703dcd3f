//! The faults the virtual board can inject, each a `--fault` flag and a control file.
//!
//! A fault named on the command line is active for the board's whole life. A fault can
//! also be switched at run time by creating (active) or removing (inactive) the file
//! `<root>/vboard/faults/<name>`; the board checks at each use (each start, each
//! completion, each load, each rail update), so a test can inject a fault, watch the
//! runtime fail, clear it and watch the retry succeed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use fibha_board::zcu102::RAILS;

use crate::error::Error;

/// One injectable fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// `hang`: an accepted start never completes (ap_done never set, no interrupt) until
    /// the bitstream is loaded again.
    Hang,
    /// `lost-irq`: a run completes (ap_done, ISR set) but the interrupt never reaches the
    /// UIO device.
    LostIrq,
    /// `bad-version`: the `id` register reads the bitwise complement of the plan hash.
    BadVersion,
    /// `corrupt-output`: after a successful run, bits of the output region are flipped.
    CorruptOutput,
    /// `load-fail`: every bitstream load ends in fpga_manager state `write error`.
    LoadFail,
    /// `rail-missing:<RAIL>`: the rail's hwmon directory is absent.
    RailMissing(&'static str),
    /// `rail-garbage:<RAIL>`: the rail's `power1_input` holds text that is not a number.
    RailGarbage(&'static str),
    /// `rail-absurd:<RAIL>`: the rail's `power1_input` reads 4294967295 uW (4.3 kW).
    RailAbsurd(&'static str),
}

impl Fault {
    /// Every fault name without a rail, and the rail-fault prefixes, for help texts.
    pub const NAMES: &'static str = "hang, lost-irq, bad-version, corrupt-output, load-fail, \
         rail-missing:<RAIL>, rail-garbage:<RAIL>, rail-absurd:<RAIL>";

    /// The rail a rail fault concerns.
    pub fn rail(self) -> Option<&'static str> {
        match self {
            Self::RailMissing(r) | Self::RailGarbage(r) | Self::RailAbsurd(r) => Some(r),
            _ => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hang => f.write_str("hang"),
            Self::LostIrq => f.write_str("lost-irq"),
            Self::BadVersion => f.write_str("bad-version"),
            Self::CorruptOutput => f.write_str("corrupt-output"),
            Self::LoadFail => f.write_str("load-fail"),
            Self::RailMissing(rail) => write!(f, "rail-missing:{rail}"),
            Self::RailGarbage(rail) => write!(f, "rail-garbage:{rail}"),
            Self::RailAbsurd(rail) => write!(f, "rail-absurd:{rail}"),
        }
    }
}

impl FromStr for Fault {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |problem: String| Error::BadOption {
            option: "--fault",
            value: text.to_owned(),
            problem,
        };
        if let Some((kind, rail)) = text.split_once(':') {
            let rail = RAILS
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(rail))
                .map(|r| r.name)
                .ok_or_else(|| {
                    let names: Vec<&str> = RAILS.iter().map(|r| r.name).collect();
                    bad(format!(
                        "unknown rail; the ZCU102 rails are {}",
                        names.join(", ")
                    ))
                })?;
            return match kind {
                "rail-missing" => Ok(Self::RailMissing(rail)),
                "rail-garbage" => Ok(Self::RailGarbage(rail)),
                "rail-absurd" => Ok(Self::RailAbsurd(rail)),
                _ => Err(bad(format!("unknown fault; faults are {}", Self::NAMES))),
            };
        }
        match text {
            "hang" => Ok(Self::Hang),
            "lost-irq" => Ok(Self::LostIrq),
            "bad-version" => Ok(Self::BadVersion),
            "corrupt-output" => Ok(Self::CorruptOutput),
            "load-fail" => Ok(Self::LoadFail),
            _ => Err(bad(format!("unknown fault; faults are {}", Self::NAMES))),
        }
    }
}

/// The faults in force: those fixed on the command line and those switched by files.
#[derive(Debug, Clone)]
pub struct Faults {
    fixed: Vec<Fault>,
    dir: PathBuf,
}

impl Faults {
    /// Faults `fixed` for the board's life, plus any whose file appears in `dir`.
    pub fn new(fixed: Vec<Fault>, dir: &Path) -> Self {
        Self {
            fixed,
            dir: dir.to_path_buf(),
        }
    }

    /// Whether `fault` is in force now.
    pub fn is_active(&self, fault: Fault) -> bool {
        self.fixed.contains(&fault) || self.dir.join(fault.to_string()).exists()
    }

    /// Every fault in force now, read with one directory listing (for callers that ask
    /// about many faults at once). A control file whose name is not a fault is ignored.
    pub fn snapshot(&self) -> Vec<Fault> {
        let mut active = self.fixed.clone();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            active.extend(
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter_map(|name| name.parse::<Fault>().ok()),
            );
        }
        active
    }

    /// The control file that switches `fault`.
    pub fn control_file(&self, fault: Fault) -> PathBuf {
        self.dir.join(fault.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_rails_are_checked() {
        for name in [
            "hang",
            "lost-irq",
            "bad-version",
            "corrupt-output",
            "load-fail",
            "rail-missing:VCCINT",
            "rail-garbage:MGTAVTT",
            "rail-absurd:VCCO_PSDDR_504",
        ] {
            assert_eq!(name.parse::<Fault>().unwrap().to_string(), name);
        }
        assert_eq!(
            "rail-missing:vccint".parse::<Fault>().unwrap(),
            Fault::RailMissing("VCCINT")
        );
        let err = "rail-missing:VCCFOO"
            .parse::<Fault>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown rail") && err.contains("VCCBRAM"),
            "{err}"
        );
        let err = "explode".parse::<Fault>().unwrap_err().to_string();
        assert!(err.contains("lost-irq"), "{err}");
    }

    #[test]
    fn control_files_switch_faults_at_run_time() {
        let dir = tempfile::tempdir().unwrap();
        let faults = Faults::new(vec![Fault::LostIrq], dir.path());
        assert!(faults.is_active(Fault::LostIrq));
        assert!(!faults.is_active(Fault::Hang));
        std::fs::write(faults.control_file(Fault::Hang), "").unwrap();
        std::fs::write(dir.path().join("rail-missing:VCCINT"), "").unwrap();
        std::fs::write(dir.path().join("not-a-fault"), "").unwrap();
        assert!(faults.is_active(Fault::Hang));
        let mut now = faults.snapshot();
        now.sort_by_key(|f| f.to_string());
        assert_eq!(
            now,
            [Fault::Hang, Fault::LostIrq, Fault::RailMissing("VCCINT")]
        );
        std::fs::remove_file(faults.control_file(Fault::Hang)).unwrap();
        assert!(!faults.is_active(Fault::Hang));
    }
}
