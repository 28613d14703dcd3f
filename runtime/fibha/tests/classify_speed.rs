//! `fibha classify` as a demo of fibha's speed: each image's accelerator time, a summary
//! line (latency, images per second, joules per image), and `--watch` on a folder.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Running, board_tools, fibha, fibha_command, instance, root};
use nix::sys::signal::Signal;

#[test]
fn classify_prints_the_accelerators_time_and_a_speed_summary() {
    let Some((_, compile)) = board_tools() else {
        return;
    };
    let model = instance(&compile, "classify_speed");
    let ran = fibha(&["classify", "--model", model.to_str().unwrap(), "--top", "1"]);
    let text = ran.ok();
    // One header per photo with the accelerator's time, labelled modelled.
    let headers: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(accelerator "))
        .collect();
    assert_eq!(headers.len(), 3, "{text}");
    assert!(
        headers.iter().all(|h| h.ends_with(" ms, modelled)")),
        "{text}"
    );
    let summary = text
        .lines()
        .find(|l| l.starts_with("3 image(s): "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        summary.contains("latency mean ")
            && summary.contains(" images/s (modelled)")
            && summary.contains(" mJ/image (modelled)"),
        "{summary}"
    );

    let ran = fibha(&["classify", "--model", model.to_str().unwrap(), "--json"]);
    let doc: serde_json::Value = serde_json::from_str(ran.ok()).unwrap();
    let speed = &doc["speed"];
    assert_eq!(speed["images"], 3);
    assert_eq!(speed["modelled"], true);
    let mean = speed["latency_ms_mean"].as_f64().unwrap();
    let p99 = speed["latency_ms_p99"].as_f64().unwrap();
    assert!(mean > 0.0 && p99 >= mean * 0.99, "{speed}");
    assert!(speed["images_per_s"].as_f64().unwrap() > 0.0);
    assert!(speed["joules_per_image"].as_f64().unwrap() > 0.0, "{speed}");
    // Each image's accelerator time is its cycle register at the plan's clock: the first
    // call also loads the SESL part's weights on chip, later ones take the same time
    // whatever the image (the kernel's time does not depend on the data).
    let times: Vec<f64> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["accelerator_ms"].as_f64().unwrap())
        .collect();
    assert!(times[1] > 0.0 && times[2] == times[1], "{times:?}");
    assert!(times[0] > times[1], "{times:?}");
    assert!(times[1] <= mean, "{times:?} {mean}");
}

#[test]
fn watch_classifies_images_as_they_appear_until_ctrl_c() {
    let Some((_, compile)) = board_tools() else {
        return;
    };
    let model = instance(&compile, "classify_speed");
    let dir = tempfile::tempdir().unwrap();
    let mut running = Running::start(fibha_command(&[
        "classify",
        "--model",
        model.to_str().unwrap(),
        "--top",
        "1",
        "--watch",
        dir.path().to_str().unwrap(),
    ]));
    running.wait_for_stderr("watching", Duration::from_secs(120));
    let photos = root().join("assets/images");
    for (photo, name) in [("cat.bmp", "first.bmp"), ("parrot.jpg", "second.jpg")] {
        drop_into(&photos.join(photo), &dir.path().join(name));
        running.wait_for_stdout(name, Duration::from_secs(120));
    }
    // Not an image: ignored.
    std::fs::write(dir.path().join("notes.txt"), "not a photo").unwrap();
    running.signal(Signal::SIGINT);
    let ran = running.finish(Duration::from_secs(60));
    assert!(ran.status.success(), "{}", ran.stderr);
    assert!(
        ran.stdout.contains("first.bmp  (accelerator "),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("2 image(s): latency mean "),
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("notes.txt"), "{}", ran.stdout);
}

/// Copies `from` to `to` in two writes, as a slow copy would: the watcher must wait for
/// the whole file.
fn drop_into(from: &Path, to: &Path) {
    use std::io::Write;
    let bytes = std::fs::read(from).unwrap();
    let mut file = std::fs::File::create(to).unwrap();
    let half = bytes.len() / 2;
    file.write_all(&bytes[..half]).unwrap();
    file.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    file.write_all(&bytes[half..]).unwrap();
}
