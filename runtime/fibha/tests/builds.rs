//! Build directories as users move, copy and edit them: a moved or copied directory runs
//! its own kernel; a missing, unusable or edited file is named with why, before any
//! device is touched; no edit of the manifest panics.

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
            "fibha.bit.bin",
            "the virtual board's instance descriptor (manifest field vboard_instance)",
        ),
    ] {
        let line = refused(&copy, |c| std::fs::remove_file(c.join(file)).unwrap());
        assert_eq!(
            line,
            format!(
                "fibha: {}: {what} is missing from the build directory {}: a build directory is used whole; copy all of it, or rebuild it with `fibha-compile build MODEL.tflite --board zcu102 -o {}`",
                copy.join(file).display(),
                copy.display(),
                copy.display()
            )
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
