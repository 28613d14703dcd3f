//! The virtual ZCU102: a process that lays out, under a root directory, the device files
//! and sysfs attributes the fibha runtime reads on a real board, and behaves behind them
//! as the board would.
//!
//! - [`layout`]: the tree: UIO register file and interrupt FIFOs, u-dma-buf buffers,
//!   fpga_manager, configfs overlays, the 18 INA226 hwmon rails, the board's own control
//!   directory (`vboard/`).
//! - the "bitstream" it loads is the instance descriptor `fibha.bit.bin` of a
//!   `fibha-compile build` directory ([`fibha_model::descriptor`]), naming the
//!   C-simulation executable.
//! - [`kernel`]: that executable as a child process and the line protocol spoken with it.
//! - [`device`]: the programmable logic: bitstream loads, overlays, the ap_ctrl_hs
//!   handshake, interrupts, fault injection at each use.
//! - [`power`]: the modelled power of every rail and the thread that publishes it.
//! - [`faults`]: the injectable faults, as flags and as control files.
//! - [`serve`](mod@serve): runs all of it until told to stop.
//!
//! Invariants: the virtual board writes only under its root, never leaves a kernel process
//! behind, and never writes outside a DMA buffer (the kernel process translates device
//! addresses and refuses any outside every buffer). No `unsafe`: registers are shared
//! through the page cache with positioned reads and writes (see [`regfile`]).
#![forbid(unsafe_code)]

mod attr;
pub mod device;
pub mod error;
pub mod faults;
pub mod hwmon;
pub mod irq;
pub mod kernel;
pub mod layout;
pub mod overlay;
pub mod power;
pub mod regfile;
pub mod regs;
pub mod serve;

pub use error::{Error, Result};
pub use faults::{Fault, Faults};
pub use layout::{BufferSpec, Layout, LayoutOptions, RailLayout};
pub use serve::{ServeOptions, serve};
