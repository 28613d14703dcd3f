//! The weight bundle (`model.fibha`): the one file that carries a model's weights to the
//! accelerator, byte for byte the image the kernel reads from device memory.
//!
//! `fibha-compile build` writes it with [`write`]; the runtime reads it with
//! [`Bundle::open`], which validates everything before a byte reaches the accelerator, and
//! then copies [`Bundle::bytes`] into the DMA buffer unchanged. Its layout is described once,
//! in `hls/regmap.toml`, and reaches both sides through the generated [`crate::device`]
//! module and the kernel's `fibha/regmap.hpp`:
//!
//! | where | what |
//! | --- | --- |
//! | 0 | [`BundleHeader`]: magic `FBHB`, version, plan hash, `total_bytes`, CRC-32, layer count, the offsets and sizes of the sections below, and the input, output and scratch bytes the runtime must provide |
//! | `desc_off` | one [`LayerDesc`] per SEML layer, in execution order |
//! | `sesl_off` | the SESL weight section: per layer of the SESL chain a [`SeslLayerHead`], int32 bias, multipliers and shifts, then its int8 weights; an ADD as a [`SeslAdd`] |
//! | `params_off` | the SEML parameters: per conv-like layer its int8 weights (conv OHWI, depthwise `[K][K][C]`, pointwise `[out][in]`: the order the engines read them) and its int32 bias, multipliers and shifts, each array on a [`ARRAY_ALIGN`] boundary |
//!
//! All integers are little-endian; the CRC-32 (IEEE, as zlib) covers the first
//! `total_bytes` bytes except the `crc32` word itself.
//!
//! Invariant: [`parse`] accepts a buffer only when its magic, version, size, checksum,
//! plan hash (when one is expected), every section and every descriptor are consistent,
//! so that each region a descriptor names lies inside its section and inside the buffer
//! sizes the header announces; a view it returns never indexes out of bounds.

use std::path::{Path, PathBuf};

use zerocopy::little_endian::{I32, U32};
use zerocopy::{FromBytes, IntoBytes};

use crate::device::{
    self, BUNDLE_CRC_OFFSET, BUNDLE_MAGIC, BUNDLE_VERSION, BufferId, BundleHeader, DESC_MAGIC,
    LayerDesc, LayerKind, SeslAdd, SeslLayerHead,
};

/// The bundle's file name in a build directory.
pub const FILE_NAME: &str = "model.fibha";
/// Alignment of every section and SEML array the writer emits (one 512-bit memory word, a
/// whole AXI burst beat); the reader requires the kernel's 4 bytes.
pub const ARRAY_ALIGN: usize = 64;
/// Alignment the kernel requires of every section and per-channel table.
pub const WORD_ALIGN: u64 = 4;

/// CRC-32 of a bundle image (its first `total_bytes` bytes) without the `crc32` word.
pub fn checksum(image: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    let crc_end = BUNDLE_CRC_OFFSET + 4;
    crc.update(&image[..BUNDLE_CRC_OFFSET.min(image.len())]);
    if image.len() > crc_end {
        crc.update(&image[crc_end..]);
    }
    crc.finalize()
}

/// What is wrong with a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleErrorKind {
    /// The file could not be read.
    #[error("cannot read the bundle: {0}")]
    Io(#[from] std::io::Error),
    /// Too short for a header.
    #[error(
        "{len} bytes is too short for a bundle (the header alone is {} bytes)",
        BundleHeader::BYTES
    )]
    TooShort {
        /// The size found.
        len: usize,
    },
    /// Not a bundle.
    #[error(
        "wrong magic {found:#010x}, expected {BUNDLE_MAGIC:#010x} (\"FBHB\"): not a fibha weight bundle"
    )]
    Magic {
        /// The first word found.
        found: u32,
    },
    /// A version this reader does not know.
    #[error(
        "bundle format version {found}, this build reads version {BUNDLE_VERSION} (rebuild the model with the matching fibha-compile)"
    )]
    Version {
        /// The version found.
        found: u32,
    },
    /// A header field is inconsistent with the file.
    #[error("header field {field} is {found}, expected {expected}")]
    Header {
        /// Which field.
        field: &'static str,
        /// The value found.
        found: u64,
        /// What it must be.
        expected: String,
    },
    /// The checksum does not match the contents.
    #[error(
        "checksum mismatch: header says {stored:#010x}, contents give {computed:#010x} (the file is corrupt or truncated)"
    )]
    Checksum {
        /// The stored CRC.
        stored: u32,
        /// The CRC of the contents.
        computed: u32,
    },
    /// Built for other hardware.
    #[error(
        "plan hash {found:016x} does not match the hardware's {expected:016x}: the weights were packed for another accelerator build"
    )]
    PlanHash {
        /// The bundle's plan hash.
        found: u64,
        /// The hardware ID expected.
        expected: u64,
    },
    /// A section lies outside the bundle, is misaligned or overlaps another.
    #[error("{what} [{offset:#x}, +{size}) {problem}")]
    Section {
        /// Which section.
        what: &'static str,
        /// Its offset.
        offset: u64,
        /// Its size.
        size: u64,
        /// What is wrong.
        problem: String,
    },
    /// A descriptor is inconsistent.
    #[error("layer descriptor #{index}: {detail}")]
    Descriptor {
        /// Its position in the table.
        index: usize,
        /// What is wrong.
        detail: String,
    },
    /// The writer was given more than a 32-bit bundle can hold.
    #[error("{what} does not fit a bundle's 32-bit offsets")]
    TooLarge {
        /// What overflowed.
        what: &'static str,
    },
}

/// A bundle error, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct BundleError {
    /// The bundle file.
    pub path: PathBuf,
    /// What is wrong.
    pub kind: BundleErrorKind,
}

/// The parameters of one conv-like SEML layer, viewed in place.
#[derive(Clone, Copy, Debug)]
pub struct LayerParams<'a> {
    /// int8 weights in engine read order.
    pub weights: &'a [i8],
    /// int32 bias per output channel.
    pub bias: &'a [I32],
    /// Q31 multiplier per output channel.
    pub multipliers: &'a [I32],
    /// Shift per output channel (positive = left).
    pub shifts: &'a [I32],
}

/// A validated, zero-copy view of a bundle.
#[derive(Clone, Copy, Debug)]
pub struct BundleView<'a> {
    image: &'a [u8],
    header: &'a BundleHeader,
    descriptors: &'a [LayerDesc],
}

impl<'a> BundleView<'a> {
    /// The header.
    pub fn header(&self) -> &'a BundleHeader {
        self.header
    }

    /// The plan hash (hardware ID) the bundle was packed for.
    pub fn plan_hash(&self) -> u64 {
        plan_hash_of(self.header)
    }

    /// The SEML layer descriptors, in execution order.
    pub fn descriptors(&self) -> &'a [LayerDesc] {
        self.descriptors
    }

    /// The SESL weight section.
    pub fn sesl_section(&self) -> &'a [u8] {
        let h = self.header;
        region(self.image, h.sesl_off.get(), h.sesl_bytes.get())
    }

    /// The whole image, as the kernel reads it.
    pub fn image(&self) -> &'a [u8] {
        self.image
    }

    /// The parameters of a conv-like layer (`None` for an ADD).
    pub fn params(&self, d: &LayerDesc) -> Option<LayerParams<'a>> {
        let kind = LayerKind::from_u32(d.kind.get())?;
        let weight_bytes = expected_weight_bytes(kind, d)?;
        let table = 4 * d.out_c.get();
        let words = |off: U32| {
            <[I32]>::ref_from_bytes(region(self.image, off.get(), table))
                .expect("parse checked the tables' size and alignment")
        };
        Some(LayerParams {
            weights: <[i8]>::ref_from_bytes(region(self.image, d.weight_off.get(), weight_bytes))
                .expect("i8 has no alignment or size constraint"),
            bias: words(d.bias_off),
            multipliers: words(d.mult_off),
            shifts: words(d.shift_off),
        })
    }
}

fn plan_hash_of(h: &BundleHeader) -> u64 {
    (u64::from(h.plan_hash_hi.get()) << 32) | u64::from(h.plan_hash_lo.get())
}

/// Bytes `[off, off + len)` of a validated image.
fn region(image: &[u8], off: u32, len: u32) -> &[u8] {
    &image[off as usize..off as usize + len as usize]
}

/// int8 weight bytes of a conv-like layer of this shape (`None` for an ADD).
fn expected_weight_bytes(kind: LayerKind, d: &LayerDesc) -> Option<u32> {
    let k = u64::from(d.kernel.get());
    let k2 = k.saturating_mul(k);
    let (out_c, in_c) = (u64::from(d.out_c.get()), u64::from(d.in_c.get()));
    let bytes = match kind {
        LayerKind::Conv => out_c.saturating_mul(k2).saturating_mul(in_c),
        LayerKind::Depthwise => k2.saturating_mul(out_c),
        LayerKind::Pointwise => out_c.saturating_mul(in_c),
        LayerKind::Add => return None,
    };
    u32::try_from(bytes).ok()
}

/// A bundle read from a file and validated.
#[derive(Clone, Debug)]
pub struct Bundle {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Bundle {
    /// Reads and validates `path`; with `expected_plan_hash`, refuses a bundle packed for
    /// other hardware.
    pub fn open(path: &Path, expected_plan_hash: Option<u64>) -> Result<Bundle, BundleError> {
        let bytes = std::fs::read(path).map_err(|e| BundleError {
            path: path.to_path_buf(),
            kind: e.into(),
        })?;
        Bundle::from_bytes(bytes, path, expected_plan_hash)
    }

    /// Validates `bytes` (read from `path`, which errors name).
    pub fn from_bytes(
        bytes: Vec<u8>,
        path: &Path,
        expected_plan_hash: Option<u64>,
    ) -> Result<Bundle, BundleError> {
        parse(&bytes, path, expected_plan_hash)?;
        Ok(Bundle {
            path: path.to_path_buf(),
            bytes,
        })
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The image, to copy into the accelerator's bundle buffer as it is.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The validated view.
    pub fn view(&self) -> BundleView<'_> {
        parse(&self.bytes, &self.path, None).expect("validated when opened")
    }
}

/// Validates `bytes` and returns a view; `path` names the file in errors.
pub fn parse<'a>(
    bytes: &'a [u8],
    path: &Path,
    expected_plan_hash: Option<u64>,
) -> Result<BundleView<'a>, BundleError> {
    validate(bytes, expected_plan_hash).map_err(|kind| BundleError {
        path: path.to_path_buf(),
        kind,
    })
}

fn validate(
    bytes: &[u8],
    expected_plan_hash: Option<u64>,
) -> Result<BundleView<'_>, BundleErrorKind> {
    let Ok((header, _)) = BundleHeader::ref_from_prefix(bytes) else {
        return Err(BundleErrorKind::TooShort { len: bytes.len() });
    };
    if header.magic.get() != BUNDLE_MAGIC {
        return Err(BundleErrorKind::Magic {
            found: header.magic.get(),
        });
    }
    if header.version.get() != BUNDLE_VERSION {
        return Err(BundleErrorKind::Version {
            found: header.version.get(),
        });
    }
    let total = u64::from(header.total_bytes.get());
    if total != bytes.len() as u64 || total % WORD_ALIGN != 0 {
        return Err(BundleErrorKind::Header {
            field: "total_bytes",
            found: total,
            expected: format!("the file's size {} (a multiple of 4)", bytes.len()),
        });
    }
    if header.reserved.get() != 0 {
        return Err(BundleErrorKind::Header {
            field: "reserved",
            found: header.reserved.get().into(),
            expected: "0".into(),
        });
    }
    let computed = checksum(bytes);
    if computed != header.crc32.get() {
        return Err(BundleErrorKind::Checksum {
            stored: header.crc32.get(),
            computed,
        });
    }
    if let Some(expected) = expected_plan_hash
        && plan_hash_of(header) != expected
    {
        return Err(BundleErrorKind::PlanHash {
            found: plan_hash_of(header),
            expected,
        });
    }
    let count = header.layer_count.get();
    let table = u64::from(count) * LayerDesc::BYTES as u64;
    let sections = [
        ("header", 0, BundleHeader::BYTES as u64),
        ("descriptor table", header.desc_off.get().into(), table),
        (
            "SESL weight section",
            header.sesl_off.get().into(),
            header.sesl_bytes.get().into(),
        ),
        (
            "SEML parameter section",
            header.params_off.get().into(),
            header.params_bytes.get().into(),
        ),
    ];
    for (i, &(what, offset, size)) in sections.iter().enumerate() {
        let bad = |problem: String| BundleErrorKind::Section {
            what,
            offset,
            size,
            problem,
        };
        if offset % WORD_ALIGN != 0 {
            return Err(bad("is not 4-byte aligned".into()));
        }
        if offset + size > total {
            return Err(bad(format!("ends past the bundle's {total} bytes")));
        }
        if let Some(&(other, o_off, o_size)) = sections[..i]
            .iter()
            .find(|&&(_, o, s)| size > 0 && s > 0 && offset < o + s && o < offset + size)
        {
            return Err(bad(format!("overlaps the {other} [{o_off:#x}, +{o_size})")));
        }
    }
    let start = header.desc_off.get() as usize;
    let descriptors = <[LayerDesc]>::ref_from_bytes(&bytes[start..start + table as usize])
        .expect("descriptors are byte arrays and the table is a whole number of them");
    for (index, d) in descriptors.iter().enumerate() {
        check_descriptor(header, d)
            .map_err(|detail| BundleErrorKind::Descriptor { index, detail })?;
    }
    Ok(BundleView {
        image: bytes,
        header,
        descriptors,
    })
}

/// The buffer sizes the header announces, by buffer id.
fn buffer_bytes(h: &BundleHeader, id: u32) -> Option<(BufferId, u64)> {
    let id = BufferId::from_u32(id)?;
    let bytes = match id {
        BufferId::Input => h.input_bytes,
        BufferId::Output => h.output_bytes,
        BufferId::Scratch => h.scratch_bytes,
    };
    Some((id, bytes.get().into()))
}

fn int8(v: I32) -> bool {
    (-128..=127).contains(&v.get())
}

/// The host's mirror of the kernel's descriptor checks (structure, regions, zero points
/// and clamps); per-channel multipliers and shifts are left to the kernel, which checks
/// them as it loads them.
fn check_descriptor(h: &BundleHeader, d: &LayerDesc) -> Result<(), String> {
    if d.magic.get() != DESC_MAGIC || d.reserved0.get() != 0 || d.reserved1.get() != 0 {
        return Err(format!(
            "magic {:#010x} (expected {DESC_MAGIC:#010x}) or a reserved word is not zero",
            d.magic.get()
        ));
    }
    let kind = LayerKind::from_u32(d.kind.get())
        .ok_or_else(|| format!("unknown layer kind {}", d.kind.get()))?;
    let [
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        k,
        stride,
        pad_top,
        pad_left,
    ] = [
        d.in_h, d.in_w, d.in_c, d.out_h, d.out_w, d.out_c, d.kernel, d.stride, d.pad_top,
        d.pad_left,
    ]
    .map(|v| u64::from(v.get()));
    if [in_h, in_w, in_c, out_h, out_w, out_c].contains(&0) {
        return Err("a dimension is zero".into());
    }
    match kind {
        LayerKind::Conv | LayerKind::Depthwise => {
            if k == 0 || !(1..=2).contains(&stride) || pad_top >= k || pad_left >= k {
                return Err(format!(
                    "kernel {k}, stride {stride}, padding ({pad_top}, {pad_left}) are not a window the engines run"
                ));
            }
            if (out_h - 1) * stride > in_h - 1 + pad_top
                || (out_w - 1) * stride > in_w - 1 + pad_left
            {
                return Err(format!(
                    "{out_h}x{out_w} outputs do not fit a {in_h}x{in_w} input with stride {stride}"
                ));
            }
        }
        LayerKind::Pointwise | LayerKind::Add => {
            if k != 1
                || stride != 1
                || pad_top != 0
                || pad_left != 0
                || in_h != out_h
                || in_w != out_w
            {
                return Err(format!(
                    "a {} layer must be 1x1, stride 1, unpadded",
                    kind.name()
                ));
            }
        }
    }
    if matches!(kind, LayerKind::Depthwise | LayerKind::Add) && in_c != out_c {
        return Err(format!(
            "{} with {in_c} input and {out_c} output channels",
            kind.name()
        ));
    }
    // Saturating: a product past 2^64 is as much "outside every buffer" as any large one.
    let in_bytes = in_h.saturating_mul(in_w).saturating_mul(in_c);
    let out_bytes = out_h.saturating_mul(out_w).saturating_mul(out_c);
    let inside =
        |what: &str, buf: U32, off: U32, len: u64| -> Result<(BufferId, u64, u64), String> {
            let (id, size) = buffer_bytes(h, buf.get())
                .ok_or_else(|| format!("{what} names unknown buffer {}", buf.get()))?;
            let off = u64::from(off.get());
            if off.saturating_add(len) > size {
                return Err(format!(
                    "{what} [{off}, +{len}) lies outside the {} buffer's {size} bytes",
                    id.name()
                ));
            }
            Ok((id, off, len))
        };
    let input = inside("input", d.in_buf, d.in_off, in_bytes)?;
    let mut inputs = vec![input];
    if kind == LayerKind::Add {
        inputs.push(inside("second input", d.in2_buf, d.in2_off, in_bytes)?);
    }
    let output = inside("output", d.out_buf, d.out_off, out_bytes)?;
    if output.0 == BufferId::Input {
        return Err("writes to the input buffer".into());
    }
    if inputs
        .iter()
        .any(|i| i.0 == output.0 && i.1 < output.1 + output.2 && output.1 < i.1 + i.2)
    {
        return Err("its output overlaps one of its inputs".into());
    }
    if ![d.in_zp, d.in2_zp, d.out_zp, d.act_min, d.act_max]
        .into_iter()
        .all(int8)
        || d.act_min.get() > d.act_max.get()
    {
        return Err("a zero point or clamp is outside int8 (or the clamp is empty)".into());
    }
    if kind == LayerKind::Add {
        return Ok(());
    }
    let weights = expected_weight_bytes(kind, d)
        .ok_or_else(|| "its weights would not fit a 32-bit bundle".to_string())?;
    let (p_off, p_end) = (
        u64::from(h.params_off.get()),
        u64::from(h.params_off.get()) + u64::from(h.params_bytes.get()),
    );
    for (what, off, len, align) in [
        ("weights", d.weight_off, u64::from(weights), 1),
        ("bias", d.bias_off, 4 * out_c, WORD_ALIGN),
        ("multipliers", d.mult_off, 4 * out_c, WORD_ALIGN),
        ("shifts", d.shift_off, 4 * out_c, WORD_ALIGN),
    ] {
        let off = u64::from(off.get());
        if off < p_off || off + len > p_end || off % align != 0 {
            return Err(format!(
                "{what} [{off:#x}, +{len}) lie outside the parameter section [{p_off:#x}, {p_end:#x}) or are misaligned"
            ));
        }
    }
    Ok(())
}

/// Builds the SESL weight section, blob by blob in chain order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeslSection {
    bytes: Vec<u8>,
}

impl SeslSection {
    /// An empty section.
    pub fn new() -> SeslSection {
        SeslSection::default()
    }

    /// Appends a conv-like layer: its scalars, per-channel tables (one entry per output
    /// channel each) and int8 weights in the engine's layout.
    pub fn conv_like(
        &mut self,
        head: SeslLayerHead,
        bias: &[i32],
        multipliers: &[i32],
        shifts: &[i32],
        weights: &[i8],
    ) {
        self.bytes.extend_from_slice(head.as_bytes());
        for table in [bias, multipliers, shifts] {
            self.bytes
                .extend(table.iter().flat_map(|v| v.to_le_bytes()));
        }
        self.bytes.extend_from_slice(weights.as_bytes());
        self.bytes
            .resize(self.bytes.len().next_multiple_of(WORD_ALIGN as usize), 0);
    }

    /// Appends an ADD.
    pub fn add(&mut self, add: SeslAdd) {
        self.bytes.extend_from_slice(add.as_bytes());
    }

    /// The section's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The parameters of one conv-like SEML layer, owned, for the writer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedParams {
    /// int8 weights in engine read order.
    pub weights: Vec<i8>,
    /// int32 bias per output channel.
    pub bias: Vec<i32>,
    /// Q31 multiplier per output channel.
    pub multipliers: Vec<i32>,
    /// Shift per output channel.
    pub shifts: Vec<i32>,
}

/// One SEML layer to write: its descriptor (the writer fills `magic` and the parameter
/// offsets) and, for a conv-like layer, its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SemlLayer {
    /// The descriptor.
    pub desc: LayerDesc,
    /// Weights and tables (`None` for an ADD).
    pub params: Option<OwnedParams>,
}

/// Everything a bundle holds.
#[derive(Clone, Debug)]
pub struct BundleSpec {
    /// The hardware ID of the plan the weights are packed for.
    pub plan_hash: u64,
    /// The SESL weight section.
    pub sesl: SeslSection,
    /// The SEML layers, in execution order.
    pub layers: Vec<SemlLayer>,
    /// Bytes of the input image.
    pub input_bytes: u32,
    /// Bytes of the accelerator's output tensor (at offset 0 of the output buffer).
    pub output_bytes: u32,
    /// Scratch bytes the descriptors use.
    pub scratch_bytes: u32,
}

/// Serializes a bundle: header, descriptor table, SESL section, SEML parameters, each
/// section and array on an [`ARRAY_ALIGN`] boundary, checksum last.
pub fn write(spec: &BundleSpec) -> Result<Vec<u8>, BundleErrorKind> {
    let to_u32 = |v: usize, what: &'static str| {
        u32::try_from(v).map_err(|_| BundleErrorKind::TooLarge { what })
    };
    let align = |n: usize| n.next_multiple_of(ARRAY_ALIGN);
    let desc_off = align(BundleHeader::BYTES);
    let sesl_off = align(desc_off + spec.layers.len() * LayerDesc::BYTES);
    let params_off = align(sesl_off + spec.sesl.bytes.len());
    let mut image = vec![0u8; params_off];
    image[sesl_off..sesl_off + spec.sesl.bytes.len()].copy_from_slice(&spec.sesl.bytes);
    let put = |image: &mut Vec<u8>, bytes: &[u8]| -> Result<U32, BundleErrorKind> {
        let off = align(image.len());
        image.resize(off, 0);
        image.extend_from_slice(bytes);
        Ok(U32::new(to_u32(off, "the SEML parameter section")?))
    };
    let words = |v: &[i32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut descriptors = Vec::with_capacity(spec.layers.len());
    for layer in &spec.layers {
        let mut d = layer.desc;
        d.magic = U32::new(DESC_MAGIC);
        if let Some(p) = &layer.params {
            d.weight_off = put(&mut image, p.weights.as_bytes())?;
            d.bias_off = put(&mut image, &words(&p.bias))?;
            d.mult_off = put(&mut image, &words(&p.multipliers))?;
            d.shift_off = put(&mut image, &words(&p.shifts))?;
        }
        descriptors.push(d);
    }
    let params_end = image.len();
    image.resize(params_end.next_multiple_of(WORD_ALIGN as usize), 0);
    image[desc_off..desc_off + descriptors.as_bytes().len()]
        .copy_from_slice(descriptors.as_bytes());
    let header = BundleHeader {
        magic: U32::new(BUNDLE_MAGIC),
        version: U32::new(BUNDLE_VERSION),
        plan_hash_lo: U32::new(spec.plan_hash as u32),
        plan_hash_hi: U32::new((spec.plan_hash >> 32) as u32),
        total_bytes: U32::new(to_u32(image.len(), "the bundle")?),
        crc32: U32::new(0),
        layer_count: U32::new(to_u32(spec.layers.len(), "the layer count")?),
        desc_off: U32::new(to_u32(desc_off, "the descriptor table")?),
        sesl_off: U32::new(to_u32(sesl_off, "the SESL section")?),
        sesl_bytes: U32::new(to_u32(spec.sesl.bytes.len(), "the SESL section")?),
        params_off: U32::new(to_u32(params_off, "the SEML parameter section")?),
        params_bytes: U32::new(to_u32(
            params_end - params_off,
            "the SEML parameter section",
        )?),
        input_bytes: U32::new(spec.input_bytes),
        output_bytes: U32::new(spec.output_bytes),
        scratch_bytes: U32::new(spec.scratch_bytes),
        reserved: U32::new(0),
    };
    image[..BundleHeader::BYTES].copy_from_slice(header.as_bytes());
    let crc = checksum(&image);
    image[BUNDLE_CRC_OFFSET..BUNDLE_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    Ok(image)
}

/// A descriptor with the shape fields set and everything else zero, for writers and tests.
#[allow(clippy::too_many_arguments)]
pub fn shaped_descriptor(
    kind: LayerKind,
    input: [u32; 3],
    output: [u32; 3],
    kernel: u32,
    stride: u32,
    pad: [u32; 2],
) -> LayerDesc {
    let mut d = LayerDesc {
        magic: U32::new(DESC_MAGIC),
        kind: U32::new(kind as u32),
        ..LayerDesc::default()
    };
    [d.in_h, d.in_w, d.in_c] = input.map(U32::new);
    [d.out_h, d.out_w, d.out_c] = output.map(U32::new);
    d.kernel = U32::new(kernel);
    d.stride = U32::new(stride);
    d.pad_top = U32::new(pad[0]);
    d.pad_left = U32::new(pad[1]);
    d
}

/// The interface version the bundle's descriptors follow (the kernel's register map).
pub const INTERFACE_VERSION: u32 = device::INTERFACE_VERSION;

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x3 conv 4x4x3 -> 4x4x5 from the input to scratch, then an ADD of that map with
    /// itself-shaped scratch region into the output buffer.
    fn sample() -> BundleSpec {
        let mut conv = shaped_descriptor(LayerKind::Conv, [4, 4, 3], [4, 4, 5], 3, 1, [1, 1]);
        conv.in_buf = U32::new(BufferId::Input as u32);
        conv.out_buf = U32::new(BufferId::Scratch as u32);
        conv.act_min = I32::new(-128);
        conv.act_max = I32::new(127);
        let mut add = shaped_descriptor(LayerKind::Add, [4, 4, 5], [4, 4, 5], 1, 1, [0, 0]);
        add.in_buf = U32::new(BufferId::Scratch as u32);
        add.in2_buf = U32::new(BufferId::Scratch as u32);
        add.in2_off = U32::new(80);
        add.out_buf = U32::new(BufferId::Output as u32);
        add.act_min = I32::new(-128);
        add.act_max = I32::new(127);
        let mut sesl = SeslSection::new();
        sesl.conv_like(
            SeslLayerHead::default(),
            &[1, 2],
            &[3, 4],
            &[-1, -2],
            &[5, 6, 7],
        );
        BundleSpec {
            plan_hash: 0xdead_beef_0123_4567,
            sesl,
            layers: vec![
                SemlLayer {
                    desc: conv,
                    params: Some(OwnedParams {
                        weights: (0..135).map(|i| (i % 200) as i8).collect(),
                        bias: vec![1, -2, 3, -4, 5],
                        multipliers: vec![1 << 30; 5],
                        shifts: vec![-3; 5],
                    }),
                },
                SemlLayer {
                    desc: add,
                    params: None,
                },
            ],
            input_bytes: 48,
            output_bytes: 80,
            scratch_bytes: 160,
        }
    }

    fn err_of(bytes: &[u8], hash: Option<u64>) -> String {
        parse(bytes, Path::new("dir/model.fibha"), hash)
            .unwrap_err()
            .to_string()
    }

    fn fix_crc(bytes: &mut [u8]) {
        let crc = checksum(bytes);
        bytes[BUNDLE_CRC_OFFSET..BUNDLE_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    }

    fn set_word(bytes: &mut [u8], offset: usize, value: u32) {
        bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
        fix_crc(bytes);
    }

    #[test]
    fn header_and_descriptor_sizes_match_the_kernel() {
        assert_eq!(std::mem::size_of::<BundleHeader>(), 16 * 4);
        assert_eq!(std::mem::size_of::<LayerDesc>(), 36 * 4);
        assert_eq!(BUNDLE_CRC_OFFSET, std::mem::offset_of!(BundleHeader, crc32));
    }

    #[test]
    fn round_trip_gives_the_same_arrays() {
        let bytes = write(&sample()).unwrap();
        let view = parse(&bytes, Path::new("m.fibha"), Some(0xdead_beef_0123_4567)).unwrap();
        assert_eq!(view.plan_hash(), 0xdead_beef_0123_4567);
        let h = view.header();
        assert_eq!(
            (h.layer_count.get(), h.total_bytes.get() as usize),
            (2, bytes.len())
        );
        assert_eq!(view.descriptors().len(), 2);
        let p = view.params(&view.descriptors()[0]).unwrap();
        assert_eq!(p.weights.len(), 135);
        assert_eq!(p.weights[100], 100);
        let bias: Vec<i32> = p.bias.iter().map(|v| v.get()).collect();
        assert_eq!(bias, [1, -2, 3, -4, 5]);
        assert_eq!(p.shifts[4].get(), -3);
        assert_eq!(
            view.descriptors()[0].weight_off.get() as usize % ARRAY_ALIGN,
            0
        );
        assert!(view.params(&view.descriptors()[1]).is_none());
        // SESL blob: 16-byte head, 3 tables of 2 words, 3 weights padded to 4.
        assert_eq!(view.sesl_section().len(), 16 + 24 + 4);
        assert_eq!(&view.sesl_section()[40..43], &[5, 6, 7]);
    }

    #[test]
    fn the_checksum_is_zlibs_crc32_without_its_own_word() {
        let bytes = write(&sample()).unwrap();
        let mut zeroed = bytes.clone();
        zeroed[BUNDLE_CRC_OFFSET..BUNDLE_CRC_OFFSET + 4].fill(0);
        let mut without = bytes[..BUNDLE_CRC_OFFSET].to_vec();
        without.extend_from_slice(&bytes[BUNDLE_CRC_OFFSET + 4..]);
        assert_eq!(checksum(&bytes), crc32fast::hash(&without));
        assert_eq!(checksum(&zeroed), checksum(&bytes));
    }

    #[test]
    fn wrong_magic_version_checksum_and_plan_hash_are_refused_naming_the_file() {
        let good = write(&sample()).unwrap();
        let mut b = good.clone();
        b[0] = b'X';
        let e = err_of(&b, None);
        assert!(e.starts_with("dir/model.fibha: wrong magic"), "{e}");
        let mut b = good.clone();
        set_word(&mut b, 4, BUNDLE_VERSION + 1);
        let e = err_of(&b, None);
        assert!(
            e.starts_with("dir/model.fibha: bundle format version 3"),
            "{e}"
        );
        let mut b = good.clone();
        let last = b.len() - 1;
        b[last] ^= 0x40;
        let e = err_of(&b, None);
        assert!(e.starts_with("dir/model.fibha: checksum mismatch"), "{e}");
        let e = err_of(&good, Some(0xdead_beef_0123_4566));
        assert!(
            e.starts_with("dir/model.fibha: plan hash deadbeef01234567 does not match"),
            "{e}"
        );
        let e = err_of(&good[..good.len() - 4], None);
        assert!(e.contains("total_bytes"), "{e}");
        assert!(err_of(&good[..20], None).contains("too short"));
        let e = Bundle::open(Path::new("/nonexistent/model.fibha"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/nonexistent/model.fibha: cannot read"),
            "{e}"
        );
    }

    #[test]
    fn inconsistent_sections_and_descriptors_are_refused_even_with_a_valid_checksum() {
        let good = write(&sample()).unwrap();
        let desc0 = parse(&good, Path::new("m"), None)
            .unwrap()
            .header()
            .desc_off
            .get() as usize;
        let cases: [(usize, u32, &str); 7] = [
            // SESL section past the end of the bundle.
            (
                std::mem::offset_of!(BundleHeader, sesl_bytes),
                1 << 20,
                "SESL weight section",
            ),
            // Descriptor table over the header.
            (
                std::mem::offset_of!(BundleHeader, desc_off),
                32,
                "overlaps the header",
            ),
            // The conv's weights outside the parameter section.
            (
                desc0 + std::mem::offset_of!(LayerDesc, weight_off),
                0,
                "weights",
            ),
            // An input region past the input buffer the header announces.
            (
                desc0 + std::mem::offset_of!(LayerDesc, in_off),
                1,
                "outside the input buffer",
            ),
            // Stride 3.
            (
                desc0 + std::mem::offset_of!(LayerDesc, stride),
                3,
                "stride 3",
            ),
            // An unknown kind.
            (
                desc0 + std::mem::offset_of!(LayerDesc, kind),
                9,
                "unknown layer kind 9",
            ),
            // Writing to the input buffer (smaller than the conv's output here).
            (
                desc0 + std::mem::offset_of!(LayerDesc, out_buf),
                0,
                "outside the input buffer",
            ),
        ];
        for (offset, value, expect) in cases {
            let mut b = good.clone();
            set_word(&mut b, offset, value);
            let e = err_of(&b, None);
            assert!(
                e.starts_with("dir/model.fibha: ") && e.contains(expect),
                "{expect}: {e}"
            );
        }
        // The ADD writing over its own input.
        let mut b = good.clone();
        let desc1 = desc0 + LayerDesc::BYTES;
        set_word(
            &mut b,
            desc1 + std::mem::offset_of!(LayerDesc, out_buf),
            BufferId::Scratch as u32,
        );
        let e = err_of(&b, None);
        assert!(e.contains("descriptor #1") && e.contains("overlaps"), "{e}");
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            /// Any corruption of a valid bundle is either refused or still a bundle whose
            /// views stay in bounds; parsing never panics.
            #[test]
            fn corrupted_bundles_never_panic(pos in 0usize..4096, val in any::<u8>(), fix in any::<bool>()) {
                let mut b = write(&super::sample()).unwrap();
                let pos = pos % b.len();
                b[pos] = val;
                if fix {
                    super::fix_crc(&mut b);
                }
                if let Ok(view) = parse(&b, Path::new("f"), None) {
                    let _ = view.sesl_section().len();
                    for d in view.descriptors() {
                        if let Some(p) = view.params(d) {
                            let _ = (p.weights.len(), p.bias.len(), p.shifts.len());
                        }
                    }
                }
            }
        }
    }
}
