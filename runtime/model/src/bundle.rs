//! The weight bundle (`model.fibha`): the one file that carries a model's weights to the
//! accelerator, byte for byte the image the kernel reads from device memory.
//!
//! `fibha-compile build` writes it with [`write`]; the runtime reads it with
//! [`Bundle::open`], which validates everything before a byte reaches the accelerator, and
//! then copies [`Bundle::bytes`] into the DMA buffer unchanged. Its layout is described once,
//! in `hls/regmap.toml`, and reaches both sides through the generated [`crate::device`]
//! module and the kernel's `fibha/regmap.hpp`; the blob layouts are the engines' own
//! (`hls/include/fibha/params.hpp`, `hls/include/fibha/seml.hpp`), built here by
//! [`SeslSection`], [`pointwise_blob`] and [`depthwise_blob`]:
//!
//! | where | what |
//! | --- | --- |
//! | 0 | [`BundleHeader`]: magic `FBHB`, version, plan hash, `total_bytes`, CRC-32, layer count, the offsets and sizes of the sections below, the input, output and hand-off bytes of one image |
//! | `desc_off` | one [`LayerDesc`] per SEML layer, in execution order |
//! | `sesl_off` | the SESL weight section: per stage of the SESL chain a [`SeslLayerHead`] (two beats), int32 bias, multipliers and shifts (each padded to whole beats), then its weight words in its memory's order, each padded to whole beats; an ADD as a [`SeslAdd`] |
//! | `params_off` | the SEML parameters: per layer one blob of 16-byte beats, stored as its even beats then its odd beats (the two loaders' halves) |
//!
//! Everything is in 16-byte beats (the kernel's m_axi ports are 128 bits wide); integers
//! are little-endian; the CRC-32 (IEEE, as zlib) covers the first `total_bytes` bytes
//! except the `crc32` word itself.
//!
//! Invariant: [`parse`] accepts a buffer only when its magic, version, size, checksum,
//! plan hash (when one is expected), every section and every descriptor are consistent
//! (each descriptor as the kernel checks it, and the chain between them: each layer reads
//! what the one before wrote); a view it returns never indexes out of bounds.

use std::path::{Path, PathBuf};

use zerocopy::little_endian::{I32, U32};
use zerocopy::{FromBytes, IntoBytes};

use crate::device::{
    self, BUNDLE_CRC_OFFSET, BUNDLE_MAGIC, BUNDLE_VERSION, BufferId, BundleHeader, DESC_MAGIC,
    FLAG_RESIDUAL, FLAG_ROUND_DIVIDE, LayerDesc, LayerKind, SeslAdd, SeslLayerHead,
};

/// The bundle's file name in a build directory.
pub const FILE_NAME: &str = crate::manifest::layout::BUNDLE;
/// Bytes of one beat of the kernel's 128-bit ports: the unit of every section and blob.
pub const BEAT: usize = 16;
/// Channels per word of the SEML part's feature maps.
pub const FM_LANES: usize = 16;

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

    /// A layer's parameter blob as stored (loader A's half, then loader B's).
    pub fn blob(&self, d: &LayerDesc) -> &'a [u8] {
        let off = d.params_off.get() as usize * BEAT;
        &self.image[off..off + d.params_beats.get() as usize * BEAT]
    }
}

fn plan_hash_of(h: &BundleHeader) -> u64 {
    (u64::from(h.plan_hash_hi.get()) << 32) | u64::from(h.plan_hash_lo.get())
}

/// Bytes `[off, off + len)` of a validated image.
fn region(image: &[u8], off: u32, len: u32) -> &[u8] {
    &image[off as usize..off as usize + len as usize]
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
    if total != bytes.len() as u64 || total % BEAT as u64 != 0 {
        return Err(BundleErrorKind::Header {
            field: "total_bytes",
            found: total,
            expected: format!("the file's size {} (whole 16-byte beats)", bytes.len()),
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
    for (field, v) in [
        ("input_bytes", header.input_bytes.get()),
        ("output_bytes", header.output_bytes.get()),
    ] {
        if v == 0 || !(v as usize).is_multiple_of(BEAT) {
            return Err(BundleErrorKind::Header {
                field,
                found: v.into(),
                expected: "a non-zero number of whole 16-byte beats".into(),
            });
        }
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
        if offset % BEAT as u64 != 0 || size % BEAT as u64 != 0 {
            return Err(bad("is not whole 16-byte beats".into()));
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
    let mut chain = Chain::start(header);
    for (index, d) in descriptors.iter().enumerate() {
        check_descriptor(header, d)
            .and_then(|()| chain.next(d))
            .map_err(|detail| BundleErrorKind::Descriptor { index, detail })?;
    }
    if let Some(last) = descriptors.len().checked_sub(1) {
        chain
            .finish(header)
            .map_err(|detail| BundleErrorKind::Descriptor {
                index: last,
                detail,
            })?;
    }
    Ok(BundleView {
        image: bytes,
        header,
        descriptors,
    })
}

fn int8(v: I32) -> bool {
    (-128..=127).contains(&v.get())
}

/// Words of a pixel of `c` channels in the SEML part's feature maps.
pub fn fm_words(c: usize) -> usize {
    c.div_ceil(FM_LANES)
}

/// The host's mirror of the kernel's descriptor checks that do not depend on the
/// instance (its maximums are the kernel's to check): structure, geometry, buffers, zero
/// points, clamps and ADD parameters, the blob's place. Per-channel multipliers and shifts
/// are left to the kernel, which checks them as they stream in.
fn check_descriptor(h: &BundleHeader, d: &LayerDesc) -> Result<(), String> {
    if d.magic.get() != DESC_MAGIC {
        return Err(format!(
            "magic {:#010x} (expected {DESC_MAGIC:#010x})",
            d.magic.get()
        ));
    }
    let kind = LayerKind::from_u32(d.kind.get())
        .ok_or_else(|| format!("unknown layer kind {}", d.kind.get()))?;
    let residual = d.flags.get() & FLAG_RESIDUAL != 0;
    let divide = d.flags.get() & FLAG_ROUND_DIVIDE != 0;
    match kind {
        LayerKind::Depthwise | LayerKind::Pointwise | LayerKind::Pool => {}
        LayerKind::Conv | LayerKind::Add => {
            return Err(format!(
                "a {} layer: the SEML part runs depthwise, pointwise and global pooling layers (an ADD fused into the pointwise layer before it)",
                kind.name()
            ));
        }
    }
    if d.flags.get() & !(FLAG_RESIDUAL | FLAG_ROUND_DIVIDE) != 0
        || (residual && kind != LayerKind::Pointwise)
        || (divide && kind != LayerKind::Pool)
    {
        return Err(format!(
            "flags {:#x}: only a pointwise layer may add a residual, only a pool layer divide",
            d.flags.get()
        ));
    }
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
    if [in_h, in_w, in_c, out_h, out_w, out_c, k].contains(&0) || !(1..=2).contains(&stride) {
        return Err(format!(
            "a zero dimension or stride {stride}: not a layer the engines run"
        ));
    }
    if kind == LayerKind::Pool {
        if (out_h, out_w, k, stride, pad_top, pad_left) != (1, 1, 1, 1, 0, 0)
            || in_c != out_c
            || d.filter_zp.get() != 0
        {
            return Err(format!(
                "{in_h}x{in_w}x{in_c} -> {out_h}x{out_w}x{out_c}, kernel {k}, stride {stride}: not a global pooling the engine runs"
            ));
        }
    } else if kind == LayerKind::Depthwise {
        if pad_top >= k || pad_left >= k || in_c != out_c {
            return Err(format!(
                "kernel {k}, padding ({pad_top}, {pad_left}), {in_c} -> {out_c} channels: not a depthwise window the engine runs"
            ));
        }
        if (out_h - 1) * stride >= in_h + pad_top || (out_w - 1) * stride >= in_w + pad_left {
            return Err(format!(
                "{out_h}x{out_w} outputs do not fit a {in_h}x{in_w} input with stride {stride}"
            ));
        }
    } else if k != 1
        || stride != 1
        || pad_top != 0
        || pad_left != 0
        || in_h != out_h
        || in_w != out_w
    {
        return Err("a pointwise layer must be 1x1, stride 1, unpadded".into());
    }
    let bufs = [d.in_buf, d.out_buf, d.res_buf].map(|b| b.get());
    if bufs.iter().any(|&b| BufferId::from_u32(b).is_none())
        || bufs[0] == bufs[1]
        || (residual && (bufs[2] == bufs[0] || bufs[2] == bufs[1]))
        || (!residual && bufs[2] != 0)
    {
        return Err(format!(
            "feature-map memories in {}, out {}, residual {}: unknown, or one read and written at once",
            bufs[0], bufs[1], bufs[2]
        ));
    }
    let add_fields = [
        d.conv_zp,
        d.res_zp,
        d.left_shift,
        d.a_mult,
        d.a_shift,
        d.b_mult,
        d.b_shift,
        d.add_mult,
        d.add_shift,
    ];
    if ![
        d.in_zp,
        d.out_zp,
        d.act_min,
        d.act_max,
        d.conv_zp,
        d.res_zp,
        d.filter_zp,
    ]
    .into_iter()
    .all(int8)
        || d.act_min.get() > d.act_max.get()
    {
        return Err("a zero point or clamp is outside int8 (or the clamp is empty)".into());
    }
    if residual {
        let shift_ok = |v: I32| (-31..=0).contains(&v.get());
        if !(0..=20).contains(&d.left_shift.get())
            || [d.a_mult, d.b_mult, d.add_mult].iter().any(|m| m.get() < 0)
            || ![d.a_shift, d.b_shift, d.add_shift]
                .into_iter()
                .all(shift_ok)
        {
            return Err(
                "the residual ADD's multipliers or shifts are out of TFLite's range".into(),
            );
        }
    } else if add_fields.iter().any(|v| v.get() != 0) {
        return Err("ADD fields are set on a layer without a residual".into());
    }
    let (first, end) = (
        u64::from(h.params_off.get()) / BEAT as u64,
        (u64::from(h.params_off.get()) + u64::from(h.params_bytes.get())) / BEAT as u64,
    );
    let (off, beats) = (
        u64::from(d.params_off.get()),
        u64::from(d.params_beats.get()),
    );
    if off < first || off + beats > end || beats == 0 || beats % 2 != 0 {
        return Err(format!(
            "parameter blob at beat {off}, {beats} beats: outside the parameter section (beats {first}..{end}) or not an even number"
        ));
    }
    Ok(())
}

/// The chain between descriptors, as the kernel checks it: the first layer reads the
/// hand-off in fm0, each later one what its predecessor wrote, a residual has the output's
/// shape, the last output is the header's.
struct Chain {
    buf: u32,
    shape: [u32; 3],
    maps: [[u32; 3]; 4],
}

impl Chain {
    fn start(h: &BundleHeader) -> Chain {
        // The hand-off's shape is the instance's; the kernel checks its size.
        let _ = h;
        Chain {
            buf: BufferId::Fm0 as u32,
            shape: [0; 3],
            maps: [[0; 3]; 4],
        }
    }

    fn next(&mut self, d: &LayerDesc) -> Result<(), String> {
        if d.in_buf.get() != self.buf {
            return Err(format!(
                "reads fm{} but the map before it is in fm{} (the first layer reads the hand-off in fm0)",
                d.in_buf.get(),
                self.buf
            ));
        }
        let input = [d.in_h.get(), d.in_w.get(), d.in_c.get()];
        let output = [d.out_h.get(), d.out_w.get(), d.out_c.get()];
        if self.shape != [0; 3] && input != self.shape {
            return Err(format!(
                "reads a {input:?} map, the layer before wrote {:?}",
                self.shape
            ));
        }
        if d.flags.get() & FLAG_RESIDUAL != 0
            && self.maps[d.res_buf.get() as usize] != output
            && !(self.shape == [0; 3] && d.res_buf.get() == BufferId::Fm0 as u32)
        {
            return Err(format!(
                "adds the map in fm{}, which is not a {output:?} map",
                d.res_buf.get()
            ));
        }
        if self.shape == [0; 3] {
            self.maps[BufferId::Fm0 as usize] = input;
        }
        self.buf = d.out_buf.get();
        self.shape = output;
        self.maps[self.buf as usize] = output;
        Ok(())
    }

    fn finish(&self, h: &BundleHeader) -> Result<(), String> {
        let [oh, ow, oc] = self.shape.map(u64::from);
        if oh * ow * (fm_words(oc as usize) * FM_LANES) as u64 != u64::from(h.output_bytes.get()) {
            return Err(format!(
                "the last layer writes {oh}x{ow}x{oc} (whole 16-channel words per pixel), the header's output is {} bytes",
                h.output_bytes.get()
            ));
        }
        Ok(())
    }
}

/// A sequence of 16-byte beats under construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Beats {
    bytes: Vec<u8>,
}

impl Beats {
    /// Beats so far.
    pub fn len(&self) -> usize {
        self.bytes.len() / BEAT
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// int32 entries, zero-padded to whole beats.
    pub fn table(&mut self, entries: impl IntoIterator<Item = i32>) {
        for v in entries {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.pad();
    }

    /// Bytes, zero-padded to whole beats.
    pub fn words(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        self.pad();
    }

    fn pad(&mut self) {
        self.bytes
            .resize(self.bytes.len().next_multiple_of(BEAT), 0);
    }
}

/// Builds the SESL weight section, blob by blob in chain order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeslSection {
    beats: Beats,
}

impl SeslSection {
    /// An empty section.
    pub fn new() -> SeslSection {
        SeslSection::default()
    }

    /// Appends a conv-like stage: its scalars, per-channel tables (one entry per output
    /// channel each, padded to whole beats) and its weight words in its memory's order,
    /// `word` bytes each, each padded to whole beats.
    pub fn conv_like(
        &mut self,
        head: SeslLayerHead,
        bias: &[i32],
        multipliers: &[i32],
        shifts: &[i32],
        words: &[i8],
        word: usize,
    ) {
        self.beats.words(head.as_bytes());
        for table in [bias, multipliers, shifts] {
            self.beats.table(table.iter().copied());
        }
        for w in words.chunks(word) {
            self.beats.words(w.as_bytes());
        }
    }

    /// Appends an ADD.
    pub fn add(&mut self, add: SeslAdd) {
        self.beats.words(add.as_bytes());
    }

    /// The section's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.beats.bytes()
    }
}

/// A conv-like layer's per-channel tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelTables {
    /// int32 bias per output channel.
    pub bias: Vec<i32>,
    /// Q31 multiplier per output channel.
    pub multipliers: Vec<i32>,
    /// Shift per output channel.
    pub shifts: Vec<i32>,
}

impl ChannelTables {
    /// The three tables for channels `first .. first + n` (zero past the end), each padded
    /// to whole beats.
    fn write(&self, b: &mut Beats, first: usize, n: usize) {
        for t in [&self.bias, &self.multipliers, &self.shifts] {
            b.table((first..first + n).map(|c| t.get(c).copied().unwrap_or(0)));
        }
    }
}

/// One beat of weights `w[row][col0 .. col0 + 16)` of a `rows x cols` matrix, zero past
/// its edges.
/// One beat of `w[row][col0..col0 + 16]`: zero past `rows`, `fill` past `cols`.
fn weight_beat(b: &mut Beats, w: &[i8], rows: usize, cols: usize, at: (usize, usize), fill: i8) {
    let (row, col0) = at;
    let mut beat = [0u8; BEAT];
    if row < rows {
        for (i, v) in beat.iter_mut().enumerate() {
            *v = if col0 + i < cols {
                w[row * cols + col0 + i] as u8
            } else {
                fill as u8
            };
        }
    }
    b.words(&beat);
}

/// Beats of one pointwise fold: three tables of `pe` entries, `pe x cf` weight beats.
pub fn pw_fold_beats(pe: usize, cf: usize) -> usize {
    3 * (pe / 4) + pe * cf
}

/// Beats of a depthwise layer's blob: three tables of `16 x words` entries, `taps x words`
/// weight beats, rounded up to even.
pub fn dw_block_beats(words: usize, taps: usize) -> usize {
    (12 * words + taps * words).next_multiple_of(2)
}

/// A pointwise layer's blob in the engine's order (before the split into halves): per fold
/// of `pe` output channels, the fold's tables, then for each input word, for each output
/// channel of the fold, one beat of its 16 weights. `weights` is `[out_c][in_c]`; the lanes
/// past `in_c` hold `filter_zp`, so that `w - filter_zp` makes them add nothing whatever
/// the feature map holds there.
pub fn pointwise_blob(
    weights: &[i8],
    tables: &ChannelTables,
    (in_c, out_c): (usize, usize),
    pe: usize,
    filter_zp: i8,
) -> Beats {
    let mut b = Beats::default();
    let cf = fm_words(in_c);
    for fold in 0..out_c.div_ceil(pe) {
        tables.write(&mut b, fold * pe, pe);
        for word in 0..cf {
            for row in fold * pe..(fold + 1) * pe {
                weight_beat(
                    &mut b,
                    weights,
                    out_c,
                    in_c,
                    (row, word * FM_LANES),
                    filter_zp,
                );
            }
        }
    }
    b
}

/// A depthwise layer's blob in the engine's order: the tables of `16 x words` channels,
/// then for each tap the words of its weights, one zero beat when the count is odd.
/// `weights` is `[taps][c]`.
pub fn depthwise_blob(weights: &[i8], tables: &ChannelTables, c: usize, taps: usize) -> Beats {
    let mut b = Beats::default();
    let words = fm_words(c);
    tables.write(&mut b, 0, words * FM_LANES);
    for tap in 0..taps {
        for word in 0..words {
            weight_beat(&mut b, weights, taps, c, (tap, word * FM_LANES), 0);
        }
    }
    if b.len() % 2 != 0 {
        b.words(&[0; BEAT]);
    }
    b
}

/// One SEML layer to write: its descriptor (the writer fills `magic` and the blob's place)
/// and its blob in the engine's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SemlLayer {
    /// The descriptor.
    pub desc: LayerDesc,
    /// The parameter blob ([`pointwise_blob`], [`depthwise_blob`]).
    pub blob: Beats,
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
    /// Bytes of one input image.
    pub input_bytes: u32,
    /// Bytes of one image's output tensor.
    pub output_bytes: u32,
    /// Bytes of the SESL part's output map (the hand-off to the SEML part).
    pub handoff_bytes: u32,
}

/// A blob as stored: its even beats (loader A's), then its odd beats (loader B's).
fn split_halves(blob: &Beats) -> impl Iterator<Item = &[u8]> {
    let beats: Vec<&[u8]> = blob.bytes().chunks(BEAT).collect();
    let even: Vec<&[u8]> = beats.iter().copied().step_by(2).collect();
    let odd: Vec<&[u8]> = beats.iter().copied().skip(1).step_by(2).collect();
    even.into_iter().chain(odd)
}

/// Serializes a bundle: header, descriptor table, SESL section, SEML parameters, all in
/// whole beats, checksum last.
pub fn write(spec: &BundleSpec) -> Result<Vec<u8>, BundleErrorKind> {
    let to_u32 = |v: usize, what: &'static str| {
        u32::try_from(v).map_err(|_| BundleErrorKind::TooLarge { what })
    };
    let desc_off = BundleHeader::BYTES;
    let sesl_off = desc_off + spec.layers.len() * LayerDesc::BYTES;
    let params_off = sesl_off + spec.sesl.bytes().len();
    let mut image = vec![0u8; params_off];
    image[sesl_off..params_off].copy_from_slice(spec.sesl.bytes());
    let mut descriptors = Vec::with_capacity(spec.layers.len());
    for layer in &spec.layers {
        let mut d = layer.desc;
        let mut blob = layer.blob.clone();
        if blob.len() % 2 != 0 {
            blob.words(&[0; BEAT]);
        }
        d.magic = U32::new(DESC_MAGIC);
        d.params_off = U32::new(to_u32(image.len() / BEAT, "the SEML parameter section")?);
        d.params_beats = U32::new(to_u32(blob.len(), "a parameter blob")?);
        for beat in split_halves(&blob) {
            image.extend_from_slice(beat);
        }
        descriptors.push(d);
    }
    let params_end = image.len();
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
        sesl_bytes: U32::new(to_u32(spec.sesl.bytes().len(), "the SESL section")?),
        params_off: U32::new(to_u32(params_off, "the SEML parameter section")?),
        params_bytes: U32::new(to_u32(
            params_end - params_off,
            "the SEML parameter section",
        )?),
        input_bytes: U32::new(spec.input_bytes),
        output_bytes: U32::new(spec.output_bytes),
        handoff_bytes: U32::new(spec.handoff_bytes),
        reserved: U32::new(0),
    };
    image[..BundleHeader::BYTES].copy_from_slice(header.as_bytes());
    let crc = checksum(&image);
    image[BUNDLE_CRC_OFFSET..BUNDLE_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    Ok(image)
}

/// A descriptor with the shape fields set and everything else zero, for writers and tests.
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

    /// A 4x4x16 hand-off: pointwise 16 -> 40 (fm0 -> fm1), depthwise 3x3 (fm1 -> fm2),
    /// pointwise 40 -> 16 adding the hand-off (fm2 -> fm1), pointwise 16 -> 32 (fm1 -> fm0).
    fn sample() -> BundleSpec {
        let tables = |n: usize| ChannelTables {
            bias: (0..n as i32).map(|i| i - 3).collect(),
            multipliers: vec![1 << 30; n],
            shifts: vec![-3; n],
        };
        let pw = |cin: u32, cout: u32, inb: u32, outb: u32| {
            let mut d = shaped_descriptor(
                LayerKind::Pointwise,
                [4, 4, cin],
                [4, 4, cout],
                1,
                1,
                [0, 0],
            );
            d.in_buf = U32::new(inb);
            d.out_buf = U32::new(outb);
            d.act_min = I32::new(-128);
            d.act_max = I32::new(127);
            let w: Vec<i8> = (0..cin * cout).map(|i| (i % 200) as i8).collect();
            SemlLayer {
                desc: d,
                blob: pointwise_blob(
                    &w,
                    &tables(cout as usize),
                    (cin as usize, cout as usize),
                    32,
                    0,
                ),
            }
        };
        let mut dw = shaped_descriptor(LayerKind::Depthwise, [4, 4, 40], [4, 4, 40], 3, 1, [1, 1]);
        dw.in_buf = U32::new(1);
        dw.out_buf = U32::new(2);
        dw.act_min = I32::new(-128);
        dw.act_max = I32::new(127);
        let dw_w: Vec<i8> = (0..9 * 40).map(|i| (i % 100) as i8).collect();
        let mut project = pw(40, 16, 2, 1);
        project.desc.flags = U32::new(FLAG_RESIDUAL);
        project.desc.res_buf = U32::new(0);
        project.desc.left_shift = I32::new(20);
        project.desc.a_mult = I32::new(1 << 30);
        project.desc.b_mult = I32::new(1 << 30);
        project.desc.add_mult = I32::new(1 << 30);
        project.desc.add_shift = I32::new(-19);
        let mut sesl = SeslSection::new();
        sesl.conv_like(
            SeslLayerHead::default(),
            &[1, 2],
            &[3, 4],
            &[-1, -2],
            &[5, 6, 7, 8, 9, 10],
            3,
        );
        BundleSpec {
            plan_hash: 0xdead_beef_0123_4567,
            sesl,
            layers: vec![
                pw(16, 40, 0, 1),
                SemlLayer {
                    desc: dw,
                    blob: depthwise_blob(&dw_w, &tables(40), 40, 9),
                },
                project,
                pw(16, 32, 1, 0),
            ],
            input_bytes: 48,
            output_bytes: 4 * 4 * 32,
            handoff_bytes: 4 * 4 * 16,
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
        assert_eq!(std::mem::size_of::<LayerDesc>(), 32 * 4);
        assert_eq!(BUNDLE_CRC_OFFSET, std::mem::offset_of!(BundleHeader, crc32));
    }

    #[test]
    fn blob_sizes_by_hand() {
        // 40 -> 16 at 32 channels a fold: one fold, 3 words in: 3 x 8 table beats + 32 x 3.
        assert_eq!(pw_fold_beats(32, 3), 24 + 96);
        // 40 channels = 3 words, 9 taps: 36 table beats + 27 weight beats = 63 -> 64.
        assert_eq!(dw_block_beats(3, 9), 64);
        let t = ChannelTables {
            bias: vec![7; 40],
            multipliers: vec![1; 40],
            shifts: vec![0; 40],
        };
        let w: Vec<i8> = (0..9 * 40).map(|i| i as i8).collect();
        let b = depthwise_blob(&w, &t, 40, 9);
        assert_eq!(b.len(), 64);
        // Tap 1, word 2 is beat 36 + 3 + 2 = 41: channels 32..39 of tap 1, then zeros.
        let beat = &b.bytes()[41 * BEAT..42 * BEAT];
        assert_eq!(beat[0] as i8, (40 + 32) as i8);
        assert_eq!(beat[7] as i8, (40 + 39) as i8);
        assert_eq!(&beat[8..], &[0; 8]);
        // Bias table: channels 40..47 are padding zeros.
        assert_eq!(&b.bytes()[40 * 4..41 * 4], &[0; 4]);
        let w: Vec<i8> = (0..40 * 16).map(|i| (i % 127) as i8).collect();
        let p = pointwise_blob(&w, &t, (40, 16), 32, 0);
        assert_eq!(p.len(), pw_fold_beats(32, 3));
        // Word 1 of output channel 5: beat 24 + 32 + 5, W[5][16..32].
        let beat = &p.bytes()[(24 + 32 + 5) * BEAT..(24 + 32 + 6) * BEAT];
        assert_eq!(beat[0] as i8, w[5 * 40 + 16]);
        // Output channel 20 does not exist: its beats are zero.
        assert_eq!(&p.bytes()[(24 + 20) * BEAT..(24 + 21) * BEAT], &[0; BEAT]);
    }

    #[test]
    fn round_trip_keeps_the_blobs_as_halves() {
        let spec = sample();
        let bytes = write(&spec).unwrap();
        let view = parse(&bytes, Path::new("m.fibha"), Some(0xdead_beef_0123_4567)).unwrap();
        assert_eq!(view.plan_hash(), 0xdead_beef_0123_4567);
        let h = view.header();
        assert_eq!(
            (h.layer_count.get(), h.total_bytes.get() as usize),
            (4, bytes.len())
        );
        assert_eq!(bytes.len() % BEAT, 0);
        let d = view.descriptors()[1];
        let blob = view.blob(&d);
        let logical = spec.layers[1].blob.bytes();
        let half = blob.len() / 2;
        // Logical beat 3 is loader B's second beat; logical beat 4 loader A's third.
        assert_eq!(
            &blob[half + BEAT..half + 2 * BEAT],
            &logical[3 * BEAT..4 * BEAT]
        );
        assert_eq!(&blob[2 * BEAT..3 * BEAT], &logical[4 * BEAT..5 * BEAT]);
        // SESL blob: two head beats, three one-beat tables, two 3-byte words in a beat each.
        assert_eq!(view.sesl_section().len(), 7 * BEAT);
        assert_eq!(&view.sesl_section()[5 * BEAT..5 * BEAT + 4], &[5, 6, 7, 0]);
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
            e.starts_with(&format!(
                "dir/model.fibha: bundle format version {}",
                BUNDLE_VERSION + 1
            )),
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
        let e = err_of(&good[..good.len() - 16], None);
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
        let desc = |i: usize, field: usize| BundleHeader::BYTES + i * LayerDesc::BYTES + field;
        let cases: [(usize, u32, &str); 11] = [
            (
                std::mem::offset_of!(BundleHeader, sesl_bytes),
                1 << 20,
                "SESL weight section",
            ),
            (
                std::mem::offset_of!(BundleHeader, desc_off),
                32,
                "overlaps the header",
            ),
            (
                std::mem::offset_of!(BundleHeader, output_bytes),
                100,
                "output_bytes",
            ),
            (
                desc(0, std::mem::offset_of!(LayerDesc, params_off)),
                1,
                "parameter blob",
            ),
            (
                desc(1, std::mem::offset_of!(LayerDesc, stride)),
                3,
                "stride 3",
            ),
            (
                desc(0, std::mem::offset_of!(LayerDesc, kind)),
                9,
                "unknown layer kind 9",
            ),
            (
                desc(0, std::mem::offset_of!(LayerDesc, kind)),
                1,
                "a conv layer",
            ),
            (
                desc(1, std::mem::offset_of!(LayerDesc, out_buf)),
                1,
                "read and written",
            ),
            (
                desc(3, std::mem::offset_of!(LayerDesc, in_buf)),
                2,
                "the map before it is in fm1",
            ),
            (
                desc(3, std::mem::offset_of!(LayerDesc, a_mult)),
                4,
                "ADD fields",
            ),
            (
                desc(3, std::mem::offset_of!(LayerDesc, out_c)),
                48,
                "descriptor #3",
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
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::fuzz::cases()))]
            /// Any corruption of a valid bundle, its CRC fixed so that the structure checks
            /// are reached, is either refused naming the file or still a bundle whose views
            /// stay in bounds; parsing never panics.
            #[test]
            fn corrupted_bundles_are_refused_or_in_bounds(
                edits in prop::collection::vec((0usize..8192, any::<u8>()), 1..4),
            ) {
                let good = write(&super::sample()).unwrap();
                let mut b = good.clone();
                for (pos, val) in edits {
                    let pos = pos % b.len();
                    b[pos] = val;
                }
                super::fix_crc(&mut b);
                match parse(&b, Path::new("dir/f.fibha"), None) {
                    Err(e) => {
                        let e = e.to_string();
                        prop_assert!(e.starts_with("dir/f.fibha: "), "{e}");
                    }
                    Ok(view) => {
                        prop_assert!(view.sesl_section().len() <= b.len());
                        for d in view.descriptors() {
                            prop_assert!(view.blob(d).len() <= b.len());
                        }
                    }
                }
            }

            /// Without the CRC fixed, any change is refused as a CRC mismatch (or an earlier
            /// header field), never accepted.
            #[test]
            fn a_changed_byte_without_its_crc_is_refused(pos in 0usize..8192, delta in 1u8..=255) {
                let mut b = write(&super::sample()).unwrap();
                let pos = pos % b.len();
                b[pos] = b[pos].wrapping_add(delta);
                prop_assert!(parse(&b, Path::new("f"), None).is_err());
            }
        }
    }
}
