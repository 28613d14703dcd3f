//! Device-tree overlay for a fibha accelerator instance on a Zynq UltraScale+ MPSoC.
//!
//! [`render_overlay`] turns an [`OverlayParams`] (register window, interrupt, PL clock and
//! the DMA buffers a plan needs) into the `.dtso` source that `dtc -@ -I dts -O dtb` compiles
//! to the `fibha.dtbo` the board loads next to `fibha.bit.bin`. The runtime owns the fabric:
//! it loads the bitstream through the FPGA manager, then applies this overlay, which
//! therefore names no bitstream. It has two fragments: one on `&fpga_full` marked
//! `external-fpga-config` (the PL is already programmed: the region takes the overlay
//! without loading anything and without claiming the region, so a later reset can reload
//! the bitstream under it), one on `&amba` that adds the PL clock, the AXI port widths, the
//! kernel's register window as a `generic-uio` node and one `ikwzm,u-dma-buf` node per
//! buffer.
//!
//! Invariants of an overlay this module renders (each one is checked, never assumed):
//! buffer names match `[a-z0-9_]+`, are unique and non-empty in size; the buffers, rounded
//! up to whole pages, plus a margin (see [`cma_margin`]) fit the CMA size the kernel command
//! line sets; the register window is page aligned; the interrupt is one of the PL-to-PS
//! shared peripheral interrupts. The runtime finds the devices by name: the UIO device by
//! the node name [`UIO_NAME`], each buffer by its `device-name`.

use std::fmt::Write as _;

use fibha_model::device::linux;
/// Name of the kernel's UIO device (`/sys/class/uio/uioN/name`); also the node name.
pub use fibha_model::device::linux::UIO_NAME;
/// Base of the kernel's AXI-Lite registers: the start of M_AXI_HPM0_FPD's low window.
pub const ZCU102_REGS_BASE: u64 = 0xA000_0000;
/// Size of the register window the Vivado design assigns (64 KiB).
pub const ZCU102_REGS_SIZE: u64 = 0x1_0000;
/// GIC shared peripheral interrupt of pl_ps_irq0[0] on the ZynqMP (GIC ID 121 - 32).
pub const ZCU102_IRQ_SPI: u32 = 89;
/// CMA size (bytes) the PetaLinux layer puts on the kernel command line by default (`cma=512M`).
pub const DEFAULT_CMA_BYTES: u64 = 512 << 20;
/// Page size the buffers are rounded to (u-dma-buf allocates whole pages).
pub const PAGE_BYTES: u64 = 4096;
/// Smallest CMA headroom kept free for the rest of the kernel (USB, display, SD host).
pub const MIN_CMA_MARGIN_BYTES: u64 = 16 << 20;

/// First and last SPI of pl_ps_irq0[0..7] and pl_ps_irq1[0..7] (Zynq UltraScale+ TRM, UG1085).
const PL_PS_IRQ_SPIS: [(u32, u32); 2] = [(89, 96), (104, 111)];
/// The ZynqMP clock controller's index of PL0_REF, the clock the design's pl_clk0 comes from.
const PL0_REF_CLOCK_ID: u32 = 71;
/// ZynqMP reset controller indices of the four PL resets (pl_resetn0..3).
const PL_RESET_IDS: [u32; 4] = [116, 117, 118, 119];
/// u-dma-buf minor numbers run 0..=255.
const MAX_BUFFERS: usize = 256;
/// Highest PL clock the overlay accepts; the fabric does not close timing above this.
const MAX_PL_CLOCK_HZ: u64 = 600_000_000;

/// One DMA buffer: a `u-dma-buf` device that appears as `/dev/NAME` and
/// `/sys/class/u-dma-buf/NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmaBuffer {
    /// Device name (`[a-z0-9_]+`), e.g. `fibha_in0`.
    pub name: String,
    /// Bytes the runtime needs; the overlay rounds it up to whole pages.
    pub size_bytes: u64,
}

impl DmaBuffer {
    /// A buffer called `name` of `size_bytes` bytes.
    pub fn new(name: &str, size_bytes: u64) -> DmaBuffer {
        DmaBuffer {
            name: name.to_string(),
            size_bytes,
        }
    }
}

/// What the overlay describes: the kernel's registers and interrupt, the PL clock and the
/// DMA buffers, plus the CMA size they must fit in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverlayParams {
    /// Physical base address of the kernel's s_axilite registers.
    pub regs_base: u64,
    /// Size of the register window in bytes (a whole number of pages).
    pub regs_size: u64,
    /// GIC shared peripheral interrupt number of the kernel's interrupt line.
    pub irq_spi: u32,
    /// PL clock 0 frequency the bitstream was built for, in Hz.
    pub pl_clock_hz: u64,
    /// DMA buffers, in the order their minor numbers are given.
    pub buffers: Vec<DmaBuffer>,
    /// CMA bytes the kernel reserves (`cma=` on the command line).
    pub cma_bytes: u64,
    /// Label of a reserved `shared-dma-pool` the buffers come from instead of the default
    /// CMA area (`memory-region = <&LABEL>`); `cma_bytes` is then that pool's size.
    pub memory_region: Option<String>,
    /// Plan hash, written into the overlay's header comment so a `.dtbo` can be traced back.
    pub plan_hash: Option<String>,
}

impl OverlayParams {
    /// The ZCU102 defaults (registers at 0xA000_0000, pl_ps_irq0[0], `cma=512M`) for the
    /// given PL clock and buffers.
    pub fn zcu102(pl_clock_hz: u64, buffers: Vec<DmaBuffer>) -> OverlayParams {
        OverlayParams {
            regs_base: ZCU102_REGS_BASE,
            regs_size: ZCU102_REGS_SIZE,
            irq_spi: ZCU102_IRQ_SPI,
            pl_clock_hz,
            buffers,
            cma_bytes: DEFAULT_CMA_BYTES,
            memory_region: None,
            plan_hash: None,
        }
    }
}

/// Images one kernel call can stream (the input and output buffers hold this many): the
/// SESL part works on image n + 1 while the SEML part computes image n.
pub const STREAM_IMAGES: u64 = 4;

/// The five buffers the runtime opens, by the names it looks for: two input and two output
/// buffers (double buffering, each for up to [`STREAM_IMAGES`] images) and the weight
/// bundle.
pub fn fibha_buffers(input_bytes: u64, output_bytes: u64, weights_bytes: u64) -> Vec<DmaBuffer> {
    let inputs = linux::INPUT_BUFFERS.map(|name| DmaBuffer::new(name, input_bytes));
    let outputs = linux::OUTPUT_BUFFERS.map(|name| DmaBuffer::new(name, output_bytes));
    inputs
        .into_iter()
        .chain(outputs)
        .chain([DmaBuffer::new(linux::WEIGHTS_BUFFER, weights_bytes)])
        .collect()
}

/// Why an overlay cannot be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OverlayError {
    /// A buffer of zero bytes.
    #[error("DMA buffer '{name}' has size 0; every buffer the plan lists must hold data")]
    EmptyBuffer {
        /// The buffer.
        name: String,
    },
    /// A buffer name outside `[a-z0-9_]+`.
    #[error(
        "DMA buffer name '{name}' is not valid: use 1 to 64 characters from [a-z0-9_] (it becomes /dev/{name})"
    )]
    InvalidBufferName {
        /// The name as given.
        name: String,
    },
    /// Two buffers with one name.
    #[error("DMA buffer name '{name}' appears twice; u-dma-buf device names must be unique")]
    DuplicateBuffer {
        /// The repeated name.
        name: String,
    },
    /// More buffers than u-dma-buf has minor numbers.
    #[error("{count} DMA buffers requested, u-dma-buf supports at most {MAX_BUFFERS}")]
    TooManyBuffers {
        /// How many were requested.
        count: usize,
    },
    /// The buffers do not fit the CMA area.
    #[error(
        "the plan's DMA buffers need {needed} bytes of CMA ({} MiB, including a safety margin) but the kernel reserves {cma} bytes ({} MiB): raise `cma=` on the kernel command line (PetaLinux layer: FIBHA_CMA in local.conf or petalinux-config's bootargs), e.g. cma={}M",
        mib_ceil(*needed),
        mib_ceil(*cma),
        suggested_cma_mib(*needed)
    )]
    CmaTooSmall {
        /// Page-rounded buffer bytes plus the margin.
        needed: u64,
        /// The CMA size given.
        cma: u64,
    },
    /// The byte counts overflow 64 bits.
    #[error("the DMA buffer sizes add up to more than 2^64 bytes")]
    SizeOverflow,
    /// A register window that UIO cannot map.
    #[error(
        "register window 0x{base:x} + 0x{size:x} is not valid: base and size must be non-zero multiples of {PAGE_BYTES} bytes and the window must end below 2^64"
    )]
    InvalidRegisterWindow {
        /// Base address.
        base: u64,
        /// Size in bytes.
        size: u64,
    },
    /// An interrupt that is not a PL-to-PS line.
    #[error(
        "interrupt SPI {spi} is not a PL-to-PS interrupt: pl_ps_irq0[0..7] are SPI 89..96, pl_ps_irq1[0..7] are SPI 104..111"
    )]
    InvalidIrq {
        /// The SPI number given.
        spi: u32,
    },
    /// A PL clock of 0 Hz or above what the fabric runs at.
    #[error("PL clock {hz} Hz is out of range (1 Hz ..= {MAX_PL_CLOCK_HZ} Hz)")]
    InvalidClock {
        /// The frequency given.
        hz: u64,
    },
    /// A memory-region label that is not a device-tree label.
    #[error("memory-region label '{label}' is not valid: use [a-z0-9_] and start with a letter")]
    InvalidMemoryRegion {
        /// The label as given.
        label: String,
    },
}

/// `bytes` rounded up to whole pages.
pub fn page_round(bytes: u64) -> Option<u64> {
    bytes.checked_next_multiple_of(PAGE_BYTES)
}

/// The CMA headroom kept free beside the buffers: 10 % of their total, at least
/// [`MIN_CMA_MARGIN_BYTES`]. The kernel's own CMA users (USB, display, MMC) and
/// fragmentation after long uptimes need room; too tight a fit fails at overlay time with
/// an opaque `-ENOMEM` from u-dma-buf instead of this clear message.
pub fn cma_margin(buffer_bytes: u64) -> u64 {
    (buffer_bytes / 10).max(MIN_CMA_MARGIN_BYTES)
}

/// CMA bytes the buffers need: their page-rounded total plus [`cma_margin`].
pub fn required_cma_bytes(buffers: &[DmaBuffer]) -> Result<u64, OverlayError> {
    let total = buffers.iter().try_fold(0u64, |acc, b| {
        page_round(b.size_bytes).and_then(|s| acc.checked_add(s))
    });
    let total = total.ok_or(OverlayError::SizeOverflow)?;
    total
        .checked_add(cma_margin(total))
        .ok_or(OverlayError::SizeOverflow)
}

/// Checks `p` and renders the overlay source (`.dtso`) for `dtc -@`.
pub fn render_overlay(p: &OverlayParams) -> Result<String, OverlayError> {
    validate(p)?;
    let mut out = String::new();
    write_header(&mut out, p);
    write_fpga_fragment(&mut out);
    write_bus_fragment(&mut out, p);
    out.push_str("};\n");
    Ok(out)
}

fn validate(p: &OverlayParams) -> Result<(), OverlayError> {
    let window_ok = p.regs_size != 0
        && p.regs_base != 0
        && p.regs_base.is_multiple_of(PAGE_BYTES)
        && p.regs_size.is_multiple_of(PAGE_BYTES)
        && p.regs_base.checked_add(p.regs_size).is_some();
    if !window_ok {
        return Err(OverlayError::InvalidRegisterWindow {
            base: p.regs_base,
            size: p.regs_size,
        });
    }
    if !PL_PS_IRQ_SPIS
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&p.irq_spi))
    {
        return Err(OverlayError::InvalidIrq { spi: p.irq_spi });
    }
    if p.pl_clock_hz == 0 || p.pl_clock_hz > MAX_PL_CLOCK_HZ {
        return Err(OverlayError::InvalidClock { hz: p.pl_clock_hz });
    }
    if let Some(label) = &p.memory_region {
        let starts_alpha = label.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        if !starts_alpha || !is_name(label) {
            return Err(OverlayError::InvalidMemoryRegion {
                label: label.clone(),
            });
        }
    }
    validate_buffers(&p.buffers)?;
    let needed = required_cma_bytes(&p.buffers)?;
    if needed > p.cma_bytes {
        return Err(OverlayError::CmaTooSmall {
            needed,
            cma: p.cma_bytes,
        });
    }
    Ok(())
}

fn validate_buffers(buffers: &[DmaBuffer]) -> Result<(), OverlayError> {
    if buffers.len() > MAX_BUFFERS {
        return Err(OverlayError::TooManyBuffers {
            count: buffers.len(),
        });
    }
    for (i, b) in buffers.iter().enumerate() {
        if !is_name(&b.name) || b.name.len() > 64 {
            return Err(OverlayError::InvalidBufferName {
                name: b.name.clone(),
            });
        }
        if b.size_bytes == 0 {
            return Err(OverlayError::EmptyBuffer {
                name: b.name.clone(),
            });
        }
        if buffers[..i].iter().any(|earlier| earlier.name == b.name) {
            return Err(OverlayError::DuplicateBuffer {
                name: b.name.clone(),
            });
        }
    }
    Ok(())
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn mib_ceil(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// A `cma=` value that fits `needed` bytes: the next multiple of 64 MiB.
fn suggested_cma_mib(needed: u64) -> u64 {
    mib_ceil(needed).next_multiple_of(64)
}

/// `<hi lo>` cells of a 64-bit value (two cells, as `#address-cells = <2>` expects).
fn cells2(v: u64) -> String {
    format!("0x{:x} 0x{:x}", v >> 32, v & 0xFFFF_FFFF)
}

/// One cell when the value fits 32 bits, else two (u-dma-buf reads either form of `size`).
fn size_cells(v: u64) -> String {
    match u32::try_from(v) {
        Ok(small) => format!("0x{small:x}"),
        Err(_) => cells2(v),
    }
}

fn write_header(out: &mut String, p: &OverlayParams) {
    let total: u64 = p
        .buffers
        .iter()
        .filter_map(|b| page_round(b.size_bytes))
        .sum();
    out.push_str("// SPDX-License-Identifier: Apache-2.0\n");
    out.push_str("// fibha accelerator overlay: generated by fibha-compile (tools/compiler/src/overlay.rs).\n");
    out.push_str("// Do not edit: regenerate from the plan. Compile with: dtc -@ -I dts -O dtb -o fibha.dtbo fibha.dtso\n");
    if let Some(hash) = &p.plan_hash {
        let _ = writeln!(out, "// plan hash: {hash}");
    }
    let _ = writeln!(
        out,
        "// DMA buffers: {} bytes page-rounded; CMA needed with margin: {} bytes; CMA set: {} bytes.",
        total,
        required_cma_bytes(&p.buffers).unwrap_or(u64::MAX),
        p.cma_bytes
    );
    out.push_str("//\n");
    out.push_str("// The kernel node below is a \"generic-uio\" device. uio_pdrv_genirq binds it only when it\n");
    out.push_str("// is told that compatible string: boot with uio_pdrv_genirq.of_id=generic-uio on the kernel\n");
    out.push_str("// command line (or `options uio_pdrv_genirq of_id=generic-uio` in /etc/modprobe.d when the\n");
    out.push_str("// driver is a module). Without it no /dev/uioN appears for the accelerator.\n");
    out.push_str("//\n");
    out.push_str(
        "// Labels used (&fpga_full, &amba, &gic, &zynqmp_clk, &zynqmp_reset) come from the base\n",
    );
    out.push_str("// device tree, which must be built with symbols (dtc -@; PetaLinux does so when its FPGA\n");
    out.push_str("// manager option is on).\n\n");
    out.push_str("/dts-v1/;\n/plugin/;\n\n/ {\n");
}

fn write_fpga_fragment(out: &mut String) {
    let resets: Vec<String> = PL_RESET_IDS
        .iter()
        .map(|id| format!("<&zynqmp_reset {id}>"))
        .collect();
    out.push_str("\t/* The runtime has programmed the PL through the FPGA manager: this fragment loads\n\t * nothing and leaves the region free for the reload that resets the kernel. */\n");
    out.push_str("\tfragment@0 {\n\t\ttarget = <&fpga_full>;\n\t\t__overlay__ {\n");
    out.push_str("\t\t\t#address-cells = <2>;\n\t\t\t#size-cells = <2>;\n");
    out.push_str("\t\t\texternal-fpga-config;\n");
    let _ = writeln!(out, "\t\t\tresets = {};", resets.join(", "));
    out.push_str("\t\t};\n\t};\n\n");
}

fn write_bus_fragment(out: &mut String, p: &OverlayParams) {
    out.push_str("\tfragment@1 {\n\t\ttarget = <&amba>;\n\t\t__overlay__ {\n");
    out.push_str("\t\t\t#address-cells = <2>;\n\t\t\t#size-cells = <2>;\n\n");
    write_clock_node(out, p);
    write_afi_node(out);
    write_uio_node(out, p);
    for (minor, b) in p.buffers.iter().enumerate() {
        write_buffer_node(out, p, minor, b);
    }
    out.push_str("\t\t};\n\t};\n");
}

fn write_clock_node(out: &mut String, p: &OverlayParams) {
    out.push_str("\t\t\t/* PL clock 0 (pl_clk0 = PL0_REF) at the frequency the bitstream was built for. */\n");
    out.push_str("\t\t\tfibha_fclk0: fibha-fclk0 {\n");
    out.push_str("\t\t\t\tcompatible = \"xlnx,fclk\";\n");
    let _ = writeln!(out, "\t\t\t\tclocks = <&zynqmp_clk {PL0_REF_CLOCK_ID}>;");
    out.push_str("\t\t\t\tclock-output-names = \"fibha_pl_clk0\";\n");
    out.push_str("\t\t\t\t#clock-cells = <0>;\n");
    let _ = writeln!(
        out,
        "\t\t\t\tassigned-clocks = <&zynqmp_clk {PL0_REF_CLOCK_ID}>;"
    );
    let _ = writeln!(out, "\t\t\t\tassigned-clock-rates = <{}>;", p.pl_clock_hz);
    out.push_str("\t\t\t};\n\n");
}

/// The AXI FIFO interface widths: every S_AXI_HP port 128 bit (code 0 in registers 0..13),
/// M_AXI_HPM0/HPM1_FPD 128 bit (code 2 at bits 8 and 10 of register 14), HPM0_LPD 32 bit.
/// These match the block design in bitstreams/zcu102/build.tcl whatever the port count.
fn write_afi_node(out: &mut String) {
    let mut pairs: Vec<String> = (0..14).map(|reg| format!("<{reg} 0>")).collect();
    pairs.push(format!("<14 0x{:x}>", (2 << 8) | (2 << 10)));
    pairs.push("<15 0x0>".to_string());
    let resets: Vec<String> = PL_RESET_IDS
        .iter()
        .map(|id| format!("<&zynqmp_reset {id}>"))
        .collect();
    out.push_str(
        "\t\t\t/* PS-side AXI port widths: S_AXI_HPn_FPD 128 bit, M_AXI_HPM0_FPD 128 bit. */\n",
    );
    out.push_str("\t\t\tfibha_afi0: fibha-afi0 {\n");
    out.push_str("\t\t\t\tcompatible = \"xlnx,afi-fpga\";\n");
    let _ = writeln!(out, "\t\t\t\tconfig-afi = {};", pairs.join(", "));
    let _ = writeln!(out, "\t\t\t\tresets = {};", resets.join(", "));
    out.push_str("\t\t\t};\n\n");
}

fn write_uio_node(out: &mut String, p: &OverlayParams) {
    out.push_str("\t\t\t/* The kernel's s_axilite registers and its interrupt, for the runtime through UIO.\n");
    out.push_str("\t\t\t * Needs uio_pdrv_genirq.of_id=generic-uio (see the header). */\n");
    let _ = writeln!(out, "\t\t\t{UIO_NAME}@{:x} {{", p.regs_base);
    out.push_str("\t\t\t\tcompatible = \"generic-uio\";\n");
    let _ = writeln!(out, "\t\t\t\tlinux,uio-name = \"{UIO_NAME}\";");
    let _ = writeln!(
        out,
        "\t\t\t\treg = <{} {}>;",
        cells2(p.regs_base),
        cells2(p.regs_size)
    );
    out.push_str("\t\t\t\tinterrupt-parent = <&gic>;\n");
    let _ = writeln!(out, "\t\t\t\tinterrupts = <0 {} 4>;", p.irq_spi);
    out.push_str("\t\t\t};\n");
}

fn write_buffer_node(out: &mut String, p: &OverlayParams, minor: usize, b: &DmaBuffer) {
    let rounded = page_round(b.size_bytes).unwrap_or(b.size_bytes);
    let node = b.name.replace('_', "-");
    let _ = writeln!(
        out,
        "\n\t\t\t/* {}: {} bytes requested, {} bytes page-rounded. */",
        b.name, b.size_bytes, rounded
    );
    let _ = writeln!(out, "\t\t\tudmabuf-{node} {{");
    out.push_str("\t\t\t\tcompatible = \"ikwzm,u-dma-buf\";\n");
    let _ = writeln!(out, "\t\t\t\tdevice-name = \"{}\";", b.name);
    let _ = writeln!(out, "\t\t\t\tminor-number = <{minor}>;");
    let _ = writeln!(out, "\t\t\t\tsize = <{}>;", size_cells(rounded));
    out.push_str(
        "\t\t\t\t/* Cached mapping; the runtime syncs through sync_for_device/sync_for_cpu. */\n",
    );
    out.push_str("\t\t\t\tsync-mode = <1>;\n");
    out.push_str(
        "\t\t\t\t/* The HLS m_axi masters drive 64-bit addresses through the HP ports. */\n",
    );
    out.push_str("\t\t\t\tdma-mask = <64>;\n");
    if let Some(label) = &p.memory_region {
        let _ = writeln!(out, "\t\t\t\tmemory-region = <&{label}>;");
    }
    out.push_str("\t\t\t};\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The shipped example overlay, checked against the renderer.
    const EXAMPLE_PATH: &str = "../../bitstreams/zcu102/fibha-example.dtso";

    /// Buffer sizes of a typical MobileNetV2 1.0/224 plan (see bitstreams/zcu102/README.md):
    /// four 224x224x3 inputs, four 7x7x1280 feature maps out (pool and classifier run on
    /// the CPU), ~3.5 MB of packed weights.
    fn example_params() -> OverlayParams {
        let mut p = OverlayParams::zcu102(
            200_000_000,
            fibha_buffers(
                STREAM_IMAGES * 224 * 224 * 3,
                STREAM_IMAGES * 7 * 7 * 1280,
                3_500_000,
            ),
        );
        p.plan_hash = Some("example: typical MobileNetV2 1.0/224 sizes, not a real plan".into());
        p
    }

    #[test]
    fn renders_fragments_and_nodes() {
        let text = render_overlay(&example_params()).unwrap();
        assert!(text.contains("/dts-v1/;\n/plugin/;"));
        assert!(text.contains("target = <&fpga_full>;"));
        assert!(text.contains("external-fpga-config;"));
        assert!(
            !text.contains("firmware-name"),
            "the runtime loads the bitstream, not the overlay"
        );
        assert!(text.contains("<&zynqmp_reset 116>, <&zynqmp_reset 117>"));
        assert!(text.contains("target = <&amba>;"));
        assert!(text.contains("fibha@a0000000 {"));
        assert!(text.contains("compatible = \"generic-uio\";"));
        assert!(text.contains("reg = <0x0 0xa0000000 0x0 0x10000>;"));
        assert!(text.contains("interrupt-parent = <&gic>;"));
        assert!(text.contains("interrupts = <0 89 4>;"));
        assert!(text.contains("uio_pdrv_genirq.of_id=generic-uio"));
        assert!(text.contains("assigned-clock-rates = <200000000>;"));
        assert!(text.contains("<14 0xa00>"));
        for (minor, name) in [
            "fibha_in0",
            "fibha_in1",
            "fibha_out0",
            "fibha_out1",
            "fibha_weights",
        ]
        .iter()
        .enumerate()
        {
            assert!(
                text.contains(&format!("device-name = \"{name}\";")),
                "{name}"
            );
            assert!(
                text.contains(&format!("minor-number = <{minor}>;")),
                "{name}"
            );
        }
        assert_eq!(text.matches("compatible = \"ikwzm,u-dma-buf\";").count(), 5);
        assert!(!text.contains("memory-region"));
    }

    #[test]
    fn sizes_are_page_rounded() {
        let text = render_overlay(&example_params()).unwrap();
        // 4 x 150528 = 602112 = 147 pages exactly = 0x93000.
        assert!(text.contains("size = <0x93000>;"), "{text}");
        // 4 x 62720 = 250880 -> 62 pages = 253952 = 0x3e000.
        assert!(text.contains("size = <0x3e000>;"), "{text}");
        assert_eq!(page_round(1), Some(4096));
        assert_eq!(page_round(4096), Some(4096));
        assert_eq!(page_round(0), Some(0));
        assert_eq!(page_round(u64::MAX), None);
    }

    #[test]
    fn large_buffer_uses_two_size_cells_and_memory_region() {
        let mut p = OverlayParams::zcu102(150_000_000, vec![DmaBuffer::new("big", 5 << 30)]);
        p.cma_bytes = 8 << 30;
        p.memory_region = Some("fibha_pool".into());
        let text = render_overlay(&p).unwrap();
        assert!(text.contains("size = <0x1 0x40000000>;"), "{text}");
        assert!(text.contains("memory-region = <&fibha_pool>;"));
        p.memory_region = Some("0pool".into());
        assert!(matches!(
            render_overlay(&p),
            Err(OverlayError::InvalidMemoryRegion { .. })
        ));
    }

    #[test]
    fn refuses_bad_buffers() {
        let with =
            |buffers: Vec<DmaBuffer>| render_overlay(&OverlayParams::zcu102(200_000_000, buffers));
        assert_eq!(
            with(vec![DmaBuffer::new("fibha_in0", 0)]),
            Err(OverlayError::EmptyBuffer {
                name: "fibha_in0".into()
            })
        );
        let long = "a".repeat(65);
        for bad in [
            "Fibha",
            "fibha-in0",
            "",
            "fibha in",
            "fibha/x",
            long.as_str(),
        ] {
            assert_eq!(
                with(vec![DmaBuffer::new(bad, 4096)]),
                Err(OverlayError::InvalidBufferName { name: bad.into() }),
                "{bad:?}"
            );
        }
        assert_eq!(
            with(vec![
                DmaBuffer::new("a", 1),
                DmaBuffer::new("b", 1),
                DmaBuffer::new("a", 2)
            ]),
            Err(OverlayError::DuplicateBuffer { name: "a".into() })
        );
        let many: Vec<DmaBuffer> = (0..257)
            .map(|i| DmaBuffer::new(&format!("b{i}"), 1))
            .collect();
        assert_eq!(with(many), Err(OverlayError::TooManyBuffers { count: 257 }));
        assert_eq!(
            with(vec![DmaBuffer::new("a", u64::MAX - 10)]),
            Err(OverlayError::SizeOverflow)
        );
    }

    #[test]
    fn refuses_buffers_that_do_not_fit_cma() {
        // 500 MiB of buffers: margin 50 MiB -> 550 MiB > 512 MiB.
        let p = OverlayParams::zcu102(
            200_000_000,
            vec![DmaBuffer::new("fibha_weights", 500 << 20)],
        );
        let err = render_overlay(&p).unwrap_err();
        assert_eq!(
            err,
            OverlayError::CmaTooSmall {
                needed: 550 << 20,
                cma: 512 << 20
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("cma=") && msg.contains("FIBHA_CMA") && msg.contains("cma=576M"),
            "{msg}"
        );
        // 100 MiB of buffers fit the default 512 MiB.
        let p = OverlayParams::zcu102(200_000_000, vec![DmaBuffer::new("x", 100 << 20)]);
        assert!(render_overlay(&p).is_ok());
        // The margin is at least 16 MiB: 100 MiB of buffers need exactly 116 MiB.
        let mut tight = OverlayParams::zcu102(200_000_000, vec![DmaBuffer::new("x", 100 << 20)]);
        tight.cma_bytes = (100 << 20) + (16 << 20) - 1;
        assert!(matches!(
            render_overlay(&tight),
            Err(OverlayError::CmaTooSmall { .. })
        ));
        tight.cma_bytes += 1;
        assert!(render_overlay(&tight).is_ok());
        assert_eq!(cma_margin(1 << 30), (1 << 30) / 10);
        assert_eq!(cma_margin(1), MIN_CMA_MARGIN_BYTES);
    }

    #[test]
    fn refuses_bad_window_irq_and_clock() {
        let base = example_params();
        let check = |f: &dyn Fn(&mut OverlayParams), want: &str| {
            let mut p = base.clone();
            f(&mut p);
            let err = render_overlay(&p).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        };
        check(&|p| p.regs_size = 0, "register window");
        check(&|p| p.regs_base = 0xA000_0800, "register window");
        check(&|p| p.regs_base = u64::MAX - 4095, "register window");
        check(&|p| p.irq_spi = 88, "SPI 88");
        check(&|p| p.irq_spi = 97, "SPI 97");
        check(&|p| p.pl_clock_hz = 0, "PL clock");
        check(&|p| p.pl_clock_hz = 700_000_000, "PL clock");
        let mut p = base.clone();
        p.irq_spi = 104;
        assert!(
            render_overlay(&p)
                .unwrap()
                .contains("interrupts = <0 104 4>;")
        );
    }

    /// A fresh scratch directory under the system temp dir (std only, no extra crates).
    fn scratch_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fibha-overlay-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn dtc(args: &[&str]) -> Option<std::process::Output> {
        match Command::new("dtc").args(args).output() {
            Ok(out) => Some(out),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                assert!(
                    std::env::var_os("FIBHA_REQUIRE_DTC").is_none(),
                    "dtc is not installed but FIBHA_REQUIRE_DTC is set (apt-get install device-tree-compiler)"
                );
                eprintln!("note: dtc not installed, skipping the overlay compile check");
                None
            }
            Err(e) => panic!("cannot run dtc: {e}"),
        }
    }

    fn compile(dir: &Path, text: &str) -> Option<Vec<u8>> {
        let src = dir.join("fibha.dtso");
        let dtbo = dir.join("fibha.dtbo");
        std::fs::write(&src, text).unwrap();
        let out = dtc(&[
            "-@",
            "-I",
            "dts",
            "-O",
            "dtb",
            "-o",
            dtbo.to_str().unwrap(),
            src.to_str().unwrap(),
        ])?;
        assert!(
            out.status.success(),
            "dtc failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.trim().is_empty(), "dtc warnings:\n{stderr}");
        Some(std::fs::read(&dtbo).unwrap())
    }

    #[test]
    fn overlay_compiles_with_dtc_and_keeps_label_fixups() {
        let dir = scratch_dir("dtc");
        let Some(blob) = compile(&dir, &render_overlay(&example_params()).unwrap()) else {
            return;
        };
        assert_eq!(
            &blob[..4],
            &[0xd0, 0x0d, 0xfe, 0xed],
            "not a flattened device tree"
        );
        let dtbo = dir.join("fibha.dtbo");
        let back = dtc(&["-I", "dtb", "-O", "dts", dtbo.to_str().unwrap()]).unwrap();
        assert!(back.status.success());
        let dts = String::from_utf8_lossy(&back.stdout);
        let fixups = dts
            .split("__fixups__")
            .nth(1)
            .expect("overlay has no __fixups__");
        for label in ["fpga_full", "amba", "gic", "zynqmp_clk", "zynqmp_reset"] {
            assert!(fixups.contains(label), "no fixup for &{label}:\n{dts}");
        }
        assert!(dts.contains("__symbols__"), "dtc -@ kept no symbols");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn shipped_example_matches_the_renderer() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE_PATH);
        let rendered = render_overlay(&example_params()).unwrap();
        if std::env::var_os("FIBHA_BLESS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let shipped = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (regenerate with FIBHA_BLESS=1)", path.display()));
        assert_eq!(
            shipped,
            rendered,
            "{} is stale: regenerate with FIBHA_BLESS=1 cargo test -p fibha-compiler overlay",
            path.display()
        );
    }
}
