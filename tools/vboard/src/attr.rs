//! Writing the sysfs-style files of the layout.
//!
//! Readers (the runtime) may open an attribute at any moment, so every value the board
//! publishes while serving is replaced atomically: written to a hidden temporary file in
//! the same directory, then renamed over the attribute. A reader sees the old value or the
//! new one, never a torn or empty one. Files the runtime writes (`firmware`, `flags`, the
//! sync attributes) are created once and then only read by the board.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `value` and a trailing newline to a file no reader can be looking at yet (the
/// layout before `ready`, a directory not yet linked into its class). A plain write costs
/// a tenth of a rename on a disk-backed root.
pub fn write_new(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, format!("{value}\n")).map_err(Error::io("write", path))
}

/// Replaces `path` with `value` and a trailing newline, atomically.
pub fn publish(path: &Path, value: &str) -> Result<()> {
    let temp = temp_path(path);
    std::fs::write(&temp, format!("{value}\n")).map_err(Error::io("write", &temp))?;
    std::fs::rename(&temp, path).map_err(Error::io("replace", path))
}

/// `dir/.name.tmp` beside `path`; the leading dot keeps it out of sysfs-style listings
/// that look for `hwmonN` or `mapN`.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Reads a short attribute without its surrounding white space; `None` if it is missing.
/// Reads at most 4 KiB, the size of a sysfs attribute.
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path)(e)),
    };
    let mut text = String::new();
    file.take(4096)
        .read_to_string(&mut text)
        .map_err(Error::io("read", path))?;
    Ok(Some(text.trim().to_owned()))
}

/// Creates `dir` and its parents.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))
}

/// Makes `link` a symbolic link to `target`, replacing whatever was there.
pub fn symlink(target: &str, link: &Path) -> Result<()> {
    remove_if_present(link)?;
    std::os::unix::fs::symlink(target, link).map_err(Error::io("create link", link))
}

/// Removes a file or link; a missing one is fine.
pub fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path)(e)),
    }
}

/// Removes a directory tree; a missing one is fine.
pub fn remove_tree_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path)(e)),
    }
}

/// Parses decimal or `0x` hex, as sysfs attributes hold them.
pub fn parse_u64(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("power1_input");
        publish(&path, "12").unwrap();
        publish(&path, "345").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "345\n");
        assert_eq!(read_optional(&path).unwrap().as_deref(), Some("345"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(read_optional(&dir.path().join("missing")).unwrap(), None);
    }

    #[test]
    fn numbers_in_both_bases() {
        assert_eq!(parse_u64("0x7000000"), Some(0x700_0000));
        assert_eq!(parse_u64(" 42\n"), Some(42));
        assert_eq!(parse_u64("x"), None);
    }
}
