//! Build directories as users move, copy and edit them: a moved or copied directory runs
//! its own kernel; a missing, unusable or edited file is named with why, before anything is
//! loaded; no edit of the manifest panics; a firmware set is loaded where the directory has
//! one, and one of another plan or edited is refused.

mod common;

use std::path::{Path, PathBuf};

use common::{board_tools, copy_dir, fibha, golden_input, instance};

/// A copy of the build made for this binary, in a directory of its own.
fn copy_of_build(name: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    let (_, compile) = board_tools()?;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(name);
    copy_dir(instance(&compile, "builds"), &copy);
    Some((dir, copy))
}

/// `fibha run --verify` of the golden cat on `model`, writing into `out`.
fn run_verified(model: &Path, out: &Path) -> common::Ran {
    fibha(&[
        "run",
        "--verify",
        "--model",
        model.to_str().unwrap(),
        "--input",
        golden_input("cat").to_str().unwrap(),
        "--output",
        out.join("y.npy").to_str().unwrap(),
    ])
}

#[test]
fn a_moved_build_directory_runs_bit_exact_on_its_own_kernel() {
    let Some((dir, copy)) = copy_of_build("copy") else {
        return;
    };
    let moved = dir.path().join("moved");
    std::fs::rename(&copy, &moved).unwrap();
    run_verified(&moved, dir.path()).ok();
}

/// Edits `copy` with `edit` and returns the error line of a run on it.
fn refused(copy: &Path, edit: impl FnOnce(&Path)) -> String {
    edit(copy);
    let out = tempfile::tempdir().unwrap();
    run_verified(copy, out.path()).error_line()
}

#[test]
fn a_missing_file_is_named_with_the_manifest_field_and_how_to_rebuild() {
    let Some((_dir, copy)) = copy_of_build("copy") else {
        return;
    };
    let original = instance(&board_tools().unwrap().1, "builds");
    for (file, what) in [
        ("model.tflite", "the model (manifest field model)"),
        (
            "vboard/fibha_kernel",
            "the virtual board's kernel (manifest field vboard_kernel)",
        ),
        (
            "vboard/fibha.bit.bin",
            "the virtual board's instance descriptor (manifest field vboard_instance)",
        ),
    ] {
        let line = refused(&copy, |c| std::fs::remove_file(c.join(file)).unwrap());
        // The virtual board's files are asked for when the virtual board loads (an image
        // installs a build without them), the others when the directory is opened.
        let expected = format!(
            "{}: {what} is missing from the build directory {}: a build directory is used whole; copy all of it, or rebuild it with `fibha-compile build MODEL.tflite --board zcu102 -o {}`",
            copy.join(file).display(),
            copy.display(),
            copy.display()
        );
        assert!(
            line.starts_with("fibha: ") && line.ends_with(&expected),
            "{line}"
        );
        std::fs::copy(original.join(file), copy.join(file)).unwrap();
    }
}

#[test]
fn a_kernel_that_is_not_executable_is_named_by_the_virtual_boards_reason() {
    use std::os::unix::fs::PermissionsExt;
    let Some((_dir, copy)) = copy_of_build("copy") else {
        return;
    };
    let kernel = copy.join("vboard/fibha_kernel");
    let line = refused(&copy, |_| {
        std::fs::set_permissions(&kernel, std::fs::Permissions::from_mode(0o644)).unwrap();
    });
    assert!(
        line.contains("state is \"write error\" (the virtual board says: fibha.bit.bin: ")
            && line.contains(&format!(
                "the kernel {} is not executable (mode 644)",
                kernel.canonicalize().unwrap().display()
            )),
        "{line}"
    );
}

#[test]
fn an_edited_plan_or_manifest_is_refused_naming_the_file_and_field() {
    let Some((_dir, copy)) = copy_of_build("copy") else {
        return;
    };
    let plan = copy.join("plan.json");
    let original = std::fs::read_to_string(&plan).unwrap();
    let line = refused(&copy, |_| {
        let edited = original.replacen("\"latency_ms\": ", "\"latency_ms\": 1", 1);
        assert_ne!(edited, original);
        std::fs::write(&plan, edited).unwrap();
    });
    assert!(
        line.contains(&format!("{}: SHA-256 ", plan.display()))
            && line.contains("differs from the manifest's plan.sha256"),
        "{line}"
    );
    std::fs::write(&plan, &original).unwrap();

    let manifest = copy.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    for (clock, shown) in [("0.0", "0.0"), ("-200.0", "-200.0")] {
        let line = refused(&copy, |_| {
            std::fs::write(
                &manifest,
                text.replace("\"clock_mhz\": 200.0", &format!("\"clock_mhz\": {clock}")),
            )
            .unwrap();
        });
        assert_eq!(
            line,
            format!(
                "fibha: {}: clock_mhz: {shown} is not a clock in [1, 1000] MHz",
                manifest.display()
            )
        );
    }
}

/// Gives `copy` a firmware set where `make -C bitstreams/zcu102 firmware` writes one: the
/// virtual board's descriptor and kernel stand in for the bitstream (the virtual board
/// loads descriptors), a flattened-device-tree header for the overlay, and the manifest
/// written by the Vivado flow's own script.
fn add_firmware_set(copy: &Path) -> PathBuf {
    let firmware = copy.join(fibha_model::manifest::layout::BOARD_FIRMWARE_DIR);
    std::fs::create_dir_all(&firmware).unwrap();
    for file in ["fibha.bit.bin", "fibha_kernel"] {
        std::fs::copy(copy.join("vboard").join(file), firmware.join(file)).unwrap();
    }
    let mut dtbo = vec![0u8; 64];
    dtbo[0..4].copy_from_slice(&0xd00d_feedu32.to_be_bytes());
    dtbo[4..8].copy_from_slice(&64u32.to_be_bytes());
    std::fs::write(firmware.join("fibha.dtbo"), dtbo).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    let status = std::process::Command::new(
        common::root().join("bitstreams/zcu102/scripts/write-manifest.sh"),
    )
    .arg(firmware.join("fibha.manifest.json"))
    .arg(firmware.join("fibha.bit.bin"))
    .arg(firmware.join("fibha.dtbo"))
    .arg(manifest["plan_hash"].as_str().unwrap())
    .args(["xczu9eg-ffvb1156-2-e", "200", "4"])
    .stdout(std::process::Stdio::null())
    .status()
    .unwrap();
    assert!(status.success());
    firmware
}

#[test]
fn a_firmware_set_is_what_the_board_loads_and_one_of_another_plan_or_edited_is_refused() {
    let Some((_dir, copy)) = copy_of_build("firmware") else {
        return;
    };
    let firmware = add_firmware_set(&copy);
    // Without vboard/ (as the image installs it) the firmware set is loaded.
    std::fs::remove_dir_all(copy.join("vboard")).unwrap();
    let out = tempfile::tempdir().unwrap();
    run_verified(&copy, out.path()).ok();

    let manifest = firmware.join("fibha.manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let hash = serde_json::from_str::<serde_json::Value>(&text).unwrap()["plan_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let line = refused(&copy, |_| {
        std::fs::write(&manifest, text.replace(&hash, "0123456789abcdef")).unwrap();
    });
    assert!(
        line.contains(&format!(
            "the bitstream in {} was built for plan 0123456789abcdef, this build is plan {hash}",
            firmware.display()
        )),
        "{line}"
    );
    std::fs::write(&manifest, &text).unwrap();

    let line = refused(&copy, |_| {
        std::fs::write(firmware.join("fibha.dtbo"), b"\xd0\x0d\xfe\xedchanged").unwrap();
    });
    assert!(
        line.contains("overlay_sha256: ")
            && line.contains("the file changed after `make ... firmware`"),
        "{line}"
    );
}

#[test]
fn an_installed_build_without_the_virtual_boards_files_or_firmware_says_how_to_make_it() {
    let Some((_dir, copy)) = copy_of_build("installed") else {
        return;
    };
    std::fs::remove_dir_all(copy.join("vboard")).unwrap();
    let line = refused(&copy, |_| {});
    assert!(
        line.contains(&format!(
            "{}: the virtual board's kernel (manifest field vboard_kernel) is missing",
            copy.join("vboard/fibha_kernel").display()
        )),
        "{line}"
    );
}
