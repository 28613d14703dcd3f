//! Board budgets: the FPGA resources, clock and memory bandwidth a plan must fit.
//!
//! Budgets are data, not code: each board is a TOML file (`boards/NAME.toml`) whose numbers
//! name their sources. The shipped files are compiled into the binary so `--board zcu102`
//! works from any directory; a path to another file works too. A [`Budget`] is what the
//! planner sees: the accelerator's share of the board, optionally overridden
//! (`--dsp N --bram N`) for sweeps.
//!
//! Invariant: a loaded [`Board`] has non-zero DSP and BRAM counts, a positive clock and
//! bandwidth, and accelerator fractions in (0, 1].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The format tag every board file carries.
pub const BOARD_FORMAT: &str = "fibha-board/1";

/// The boards shipped with fibha, compiled in: (name, TOML text).
const SHIPPED: &[(&str, &str)] = &[
    ("zcu102", include_str!("../boards/zcu102.toml")),
    ("zc706", include_str!("../boards/zc706.toml")),
    ("kcu105", include_str!("../boards/kcu105.toml")),
];

/// Why a board could not be resolved or read.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The name is neither a shipped board nor an existing file.
    #[error(
        "unknown board '{name}' (known boards: {known}; or give the path of a board TOML file)"
    )]
    Unknown {
        /// What the user asked for.
        name: String,
        /// The shipped board names, comma-separated.
        known: String,
    },
    /// The file could not be read.
    #[error("{path}: cannot read the board file: {source}")]
    Io {
        /// The board file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not a valid board description.
    #[error("{path}: invalid board file: {detail}")]
    Invalid {
        /// The board file (or `<shipped>/NAME.toml`).
        path: PathBuf,
        /// What is wrong, with TOML's line and column where it has them.
        detail: String,
    },
}

/// Device resources of the FPGA part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Device family, for reports.
    pub family: String,
    /// DSP slices.
    pub dsp: u32,
    /// DSP primitive (DSP48E1/DSP48E2): whether two int8 MACs can share one slice.
    pub dsp_kind: String,
    /// 36 Kb block RAMs.
    pub bram36: u32,
    /// 288 Kb UltraRAMs (not used by the model; reported).
    pub uram: u32,
    /// 6-input LUTs (not modelled; reported).
    pub lut: u32,
    /// Where these figures come from.
    pub source: String,
}

/// The accelerator clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// Clock frequency in MHz.
    pub mhz: f64,
    /// Where the figure comes from.
    pub source: String,
}

/// Off-chip memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// DDR bandwidth available to the accelerator, GB/s (10^9 bytes per second).
    pub ddr_gbps: f64,
    /// Where the figure comes from.
    pub source: String,
}

/// The PS-PL (or memory-controller) ports the accelerator's m_axi masters use, and how the
/// HLS m_axi adapter drives them: the numbers the timed C simulation keeps time with
/// (generated into each instance's configuration) and the bandwidth the ports can move.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    /// Ports the generated design uses (one per m_axi bundle).
    pub count: u32,
    /// Data width of one port, bits.
    pub width_bits: u32,
    /// Cycles from a transaction's request to its first beat.
    pub latency_cycles: u32,
    /// Beats per transaction at most.
    pub max_burst_beats: u32,
    /// Transactions in flight per port and direction.
    pub outstanding: u32,
    /// Where the figures come from.
    pub source: String,
}

impl Ports {
    /// Bytes one port moves per beat.
    pub fn width_bytes(&self) -> u32 {
        self.width_bits / 8
    }
}

/// The share of the device the accelerator may use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// Fraction of the DSP slices.
    pub dsp_fraction: f64,
    /// Fraction of the block RAM.
    pub bram_fraction: f64,
    /// Why this share.
    pub source: String,
}

/// A board description as stored in `boards/NAME.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Must be [`BOARD_FORMAT`].
    pub format: String,
    /// Short name (`zcu102`).
    pub name: String,
    /// One line for reports.
    pub description: String,
    /// Vivado part number.
    pub part: String,
    /// Device resources.
    pub device: Device,
    /// Accelerator clock.
    pub clock: Clock,
    /// Off-chip memory.
    pub memory: Memory,
    /// The ports to it.
    pub ports: Ports,
    /// The accelerator's share of the device.
    pub accelerator: Share,
    /// The CPU that runs the runtime and the operators the engines do not (none: the
    /// plan models no host share).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostCpu>,
}

/// The board's host CPU, for the host's share of a plan ([`crate::host`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostCpu {
    /// The CPU (`Cortex-A53`).
    pub cpu: String,
    /// The cost model fibha ships for it (`a53`: `assets/host-model/a53.json`).
    pub model: String,
    /// Where the CPU and its clock come from.
    pub source: String,
}

impl Board {
    /// The names of the boards shipped with fibha.
    pub fn shipped_names() -> Vec<&'static str> {
        SHIPPED.iter().map(|(n, _)| *n).collect()
    }

    /// Resolves `name_or_path`: a shipped board name, else the path of a board file.
    pub fn resolve(name_or_path: &str) -> Result<Board, BoardError> {
        if let Some((name, text)) = SHIPPED
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name_or_path))
        {
            return Board::parse(text, &PathBuf::from(format!("<shipped>/{name}.toml")));
        }
        let path = Path::new(name_or_path);
        if path.is_file() {
            return Board::load(path);
        }
        Err(BoardError::Unknown {
            name: name_or_path.to_string(),
            known: Board::shipped_names().join(", "),
        })
    }

    /// Reads a board file.
    pub fn load(path: &Path) -> Result<Board, BoardError> {
        let text = std::fs::read_to_string(path).map_err(|source| BoardError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Board::parse(&text, path)
    }

    /// Parses and validates board TOML; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Board, BoardError> {
        let invalid = |detail: String| BoardError::Invalid {
            path: path.to_path_buf(),
            detail,
        };
        let board: Board = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if board.format != BOARD_FORMAT {
            return Err(invalid(format!(
                "format is '{}', expected '{BOARD_FORMAT}'",
                board.format
            )));
        }
        if board.device.dsp == 0 || board.device.bram36 == 0 {
            return Err(invalid(
                "device.dsp and device.bram36 must be positive".into(),
            ));
        }
        if !(board.clock.mhz > 0.0 && board.clock.mhz.is_finite()) {
            return Err(invalid(format!(
                "clock.mhz is {}, expected > 0",
                board.clock.mhz
            )));
        }
        if !(board.memory.ddr_gbps > 0.0 && board.memory.ddr_gbps.is_finite()) {
            return Err(invalid(format!(
                "memory.ddr_gbps is {}, expected > 0",
                board.memory.ddr_gbps
            )));
        }
        let p = &board.ports;
        if p.count == 0
            || p.width_bits < 8
            || !p.width_bits.is_power_of_two()
            || p.max_burst_beats == 0
            || p.outstanding == 0
        {
            return Err(invalid(format!(
                "ports: count {}, width_bits {}, max_burst_beats {}, outstanding {}: expected a \
                 positive count, a power-of-two width of at least 8 bits, and positive burst \
                 and outstanding limits",
                p.count, p.width_bits, p.max_burst_beats, p.outstanding
            )));
        }
        for (field, v) in [
            ("accelerator.dsp_fraction", board.accelerator.dsp_fraction),
            ("accelerator.bram_fraction", board.accelerator.bram_fraction),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(invalid(format!("{field} is {v}, expected in (0, 1]")));
            }
        }
        Ok(board)
    }

    /// Whether the DSP slices can pack two int8 multiplications that share an operand.
    pub fn supports_int8_packing(&self) -> bool {
        self.device.dsp_kind.eq_ignore_ascii_case("DSP48E2")
    }
}

/// Overrides of the board's default budget.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Overrides {
    /// DSP slices for the accelerator instead of the board's share.
    pub dsp: Option<u32>,
    /// 36 Kb block RAMs for the accelerator instead of the board's share.
    pub bram36: Option<u32>,
    /// Two int8 MACs per DSP48E2 slice (operand-sharing packing) instead of one.
    pub pack_int8: bool,
}

/// What a plan must fit: the resources, clock and bandwidth the planner works with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Board name.
    pub board: String,
    /// Vivado part.
    pub part: String,
    /// DSP slices available to the accelerator.
    pub dsp: u32,
    /// 36 Kb block RAMs available to the accelerator.
    pub bram36: u32,
    /// int8 MACs one DSP slice performs per cycle (1, or 2 with packing).
    pub macs_per_dsp: u32,
    /// Clock frequency in Hz.
    pub clock_hz: f64,
    /// The bandwidth every design's DDR traffic shares, bytes per second: what the
    /// generated design's ports move (`ports_used` x port width x clock), capped by the
    /// board's DDR peak, the same figures the timed C simulation keeps time with.
    pub ddr_bytes_per_s: f64,
    /// Ports the generated design drives: its m_axi masters ([`crate::hw::M_AXI_MASTERS`]),
    /// at most the board's ports.
    pub ports_used: u32,
    /// What those ports move at the clock, bytes per second.
    pub ports_bytes_per_s: f64,
    /// The board's DDR peak, bytes per second.
    pub ddr_peak_bytes_per_s: f64,
}

/// Why a budget cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// An override is zero or larger than the device.
    #[error("{what} budget {value} is out of range for {board} (1..={max})")]
    OutOfRange {
        /// `DSP` or `BRAM36`.
        what: &'static str,
        /// The requested value.
        value: u32,
        /// The board.
        board: String,
        /// The device total.
        max: u32,
    },
    /// int8 packing asked for on a DSP that cannot do it.
    #[error("{board}: two int8 MACs per DSP need DSP48E2 slices, the device has {kind}")]
    NoPacking {
        /// The board.
        board: String,
        /// Its DSP primitive.
        kind: String,
    },
}

impl Budget {
    /// The board's default accelerator budget with `overrides` applied.
    pub fn new(board: &Board, overrides: Overrides) -> Result<Budget, BudgetError> {
        let share = |total: u32, fraction: f64| ((total as f64 * fraction).floor() as u32).max(1);
        let dsp = overrides
            .dsp
            .unwrap_or_else(|| share(board.device.dsp, board.accelerator.dsp_fraction));
        let bram36 = overrides
            .bram36
            .unwrap_or_else(|| share(board.device.bram36, board.accelerator.bram_fraction));
        for (what, value, max) in [
            ("DSP", dsp, board.device.dsp),
            ("BRAM36", bram36, board.device.bram36),
        ] {
            if value == 0 || value > max {
                return Err(BudgetError::OutOfRange {
                    what,
                    value,
                    board: board.name.clone(),
                    max,
                });
            }
        }
        if overrides.pack_int8 && !board.supports_int8_packing() {
            return Err(BudgetError::NoPacking {
                board: board.name.clone(),
                kind: board.device.dsp_kind.clone(),
            });
        }
        let clock_hz = board.clock.mhz * 1e6;
        let ports_used = crate::hw::M_AXI_MASTERS.min(board.ports.count);
        let ports_bytes_per_s =
            f64::from(ports_used) * f64::from(board.ports.width_bytes()) * clock_hz;
        let ddr_peak_bytes_per_s = board.memory.ddr_gbps * 1e9;
        Ok(Budget {
            board: board.name.clone(),
            part: board.part.clone(),
            dsp,
            bram36,
            macs_per_dsp: if overrides.pack_int8 { 2 } else { 1 },
            clock_hz,
            ddr_bytes_per_s: ports_bytes_per_s.min(ddr_peak_bytes_per_s),
            ports_used,
            ports_bytes_per_s,
            ddr_peak_bytes_per_s,
        })
    }

    /// How the DDR bandwidth follows, for reports: "12.8 GB/s (4 ports x 128 bit x 200
    /// MHz = 12.8 GB/s; DDR peak 19.2 GB/s)".
    pub fn bandwidth_text(&self, port_bits: u32) -> String {
        format!(
            "{:.1} GB/s ({} ports x {port_bits} bit x {} MHz = {:.1} GB/s; DDR peak {:.1} GB/s)",
            self.ddr_bytes_per_s / 1e9,
            self.ports_used,
            self.clock_hz / 1e6,
            self.ports_bytes_per_s / 1e9,
            self.ddr_peak_bytes_per_s / 1e9
        )
    }

    /// The same budget with the DDR peak as the bandwidth, as the papers' model has it
    /// (the ports not counted): the comparison's counterfactual.
    pub fn with_ddr_peak_bandwidth(&self) -> Budget {
        Budget {
            ddr_bytes_per_s: self.ddr_peak_bytes_per_s,
            ..self.clone()
        }
    }

    /// Processing elements (int8 MACs per cycle) the DSP budget buys.
    pub fn pes(&self) -> u32 {
        self.dsp * self.macs_per_dsp
    }

    /// DSP slices that `pes` processing elements occupy.
    pub fn dsp_for(&self, pes: u32) -> u32 {
        pes.div_ceil(self.macs_per_dsp)
    }

    /// The same budget with another DSP count (for sweeps).
    pub fn with_dsp(&self, dsp: u32) -> Budget {
        Budget {
            dsp,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_boards_load_with_the_datasheet_figures() {
        let zcu = Board::resolve("zcu102").unwrap();
        assert_eq!(zcu.part, "xczu9eg-ffvb1156-2-e");
        assert_eq!(
            (zcu.device.dsp, zcu.device.bram36, zcu.device.uram),
            (2520, 912, 0)
        );
        assert_eq!(zcu.device.lut, 274_080);
        assert_eq!(zcu.memory.ddr_gbps, 19.2);
        let zc = Board::resolve("ZC706").unwrap();
        assert_eq!(
            (zc.device.dsp, zc.device.bram36, zc.device.lut),
            (900, 545, 218_600)
        );
        assert_eq!(zc.memory.ddr_gbps, 3.2);
        let kcu = Board::resolve("kcu105").unwrap();
        assert_eq!(
            (kcu.device.dsp, kcu.device.bram36, kcu.device.lut),
            (1920, 600, 242_400)
        );
        for b in [zcu, zc, kcu] {
            assert_eq!(b.clock.mhz, 200.0);
            assert!(!b.device.source.is_empty() && !b.memory.source.is_empty());
        }
    }

    #[test]
    fn unknown_board_lists_the_known_ones() {
        let err = Board::resolve("zcu999").unwrap_err().to_string();
        assert!(
            err.contains("zcu999") && err.contains("zcu102, zc706, kcu105"),
            "{err}"
        );
    }

    #[test]
    fn budget_applies_share_and_overrides() {
        let zcu = Board::resolve("zcu102").unwrap();
        let b = Budget::new(&zcu, Overrides::default()).unwrap();
        assert_eq!((b.dsp, b.bram36, b.pes()), (2520, 820, 2520));
        assert_eq!(b.clock_hz, 200e6);
        // Four 128-bit ports at 200 MHz: 4 x 16 B x 200e6 = 12.8 GB/s, under the DDR4
        // peak of 19.2 GB/s; ZC706's four 64-bit ports (6.4 GB/s) are capped by its 3.2.
        assert_eq!((b.ports_used, b.ports_bytes_per_s), (4, 12.8e9));
        assert_eq!(b.ddr_bytes_per_s, 12.8e9);
        let zc = Budget::new(&Board::resolve("zc706").unwrap(), Overrides::default()).unwrap();
        assert_eq!((zc.ports_bytes_per_s, zc.ddr_bytes_per_s), (6.4e9, 3.2e9));
        let kcu = Budget::new(&Board::resolve("kcu105").unwrap(), Overrides::default()).unwrap();
        assert_eq!((kcu.ports_used, kcu.ddr_bytes_per_s), (2, 19.2e9));
        let o = Overrides {
            dsp: Some(630),
            bram36: Some(400),
            pack_int8: true,
        };
        let b = Budget::new(&zcu, o).unwrap();
        assert_eq!(
            (b.dsp, b.bram36, b.pes(), b.dsp_for(7)),
            (630, 400, 1260, 4)
        );
        let too_big = Overrides {
            dsp: Some(3000),
            ..Overrides::default()
        };
        let err = Budget::new(&zcu, too_big).unwrap_err().to_string();
        assert!(err.contains("3000") && err.contains("2520"), "{err}");
        let zc = Board::resolve("zc706").unwrap();
        let packing = Overrides {
            pack_int8: true,
            ..Overrides::default()
        };
        assert!(Budget::new(&zc, packing).is_err());
    }

    #[test]
    fn invalid_board_file_names_file_and_field() {
        let text = SHIPPED[0].1.replace("dsp = 2520", "dsp = \"many\"");
        let err = Board::parse(&text, Path::new("x/bad.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("x/bad.toml") && err.contains("dsp"), "{err}");
        let text = SHIPPED[0]
            .1
            .replace("bram_fraction = 0.9", "bram_fraction = 1.5");
        let err = Board::parse(&text, Path::new("y.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bram_fraction"), "{err}");
        let text = SHIPPED[0].1.replace("[clock]", "bogus = 1\n[clock]");
        assert!(Board::parse(&text, Path::new("z.toml")).is_err());
    }
}
