//! Small readers and writers for sysfs-style attribute files.
//!
//! Sysfs attributes are short text files: one value, a trailing newline. Numbers come in
//! decimal or `0x` hex depending on the driver (`size` is decimal, UIO's `addr` and
//! u-dma-buf's `phys_addr` are hex), so the number reader takes both.

use std::path::{Path, PathBuf};

use crate::error::{BoardError, Result};

/// The whole attribute, without surrounding white space.
pub(crate) fn read_trimmed(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(BoardError::io("read", path))?;
    Ok(text.trim().to_owned())
}

/// The attribute if the file exists, `None` if it does not.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BoardError::io("read", path)(e)),
    }
}

/// A number in decimal or `0x` hex.
pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    let text = read_trimmed(path)?;
    parse_u64(&text).ok_or(BoardError::Parse {
        path: path.to_path_buf(),
        expected: "an unsigned number (decimal or 0x hex)",
        found: text,
    })
}

/// Parses decimal or `0x`/`0X` hex.
pub(crate) fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Writes `value` as the whole attribute. Opening with truncation matters for the
/// virtual board, whose attributes are plain files; sysfs ignores it.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(BoardError::io("write", path))
}

/// Writes `value` in decimal as the whole attribute without allocating (the DMA syncs of
/// every inference come through here).
pub(crate) fn write_u64(path: &Path, value: u64) -> Result<()> {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    std::fs::write(path, &digits[start..]).map_err(BoardError::io("write", path))
}

/// Entries of `dir` as (file name, path), sorted by name with numbers in numeric order
/// (`uio2` before `uio10`). A missing directory gives an empty list.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BoardError::io("list", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(BoardError::io("list", dir))?;
        if let Some(name) = entry.file_name().to_str() {
            out.push((name.to_owned(), entry.path()));
        }
    }
    out.sort_by_key(|(name, _)| natural_key(name));
    Ok(out)
}

/// The number at the end of a name like `uio12` or `channel-1`.
pub(crate) fn trailing_number(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.parse().ok()
}

fn natural_key(name: &str) -> (String, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, number) = name.split_at(name.len() - digits);
    (stem.to_owned(), number.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_both_bases() {
        assert_eq!(parse_u64("4096"), Some(4096));
        assert_eq!(parse_u64("0x000000003f000000"), Some(0x3f00_0000));
        assert_eq!(parse_u64("0X10"), Some(16));
        assert_eq!(parse_u64("-1"), None);
        assert_eq!(parse_u64("0xg"), None);
    }

    #[test]
    fn decimal_writes_match_to_string() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attr");
        for value in [0, 7, 10, 4096, u64::MAX] {
            write_u64(&path, value).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), value.to_string());
        }
    }

    #[test]
    fn listing_is_in_numeric_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["hwmon10", "hwmon2", "hwmon1"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        let names: Vec<_> = list_dir(dir.path())
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["hwmon1", "hwmon2", "hwmon10"]);
        assert!(list_dir(&dir.path().join("missing")).unwrap().is_empty());
    }
}
