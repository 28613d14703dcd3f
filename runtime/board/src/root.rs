//! The root directory under which the board's Linux interfaces are found.
//!
//! On a board the root is `/`. The virtual board and the tests lay out the same files
//! (`sys/class/...`, `dev/...`, `lib/firmware`) under another directory, and every path this
//! crate uses is built by [`Root::join`] so the code cannot tell the difference.
//!
//! Invariant: symbolic links are followed *inside* the root ([`Root::resolve`]): an absolute
//! link target is taken relative to the root and `..` never climbs above it, the way a
//! chroot would see it. Sysfs is made of relative links (`/sys/class/hwmon/hwmon3 ->
//! ../../devices/...`), and a fixture's absolute links must not escape into the host's `/sys`.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::error::{BoardError, Result};

/// Symbolic links followed per resolution before giving up, as the kernel's `MAXSYMLINKS`.
const MAX_LINK_HOPS: usize = 40;

/// A directory that stands for `/` of the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    path: PathBuf,
}

impl Default for Root {
    fn default() -> Self {
        Self::system()
    }
}

impl Root {
    /// The running system's own root, `/`.
    pub fn system() -> Self {
        Self::new("/")
    }

    /// A root at `path` (a virtual board or a test fixture).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The root directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of the board's absolute path `absolute` under this root, for example
    /// `join("/sys/class/uio")`. A relative path is taken as relative to the root.
    pub fn join(&self, absolute: impl AsRef<Path>) -> PathBuf {
        let relative = absolute
            .as_ref()
            .components()
            .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)));
        let mut out = self.path.clone();
        out.extend(relative);
        out
    }

    /// Follows every symbolic link in `path` (a path under this root, as made by
    /// [`Root::join`]) without leaving the root, and returns the real path. Components that
    /// do not exist are kept as they are, so the result may name a missing file.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf> {
        let inside = path
            .strip_prefix(&self.path)
            .map_err(|_| BoardError::Layout {
                path: path.to_path_buf(),
                problem: format!("is not under the board root {}", self.path.display()),
            })?;
        let mut pending: VecDeque<Part> = parts(inside).collect();
        let mut resolved: Vec<OsString> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop_front() {
            match part {
                Part::Root => resolved.clear(),
                Part::Parent => {
                    resolved.pop();
                }
                Part::Name(name) => {
                    resolved.push(name);
                    let real = self.real(&resolved);
                    let Some(target) = read_link_if_any(&real)? else {
                        continue;
                    };
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err(BoardError::Layout {
                            path: path.to_path_buf(),
                            problem: format!("more than {MAX_LINK_HOPS} symbolic links"),
                        });
                    }
                    resolved.pop();
                    for part in parts(&target).collect::<Vec<_>>().into_iter().rev() {
                        pending.push_front(part);
                    }
                }
            }
        }
        Ok(self.real(&resolved))
    }

    fn real(&self, components: &[OsString]) -> PathBuf {
        let mut out = self.path.clone();
        out.extend(components);
        out
    }
}

/// One step of a path walk, owned so link targets can be spliced into the walk.
enum Part {
    Root,
    Parent,
    Name(OsString),
}

fn parts(path: &Path) -> impl Iterator<Item = Part> + '_ {
    path.components().filter_map(|c| match c {
        Component::RootDir | Component::Prefix(_) => Some(Part::Root),
        Component::ParentDir => Some(Part::Parent),
        Component::CurDir => None,
        Component::Normal(name) => Some(Part::Name(name.to_owned())),
    })
}

fn read_link_if_any(path: &Path) -> Result<Option<PathBuf>> {
    match path.symlink_metadata() {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(path)
            .map(Some)
            .map_err(BoardError::io("read link", path)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BoardError::io("inspect", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn join_strips_the_leading_slash() {
        let root = Root::new("/tmp/vboard");
        assert_eq!(
            root.join("/sys/class/uio"),
            Path::new("/tmp/vboard/sys/class/uio")
        );
        assert_eq!(Root::system().join("/dev/uio0"), Path::new("/dev/uio0"));
    }

    #[test]
    fn relative_links_resolve_against_the_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let dev = root.join("/sys/devices/platform/i2c-0/i2c-2/2-0040/hwmon/hwmon0");
        std::fs::create_dir_all(&dev).unwrap();
        symlink("../../../2-0040", dev.join("device")).unwrap();
        std::fs::create_dir_all(root.join("/sys/class/hwmon")).unwrap();
        symlink(
            "../../devices/platform/i2c-0/i2c-2/2-0040/hwmon/hwmon0",
            root.join("/sys/class/hwmon/hwmon0"),
        )
        .unwrap();
        let resolved = root
            .resolve(&root.join("/sys/class/hwmon/hwmon0/device"))
            .unwrap();
        assert_eq!(
            resolved,
            root.join("/sys/devices/platform/i2c-0/i2c-2/2-0040")
        );
    }

    #[test]
    fn absolute_links_and_dotdot_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        std::fs::create_dir_all(root.join("/a")).unwrap();
        symlink("/b/c", root.join("/a/abs")).unwrap();
        symlink("../../../../../../x", root.join("/a/up")).unwrap();
        assert_eq!(
            root.resolve(&root.join("/a/abs")).unwrap(),
            root.join("/b/c")
        );
        assert_eq!(root.resolve(&root.join("/a/up")).unwrap(), root.join("/x"));
    }

    #[test]
    fn link_loops_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        symlink("loop", root.join("/loop")).unwrap();
        let err = root.resolve(&root.join("/loop")).unwrap_err();
        assert!(err.to_string().contains("symbolic links"), "{err}");
    }
}
