//! The virtual board's "bitstream": the instance descriptor `fibha.bit.bin`.
//!
//! It lives here, beside the manifest, because it is part of a build directory's layout:
//! the compiler writes it and the virtual board reads it, and neither depends on the other.
//!
//! `fibha-compile build` writes, beside the plan and the weight bundle, the instance's HLS
//! C++ compiled by g++ for C simulation (an executable), and this descriptor, which the
//! runtime hands to fpga_manager exactly as it would hand a real `.bit.bin`. It is plainly
//! not a bitstream: a text file whose first line is the magic [`MAGIC`] and whose rest is
//! one JSON object:
//!
//! ```text
//! FIBHA-VBOARD-INSTANCE v1
//! {"plan_hash":"0x1f2e3d4c5b6a7988","executable":"csim/fibha_kernel",
//!  "executable_sha256":"<64 hex digits>","args":[],"modelled_cycles":3000000,
//!  "clock_mhz":200.0,"buffers":{"fibha_weights":4194304}}
//! ```
//!
//! - `plan_hash`: the plan's hash as `0x` hex (a JSON number cannot carry 64 bits safely);
//!   the kernel reports it in the `id` register.
//! - `executable`: path of the C-simulation executable, relative to the descriptor's
//!   directory. The runtime puts a symbolic link to the build directory's descriptor into
//!   `/lib/firmware`; the board resolves it and looks for the executable there and nowhere
//!   else, so a build directory works wherever it is copied or moved, and a copy without
//!   its kernel is refused, never run with another directory's. No absolute path is
//!   recorded (`origin`, written by earlier builds, is read and ignored).
//! - `executable_sha256`: the executable's SHA-256; a load refuses an executable rebuilt
//!   since (it might be another plan's).
//! - `args`: extra command-line arguments for the executable (optional).
//! - `modelled_cycles`: the cycles of one inference (the build's timed C simulation of the
//!   kernel), and `clock_mhz` the
//!   kernel clock; the power model keeps the fabric active for cycles / clock.
//! - `buffers`: minimum sizes of the u-dma-buf buffers this plan needs (optional); a load
//!   grows smaller buffers, as the bitstream's device-tree overlay would size them.
//!
//! Unknown fields are refused: a typo must not silently drop a setting. A format change
//! bumps the magic's version.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a descriptor cannot be written, read or used; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    /// The descriptor or its kernel could not be read or written.
    #[error("virtual-board instance: cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "write", ...).
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The descriptor (or its kernel) is not what a build writes.
    #[error("virtual-board instance {}: {problem}", path.display())]
    Invalid {
        /// The descriptor (or the directory it is written to).
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

impl DescriptorError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DescriptorError {
        let path = path.to_path_buf();
        move |source| DescriptorError::Io {
            action,
            path,
            source,
        }
    }

    fn invalid(path: &Path, problem: impl Into<String>) -> DescriptorError {
        DescriptorError::Invalid {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}

/// Whether `name` can name a u-dma-buf device (`/dev/NAME`): letters, digits, `_`, `-`.
pub fn is_valid_buffer_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The first line of every descriptor.
pub const MAGIC: &str = "FIBHA-VBOARD-INSTANCE v1";
/// The descriptor's file name in a build directory.
pub const FILE_NAME: &str = "fibha.bit.bin";
/// Descriptors are small; a larger file is something else (a real bitstream is ~26 MB).
const MAX_DESCRIPTOR_BYTES: u64 = 1 << 20;
/// The largest buffer a descriptor may ask the board to grow (the ZCU102's CMA is far
/// smaller); a buffer is a file the board sizes and the kernel maps.
const MAX_BUFFER_BYTES: u64 = 1 << 31;

/// What the compiler knows about a built instance; [`DescriptorSpec::write`] turns it into a
/// descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct DescriptorSpec {
    /// The plan's hash, as the kernel reports it in its `id` register.
    pub plan_hash: u64,
    /// The C-simulation executable, relative to the directory the descriptor is written to.
    pub executable: PathBuf,
    /// Extra arguments for the executable.
    pub args: Vec<String>,
    /// Cycles of one inference, as the build's timed C simulation of the kernel counted
    /// them.
    pub modelled_cycles: u64,
    /// Kernel clock in MHz.
    pub clock_mhz: f64,
    /// Minimum size of each u-dma-buf buffer the plan uses, by buffer name.
    pub buffers: BTreeMap<String, u64>,
}

/// The descriptor as stored after the magic line.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    plan_hash: String,
    executable: PathBuf,
    executable_sha256: String,
    #[serde(default)]
    args: Vec<String>,
    modelled_cycles: u64,
    clock_mhz: f64,
    #[serde(default)]
    buffers: BTreeMap<String, u64>,
    /// The absolute build directory, written by builds before descriptors became
    /// relocatable; read and ignored.
    #[serde(default, skip_serializing)]
    origin: Option<PathBuf>,
}

impl DescriptorSpec {
    /// Checks the spec, hashes the executable and writes `dir/fibha.bit.bin` (atomically:
    /// a loader never sees half a descriptor). Returns the descriptor's path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, DescriptorError> {
        let path = dir.join(FILE_NAME);
        self.validate(&path)?;
        let executable = dir.join(&self.executable);
        let sha256 = sha256_file(&executable).map_err(|e| {
            DescriptorError::invalid(&path, format!("cannot hash the executable: {e}"))
        })?;
        let stored = Stored {
            plan_hash: format!("{:#018x}", self.plan_hash),
            executable: self.executable.clone(),
            executable_sha256: hex(&sha256),
            args: self.args.clone(),
            modelled_cycles: self.modelled_cycles,
            clock_mhz: self.clock_mhz,
            buffers: self.buffers.clone(),
            origin: None,
        };
        let json = serde_json::to_string_pretty(&stored)
            .map_err(|e| DescriptorError::invalid(&path, format!("cannot encode: {e}")))?;
        let partial = dir.join(format!(".{FILE_NAME}.partial"));
        std::fs::write(&partial, format!("{MAGIC}\n{json}\n"))
            .map_err(DescriptorError::io("write", &partial))?;
        std::fs::rename(&partial, &path).map_err(DescriptorError::io("write", &path))?;
        Ok(path)
    }

    /// The modelled time of one inference.
    pub fn modelled_seconds(&self) -> f64 {
        self.modelled_cycles as f64 / (self.clock_mhz * 1e6)
    }

    fn validate(&self, path: &Path) -> Result<(), DescriptorError> {
        let bad = |problem: String| Err(DescriptorError::invalid(path, problem));
        let exe = &self.executable;
        if exe.as_os_str().is_empty() || exe.is_absolute() {
            return bad(format!(
                "executable {} must be a path relative to the descriptor's directory",
                exe.display()
            ));
        }
        if exe
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::ParentDir))
        {
            return bad(format!(
                "executable {} is not a plain relative path",
                exe.display()
            ));
        }
        if self.modelled_cycles == 0 {
            return bad("modelled_cycles is 0; the compiler's model gives every plan a positive cycle count".into());
        }
        if !crate::manifest::CLOCK_MHZ.contains(&self.clock_mhz) {
            return bad(format!(
                "clock_mhz {} is outside [{}, {}] MHz",
                self.clock_mhz,
                crate::manifest::CLOCK_MHZ.start(),
                crate::manifest::CLOCK_MHZ.end()
            ));
        }
        if let Some(arg) = self.args.iter().find(|a| a.contains('\0')) {
            return bad(format!("argument {arg:?} contains a NUL byte"));
        }
        for (name, size) in &self.buffers {
            if !is_valid_buffer_name(name) {
                return bad(format!(
                    "buffer name {name:?} is not a u-dma-buf device name (letters, digits, _ and -)"
                ));
            }
            if !(1..=MAX_BUFFER_BYTES).contains(size) {
                return bad(format!(
                    "buffers: {name} of {size} bytes is outside 1..={MAX_BUFFER_BYTES}"
                ));
            }
        }
        Ok(())
    }
}

/// A descriptor read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    /// What it describes.
    pub spec: DescriptorSpec,
    /// SHA-256 of the executable when the descriptor was written.
    pub executable_sha256: [u8; 32],
    /// The file it was read from, symbolic links resolved: the build directory's
    /// descriptor when the runtime loads it through a link in `/lib/firmware`.
    pub path: PathBuf,
}

impl Descriptor {
    /// Reads and checks the descriptor at `path` (a link is resolved first: the
    /// descriptor's directory is the one the link points into).
    pub fn read(path: &Path) -> Result<Self, DescriptorError> {
        let resolved = path
            .canonicalize()
            .map_err(DescriptorError::io("open", path))?;
        let path = resolved.as_path();
        let file = std::fs::File::open(path).map_err(DescriptorError::io("open", path))?;
        let mut bytes = Vec::new();
        file.take(MAX_DESCRIPTOR_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(DescriptorError::io("read", path))?;
        if !bytes.starts_with(MAGIC.as_bytes()) {
            let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            return Err(DescriptorError::invalid(
                path,
                format!(
                    "does not start with {MAGIC:?} (first bytes {}): the virtual board loads only instances made by `fibha-compile build`, not real bitstreams",
                    head.join(" ")
                ),
            ));
        }
        if bytes.len() as u64 > MAX_DESCRIPTOR_BYTES {
            return Err(DescriptorError::invalid(
                path,
                format!("is larger than {MAX_DESCRIPTOR_BYTES} bytes"),
            ));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| DescriptorError::invalid(path, "is not UTF-8 text"))?;
        Self::parse(&text, path)
    }

    /// Parses descriptor text; `path` is where it came from (executables resolve beside it).
    pub fn parse(text: &str, path: &Path) -> Result<Self, DescriptorError> {
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        if first.trim_end() != MAGIC {
            return Err(DescriptorError::invalid(
                path,
                format!("first line is {first:?}, expected {MAGIC:?}"),
            ));
        }
        let mut json = serde_json::Deserializer::from_str(rest);
        let stored: Stored = serde_path_to_error::deserialize(&mut json)
            .map_err(|e| match e.path().to_string().as_str() {
                "." => format!("bad descriptor JSON: {}", e.inner()),
                field => format!("{field}: {}", e.inner()),
            })
            .and_then(|stored| {
                json.end()
                    .map(|()| stored)
                    .map_err(|e| format!("bad descriptor JSON: {e}"))
            })
            .map_err(|problem| DescriptorError::invalid(path, problem))?;
        let plan_hash = parse_hash(&stored.plan_hash).ok_or_else(|| {
            DescriptorError::invalid(
                path,
                format!(
                    "plan_hash {:?} is not 0x followed by 1 to 16 hex digits",
                    stored.plan_hash
                ),
            )
        })?;
        let executable_sha256 = parse_sha256(&stored.executable_sha256).ok_or_else(|| {
            DescriptorError::invalid(
                path,
                format!(
                    "executable_sha256 {:?} is not 64 hex digits",
                    stored.executable_sha256
                ),
            )
        })?;
        let spec = DescriptorSpec {
            plan_hash,
            executable: stored.executable,
            args: stored.args,
            modelled_cycles: stored.modelled_cycles,
            clock_mhz: stored.clock_mhz,
            buffers: stored.buffers,
        };
        spec.validate(path)?;
        Ok(Self {
            spec,
            executable_sha256,
            path: path.to_path_buf(),
        })
    }

    /// The executable beside the descriptor, checked: it exists, is an executable for
    /// this machine, and has the recorded hash. Nothing else is looked at.
    pub fn locate_executable(&self) -> Result<PathBuf, DescriptorError> {
        let beside = self.path.parent().unwrap_or(Path::new("."));
        let found = beside.join(&self.spec.executable);
        let refuse = |problem: String| Err(DescriptorError::invalid(&self.path, problem));
        let metadata = match found.metadata() {
            Ok(m) if m.is_file() => m,
            Ok(_) => return refuse(format!("the kernel {} is not a file", found.display())),
            Err(e) => {
                return refuse(format!(
                    "the kernel {} is missing ({e}); a build directory must be copied with its kernel",
                    found.display()
                ));
            }
        };
        let mode = metadata.permissions().mode();
        if mode & 0o111 == 0 {
            return refuse(format!(
                "the kernel {} is not executable (mode {:o})",
                found.display(),
                mode & 0o7777
            ));
        }
        if let Some(arch) =
            foreign_architecture(&found).map_err(DescriptorError::io("read", &found))?
        {
            return refuse(format!(
                "the kernel {} is an executable for {arch}, this machine is {}: rebuild the directory here with `fibha-compile build`",
                found.display(),
                std::env::consts::ARCH
            ));
        }
        let actual = sha256_file(&found).map_err(DescriptorError::io("hash", &found))?;
        if actual != self.executable_sha256 {
            return refuse(format!(
                "the kernel {} has SHA-256 {}, but the descriptor records {}: it was rebuilt after the descriptor was written; run `fibha-compile build` again",
                found.display(),
                hex(&actual),
                hex(&self.executable_sha256)
            ));
        }
        Ok(found)
    }
}

/// The architecture an ELF executable is for, when it is not this machine's (`None` for
/// this machine's ELF files and for anything else, such as scripts).
fn foreign_architecture(path: &Path) -> std::io::Result<Option<&'static str>> {
    let mut head = [0u8; 20];
    let mut file = std::fs::File::open(path)?;
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..])? {
            0 => break,
            n => read += n,
        }
    }
    if read < head.len() || !head.starts_with(b"\x7fELF") {
        return Ok(None);
    }
    let machine = match head[5] {
        2 => u16::from_be_bytes([head[18], head[19]]),
        _ => u16::from_le_bytes([head[18], head[19]]),
    };
    let arch = match machine {
        3 => "x86",
        40 => "arm",
        62 => "x86_64",
        183 => "aarch64",
        243 => "riscv64",
        _ => "another architecture",
    };
    Ok((arch != std::env::consts::ARCH).then_some(arch))
}

fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hasher.finalize().into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hash(text: &str) -> Option<u64> {
    let digits = text.strip_prefix("0x")?;
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DescriptorSpec {
        DescriptorSpec {
            plan_hash: 0x0123_4567_89ab_cdef,
            executable: PathBuf::from("csim/kernel"),
            args: vec!["--id=0x1".into()],
            modelled_cycles: 3_000_000,
            clock_mhz: 200.0,
            buffers: BTreeMap::from([("fibha_weights".to_owned(), 4 << 20)]),
        }
    }

    fn build_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("csim")).unwrap();
        let exe = dir.path().join("csim/kernel");
        std::fs::write(&exe, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn written_descriptors_read_back() {
        let dir = build_dir();
        let path = spec().write(dir.path()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("FIBHA-VBOARD-INSTANCE v1\n{"), "{text}");
        assert!(
            text.contains("\"plan_hash\": \"0x0123456789abcdef\""),
            "{text}"
        );
        let instance = Descriptor::read(&path).unwrap();
        assert_eq!(instance.spec, spec());
        assert_eq!(
            instance.locate_executable().unwrap(),
            dir.path().join("csim/kernel")
        );
        assert!((spec().modelled_seconds() - 0.015).abs() < 1e-12);
    }

    #[test]
    fn a_link_resolves_to_its_build_directory_and_nothing_else() {
        let dir = build_dir();
        let path = spec().write(dir.path()).unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains("origin"));
        let firmware = tempfile::tempdir().unwrap();
        let link = firmware.path().join(FILE_NAME);
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let instance = Descriptor::read(&link).unwrap();
        assert_eq!(
            instance.locate_executable().unwrap(),
            dir.path().canonicalize().unwrap().join("csim/kernel")
        );
        // A plain copy elsewhere has no kernel beside it, and the original's is not used.
        let copy = firmware.path().join("copy.bit.bin");
        std::fs::copy(&path, &copy).unwrap();
        let err = Descriptor::read(&copy)
            .unwrap()
            .locate_executable()
            .unwrap_err()
            .to_string();
        assert!(err.contains("csim/kernel is missing"), "{err}");
    }

    #[test]
    fn a_rebuilt_or_missing_executable_is_refused() {
        let dir = build_dir();
        let path = spec().write(dir.path()).unwrap();
        std::fs::write(dir.path().join("csim/kernel"), b"#!/bin/sh\n# changed\n").unwrap();
        let err = Descriptor::read(&path)
            .unwrap()
            .locate_executable()
            .unwrap_err();
        assert!(err.to_string().contains("rebuilt after"), "{err}");
        std::fs::remove_file(dir.path().join("csim/kernel")).unwrap();
        let err = Descriptor::read(&path)
            .unwrap()
            .locate_executable()
            .unwrap_err();
        assert!(err.to_string().contains("csim/kernel is missing"), "{err}");
    }

    #[test]
    fn a_descriptor_of_an_earlier_build_with_origin_still_reads() {
        let dir = build_dir();
        let path = spec().write(dir.path()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let old = text.replacen("{", "{\n  \"origin\": \"/somewhere/else\",", 1);
        std::fs::write(&path, old).unwrap();
        let instance = Descriptor::read(&path).unwrap();
        assert_eq!(instance.spec, spec());
        assert!(
            instance
                .locate_executable()
                .unwrap()
                .starts_with(dir.path().canonicalize().unwrap())
        );
    }

    #[test]
    fn a_kernel_that_is_not_executable_or_for_another_machine_is_named_with_the_reason() {
        let dir = build_dir();
        let exe = dir.path().join("csim/kernel");
        let path = spec().write(dir.path()).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Descriptor::read(&path)
            .unwrap()
            .locate_executable()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("csim/kernel is not executable (mode 644)"),
            "{err}"
        );

        // An ELF header whose machine is not this one's.
        let other = if std::env::consts::ARCH == "aarch64" {
            62u16
        } else {
            183
        };
        let mut elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
        elf.resize(18, 0);
        elf.extend_from_slice(&other.to_le_bytes());
        elf.resize(64, 0);
        std::fs::write(&exe, &elf).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = spec().write(dir.path()).unwrap();
        let err = Descriptor::read(&path)
            .unwrap()
            .locate_executable()
            .unwrap_err()
            .to_string();
        let arch = if other == 62 { "x86_64" } else { "aarch64" };
        assert!(
            err.contains(&format!(
                "is an executable for {arch}, this machine is {}",
                std::env::consts::ARCH
            )),
            "{err}"
        );
    }

    #[test]
    fn real_bitstreams_and_bad_fields_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let bit = dir.path().join("design.bit.bin");
        std::fs::write(&bit, b"\xff\xff\xff\xff\xaa\x99\x55\x66").unwrap();
        let err = Descriptor::read(&bit).unwrap_err().to_string();
        assert!(
            err.contains("not real bitstreams") && err.contains("ff ff ff ff"),
            "{err}"
        );

        let here = Path::new("x.bit.bin");
        let good = format!(
            "{MAGIC}\n{{\"plan_hash\":\"0x1\",\"executable\":\"k\",\"executable_sha256\":\"{}\",\"modelled_cycles\":1,\"clock_mhz\":200}}",
            "0".repeat(64)
        );
        assert!(Descriptor::parse(&good, here).is_ok());
        for (from, to, expect) in [
            ("\"0x1\"", "\"12\"", "plan_hash"),
            ("\"k\"", "\"/abs/k\"", "relative"),
            ("\"clock_mhz\":200", "\"clock_mhz\":0", "clock_mhz"),
            (
                "\"modelled_cycles\":1",
                "\"modelled_cycles\":0",
                "modelled_cycles is 0",
            ),
            ("\"clock_mhz\"", "\"clock\"", "unknown field"),
            (
                "\"clock_mhz\":200",
                "\"clock_mhz\":200,\"buffers\":{\"fibha_weights\":18446744073709551615}",
                "buffers: fibha_weights of 18446744073709551615 bytes is outside",
            ),
            (
                "\"modelled_cycles\":1",
                "\"modelled_cycles\":-1",
                "modelled_cycles: invalid value",
            ),
            (MAGIC, "FIBHA-VBOARD-INSTANCE v2", "first line"),
        ] {
            let bad = good.replace(from, to);
            let err = Descriptor::parse(&bad, here).unwrap_err().to_string();
            assert!(err.contains(expect), "{to}: {err}");
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// The fields of a descriptor, and one that is not.
        const FIELDS: [&str; 9] = [
            "plan_hash",
            "executable",
            "executable_sha256",
            "args",
            "modelled_cycles",
            "clock_mhz",
            "buffers",
            "origin",
            "no_such_field",
        ];

        fn descriptor(fields: &serde_json::Map<String, serde_json::Value>) -> String {
            format!("{MAGIC}\n{}\n", serde_json::Value::Object(fields.clone()))
        }

        fn good_fields() -> serde_json::Map<String, serde_json::Value> {
            let stored = Stored {
                plan_hash: "0x0123456789abcdef".into(),
                executable: "csim/kernel".into(),
                executable_sha256: "ab".repeat(32),
                args: vec!["--trace".into()],
                modelled_cycles: 349_650,
                clock_mhz: 200.0,
                buffers: BTreeMap::from([("fibha_in0".to_owned(), 150_528)]),
                origin: None,
            };
            match serde_json::to_value(stored).unwrap() {
                serde_json::Value::Object(map) => map,
                _ => unreachable!("a struct serializes to an object"),
            }
        }

        fn json_values() -> impl Strategy<Value = serde_json::Value> {
            use serde_json::json;
            prop_oneof![
                Just(json!(null)),
                any::<i64>().prop_map(|n| json!(n)),
                any::<f64>()
                    .prop_filter("JSON numbers are finite", |x| x.is_finite())
                    .prop_map(|x| json!(x)),
                "(0x)?[0-9a-fA-F]{0,18}".prop_map(|s| json!(s)),
                "[a-z./]{0,12}".prop_map(|s| json!(s)),
                prop::collection::vec("[ -~]{0,6}", 0..3).prop_map(|v| json!(v)),
                ("[a-z_]{1,10}", any::<u64>()).prop_map(|(k, v)| json!({ k: v })),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::fuzz::cases()))]

            /// Setting or removing one field of a descriptor gives a descriptor that reads
            /// back the same after being written again, or a refusal naming the file and the
            /// field.
            #[test]
            fn descriptor_edits_round_trip_or_name_file_and_field(
                field in 0..FIELDS.len(), remove in any::<bool>(), value in json_values(),
            ) {
                let field = FIELDS[field];
                let mut fields = good_fields();
                if remove {
                    fields.remove(field);
                } else {
                    fields.insert(field.into(), value);
                }
                let here = Path::new("dir/fibha.bit.bin");
                match Descriptor::parse(&descriptor(&fields), here) {
                    Ok(read) => {
                        let stored = Stored {
                            plan_hash: format!("{:#x}", read.spec.plan_hash),
                            executable: read.spec.executable.clone(),
                            executable_sha256: hex(&read.executable_sha256),
                            args: read.spec.args.clone(),
                            modelled_cycles: read.spec.modelled_cycles,
                            clock_mhz: read.spec.clock_mhz,
                            buffers: read.spec.buffers.clone(),
                            origin: None,
                        };
                        let text = format!("{MAGIC}\n{}", serde_json::to_string(&stored).unwrap());
                        prop_assert_eq!(Descriptor::parse(&text, here).unwrap(), read);
                    }
                    Err(e) => {
                        let text = e.to_string();
                        prop_assert!(text.starts_with("virtual-board instance dir/fibha.bit.bin: "), "{}", text);
                        prop_assert!(text.contains(field) || (field == "buffers" && text.contains("buffer")), "{} does not name {}", text, field);
                    }
                }
            }

            /// Any byte edits of a descriptor never panic; a refusal names the file.
            #[test]
            fn corrupted_descriptors_never_panic(
                edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            ) {
                let mut bytes = descriptor(&good_fields()).into_bytes();
                for (at, v) in edits {
                    let at = at % bytes.len();
                    bytes[at] = v;
                }
                let text = String::from_utf8_lossy(&bytes);
                if let Err(e) = Descriptor::parse(&text, Path::new("f")) {
                    prop_assert!(e.to_string().starts_with("virtual-board instance f: "), "{}", e);
                }
            }
        }
    }
}
