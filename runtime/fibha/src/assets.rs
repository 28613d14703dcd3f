//! Where the model, labels and photos that fibha ships are found.
//!
//! Looked up in order: `$FIBHA_ASSETS`, `<executable dir>/../share/fibha` (an installed
//! runtime, as the PetaLinux recipe lays it out), then the source tree the binary was
//! built from (a `cargo run` in a checkout).

use std::path::PathBuf;

/// The model `fibha` uses when no `--model` is given.
pub const DEFAULT_MODEL: &str = "models/tf2_mobilenet_v2_1.0_224_ptq.tflite";
/// The accelerator instance `fibha` runs on the board backend when no `--model` is given:
/// a build directory of `fibha-compile build` for the default model on the ZCU102.
pub const DEFAULT_INSTANCE: &str = "instances/mobilenet_v2_zcu102";
/// The ImageNet labels, 1001 lines, index 0 = background.
pub const DEFAULT_LABELS: &str = "imagenet_labels.txt";

/// The first assets directory that exists, or the source tree's (for error messages).
pub fn assets_dir() -> PathBuf {
    let from_env = std::env::var_os("FIBHA_ASSETS").map(PathBuf::from);
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("share/fibha")));
    let source_tree = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"));
    let dir = from_env
        .into_iter()
        .chain(installed)
        .find(|d| d.join(DEFAULT_LABELS).is_file())
        .unwrap_or(source_tree);
    shorten(dir)
}

/// The path relative to the working directory when it lies below it, else canonical:
/// what a person reading the output wants to see.
fn shorten(dir: PathBuf) -> PathBuf {
    let Ok(canonical) = dir.canonicalize() else {
        return dir;
    };
    std::env::current_dir()
        .ok()
        .and_then(|cwd| canonical.strip_prefix(cwd).ok().map(PathBuf::from))
        .unwrap_or(canonical)
}

/// Path of a shipped asset.
pub fn asset(relative: &str) -> PathBuf {
    assets_dir().join(relative)
}
