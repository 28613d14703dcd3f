//! Device-tree overlays through configfs, as the virtual board's "kernel" handles them.
//!
//! The runtime applies an overlay by creating `overlays/NAME` and writing the `.dtbo`'s
//! file name (relative to `/lib/firmware`) to `NAME/path`, or the blob itself to
//! `NAME/dtbo`. A kernel applies it inside that write; the board notices within one check
//! interval, validates the blob (flattened-device-tree magic 0xd00dfeed and a `totalsize`
//! that fits the file) and writes `NAME/status`: `applied`, or `unapplied` with the reason
//! logged, which is what the kernel's configfs item reports. Nothing else changes: the
//! nodes the overlay describes (the UIO device and the buffers) are laid out from the
//! start. Removing the directory removes the overlay.
//!
//! As the kernel's `of-fpga-region` does, an overlay that programs the FPGA (one with a
//! `firmware-name` property) claims the region until it is removed; a second one is refused
//! with the kernel's reason, "Region already has overlay applied". Overlays without one
//! (fibha's own, marked `external-fpga-config`) claim nothing.
//!
//! A plain directory cannot block the `path` write until the board has looked, so an
//! `unapplied` verdict reaches a runtime that reads `status` after the apply call returns,
//! not the call itself (`fibha-board`'s `Overlay::apply` counts an item without `status` as
//! applied).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::attr;
use crate::error::{Error, Result};

const FDT_MAGIC: u32 = 0xd00d_feed;
/// Size of a flattened device tree's header (version 17).
const FDT_HEADER_BYTES: usize = 40;

/// Watches the overlays directory.
#[derive(Debug)]
pub struct OverlayWatcher {
    dir: PathBuf,
    firmware_dir: PathBuf,
    /// Items handled so far, with what their `path` (or `dtbo`) held.
    seen: BTreeMap<String, String>,
    /// The applied item that programmed the FPGA and so holds the region.
    region: Option<String>,
}

impl OverlayWatcher {
    /// Watches `dir`, resolving `path` attributes in `firmware_dir`.
    pub fn new(dir: &Path, firmware_dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            firmware_dir: firmware_dir.to_path_buf(),
            seen: BTreeMap::new(),
            region: None,
        }
    }

    /// Handles items created or removed since the last check.
    pub fn check(&mut self) -> Result<()> {
        let mut present = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("list", &self.dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(Error::io("list", &self.dir))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !entry.path().is_dir() {
                continue;
            }
            present.push(name.clone());
            self.check_item(&name, &entry.path())?;
        }
        if self.region.as_ref().is_some_and(|r| !present.contains(r)) {
            self.region = None;
        }
        self.seen.retain(|name, source| {
            let keep = present.contains(name);
            if !keep {
                tracing::info!(overlay = %name, source = %source, "device-tree overlay removed");
            }
            keep
        });
        Ok(())
    }

    fn check_item(&mut self, name: &str, item: &Path) -> Result<()> {
        let path = attr::read_optional(&item.join("path"))?.unwrap_or_default();
        let blob_file = item.join("dtbo");
        let has_blob = blob_file.metadata().is_ok_and(|m| m.len() > 0);
        let source = if !path.is_empty() {
            format!("path {path}")
        } else if has_blob {
            "dtbo blob".to_owned()
        } else {
            return Ok(()); // created, nothing written yet
        };
        if self.seen.get(name) == Some(&source) {
            return Ok(());
        }
        let verdict = if path.is_empty() {
            validate_fdt(&blob_file)
        } else {
            self.validate_path(&path)
        }
        .and_then(|programs| self.claim_region(name, programs));
        let status = match &verdict {
            Ok(()) => {
                tracing::info!(overlay = %name, %source, "device-tree overlay applied");
                "applied"
            }
            Err(reason) => {
                tracing::warn!(overlay = %name, %source, %reason, "device-tree overlay not applied");
                "unapplied"
            }
        };
        // A direct write, not a rename: a temporary file would make the runtime's rmdir of
        // the item fail if it removed the overlay at that moment.
        match std::fs::write(item.join("status"), format!("{status}\n")) {
            Ok(()) => {}
            // The item went away meanwhile: nothing to report to.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("write", &item.join("status"))(e)),
        }
        self.seen.insert(name.to_owned(), source);
        Ok(())
    }

    /// An overlay that programs the FPGA takes the region, unless another holds it.
    fn claim_region(&mut self, name: &str, programs: bool) -> Result<(), String> {
        match &self.region {
            _ if !programs => Ok(()),
            Some(holder) if holder != name => Err(format!(
                "Region already has overlay applied (overlay {holder} programmed the FPGA)"
            )),
            _ => {
                self.region = Some(name.to_owned());
                Ok(())
            }
        }
    }

    fn validate_path(&self, name: &str) -> Result<bool, String> {
        if name.contains('/') || name == ".." {
            return Err(format!(
                "{name:?} is not a file name in {}",
                self.firmware_dir.display()
            ));
        }
        validate_fdt(&self.firmware_dir.join(name))
    }
}

/// Checks that `path` holds a flattened device tree; whether it programs the FPGA (names a
/// `firmware-name` property: property names live in the strings block).
fn validate_fdt(path: &Path) -> Result<bool, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let word = |at: usize| -> Option<u32> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    if word(0) != Some(FDT_MAGIC) {
        return Err(format!(
            "{} is not a flattened device tree (no 0xd00dfeed magic)",
            path.display()
        ));
    }
    match word(4) {
        Some(total) if (FDT_HEADER_BYTES..=bytes.len()).contains(&(total as usize)) => {
            let strings = word(12).zip(word(32)).and_then(|(off, size)| {
                bytes.get(off as usize..(off as usize).checked_add(size as usize)?)
            });
            Ok(strings.is_some_and(|s| s.split(|&b| b == 0).any(|name| name == b"firmware-name")))
        }
        Some(total) => Err(format!(
            "{}: header totalsize {total} does not fit the {}-byte file",
            path.display(),
            bytes.len()
        )),
        None => Err(format!("{}: truncated header", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal FDT: the header with magic and totalsize, the rest zero.
    fn fdt(total: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; total as usize];
        bytes[0..4].copy_from_slice(&FDT_MAGIC.to_be_bytes());
        bytes[4..8].copy_from_slice(&total.to_be_bytes());
        bytes
    }

    #[test]
    fn items_get_a_status_once_and_removals_are_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let overlays = dir.path().join("overlays");
        let firmware = dir.path().join("firmware");
        std::fs::create_dir_all(&overlays).unwrap();
        std::fs::create_dir_all(&firmware).unwrap();
        std::fs::write(firmware.join("good.dtbo"), fdt(64)).unwrap();
        std::fs::write(firmware.join("bad.dtbo"), b"not a tree").unwrap();
        let mut watcher = OverlayWatcher::new(&overlays, &firmware);

        for (item, path) in [
            ("a", "good.dtbo"),
            ("b", "bad.dtbo"),
            ("c", "missing.dtbo"),
            ("d", "../x"),
        ] {
            std::fs::create_dir(overlays.join(item)).unwrap();
            std::fs::write(overlays.join(item).join("path"), path).unwrap();
        }
        std::fs::create_dir(overlays.join("e")).unwrap();
        std::fs::write(overlays.join("e/dtbo"), fdt(48)).unwrap();
        std::fs::create_dir(overlays.join("f")).unwrap(); // nothing written yet
        watcher.check().unwrap();
        let status = |item: &str| std::fs::read_to_string(overlays.join(item).join("status")).ok();
        assert_eq!(status("a").as_deref(), Some("applied\n"));
        assert_eq!(status("b").as_deref(), Some("unapplied\n"));
        assert_eq!(status("c").as_deref(), Some("unapplied\n"));
        assert_eq!(status("d").as_deref(), Some("unapplied\n"));
        assert_eq!(status("e").as_deref(), Some("applied\n"));
        assert_eq!(status("f"), None);

        std::fs::remove_dir_all(overlays.join("a")).unwrap();
        watcher.check().unwrap();
        assert!(!watcher.seen.contains_key("a"));
        assert!(validate_fdt(&firmware.join("good.dtbo")).is_ok());
        std::fs::write(firmware.join("short.dtbo"), &fdt(64)[..50]).unwrap();
        assert!(
            validate_fdt(&firmware.join("short.dtbo"))
                .unwrap_err()
                .contains("totalsize")
        );
    }

    /// An FDT whose strings block (at 64, as `off_dt_strings` and `size_dt_strings` say)
    /// holds these property names.
    fn fdt_with_properties(names: &[&str]) -> Vec<u8> {
        let strings: Vec<u8> = names
            .iter()
            .flat_map(|n| [n.as_bytes(), b"\0"].concat())
            .collect();
        let mut bytes = fdt(64 + strings.len() as u32);
        bytes[12..16].copy_from_slice(&64u32.to_be_bytes());
        bytes[32..36].copy_from_slice(&(strings.len() as u32).to_be_bytes());
        bytes[64..].copy_from_slice(&strings);
        bytes
    }

    #[test]
    fn a_second_overlay_that_programs_the_fpga_is_refused_until_the_first_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let overlays = dir.path().join("overlays");
        let firmware = dir.path().join("firmware");
        std::fs::create_dir_all(&overlays).unwrap();
        std::fs::create_dir_all(&firmware).unwrap();
        let programs = fdt_with_properties(&["#address-cells", "firmware-name", "resets"]);
        std::fs::write(firmware.join("boot.dtbo"), &programs).unwrap();
        std::fs::write(firmware.join("other.dtbo"), &programs).unwrap();
        std::fs::write(
            firmware.join("nodes.dtbo"),
            fdt_with_properties(&["external-fpga-config", "compatible"]),
        )
        .unwrap();
        let mut watcher = OverlayWatcher::new(&overlays, &firmware);
        let apply = |item: &str, path: &str, watcher: &mut OverlayWatcher| {
            std::fs::create_dir(overlays.join(item)).unwrap();
            std::fs::write(overlays.join(item).join("path"), path).unwrap();
            watcher.check().unwrap();
            std::fs::read_to_string(overlays.join(item).join("status")).unwrap()
        };
        assert_eq!(apply("full", "boot.dtbo", &mut watcher), "applied\n");
        assert_eq!(apply("fibha", "nodes.dtbo", &mut watcher), "applied\n");
        assert_eq!(apply("second", "other.dtbo", &mut watcher), "unapplied\n");
        std::fs::remove_dir_all(overlays.join("second")).unwrap();
        std::fs::remove_dir_all(overlays.join("full")).unwrap();
        watcher.check().unwrap();
        assert_eq!(apply("third", "other.dtbo", &mut watcher), "applied\n");
    }
}
