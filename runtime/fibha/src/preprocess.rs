//! Images to model input tensors.
//!
//! An image file (JPEG, PNG or BMP, recognised by its content, not its name) is decoded,
//! converted to RGB and resized to the model's input height and width as a whole, without
//! cropping, with a triangle (bilinear) filter whose support widens by the scale factor
//! when shrinking, so every source pixel contributes (antialiased, like Pillow's BILINEAR).
//!
//! The 8-bit pixel range 0..=255 is then mapped linearly onto the input tensor's quantized
//! range: `q = p` for uint8 inputs and `q = p - 128` for int8 inputs. A quantized model's
//! input range is the float range it was calibrated on, so this feeds each model the range
//! it expects: for the shipped MobileNetV2 models that is [-1, 1] (scale 1/127.5 or 1/128).
//! Float inputs get `p / 127.5 - 1`, the MobileNet convention.
//!
//! Decoding is strict: a truncated or corrupt file is an error, never a partly grey image
//! classified as if whole. Memory is bounded: an image is decoded to at most [`MAX_PIXELS`]
//! pixels. A larger baseline JPEG is decoded at a reduced scale (1/2, 1/4 or 1/8, the
//! JPEG's own IDCT scaling, the largest that fits); anything else larger, a progressive
//! JPEG included (its coefficients are kept at full size), is refused as too large from
//! its header, before any pixel is decoded. So decoding one image holds at most
//! [`MAX_PIXELS`] x 3 bytes of 8-bit RGB (48 MB), or x 8 for a 16-bit RGBA PNG, plus the
//! decoder's input buffer and the resize's intermediate rows (input width x model height x
//! 12 bytes); `tests/images.rs` measures the peak. One caveat the bound cannot remove: the
//! JPEG decoder hands each colour component to a worker thread through an unbounded queue,
//! so a worker that lags (a busy CPU) holds coefficient rows for a while; on a 2-core
//! machine an 8000 x 6000 JPEG peaked at 72 MB with the workers keeping pace and up to
//! 98 MB when they lagged, against 144 MB for the full-size RGB alone.

use std::io::{BufRead, BufReader, ErrorKind};
use std::path::Path;

use fibha_model::{DType, Tensor};
use image::imageops::FilterType;
use image::{ImageDecoder, ImageFormat, RgbImage};

/// The most pixels an image is decoded to (after a JPEG's reduced-scale decode).
pub const MAX_PIXELS: u64 = 16_000_000;
/// What the PNG and BMP decoders may allocate in all (a 16-bit RGBA image at the limit).
const MAX_DECODER_BYTES: u64 = MAX_PIXELS * 8 + (16 << 20);

/// Why an image could not become an input tensor.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read the image: {error}")]
    Io {
        /// The image file.
        path: String,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The bytes are not an image the decoder understands.
    #[error("{path}: not a JPEG, PNG or BMP image ({detail})")]
    Decode {
        /// The image file.
        path: String,
        /// What the decoder said.
        detail: String,
    },
    /// A JPEG, PNG or BMP whose data is cut short or damaged.
    #[error("{path}: a corrupt or truncated {format} image: {detail}")]
    Corrupt {
        /// The image file.
        path: String,
        /// JPEG, PNG or BMP.
        format: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// An image too large to decode within the memory bound.
    #[error("{path}: too large ({width} x {height}, limit {MAX_PIXELS} pixels{note})")]
    TooLarge {
        /// The image file.
        path: String,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// Why a reduced-scale decode did not help, if one was tried.
        note: &'static str,
    },
    /// The model's input is not an image tensor.
    #[error("the model's input {shape:?} of {dtype} is not an NHWC RGB image tensor")]
    NotAnImageModel {
        /// The input tensor's shape.
        shape: Vec<usize>,
        /// Its element type.
        dtype: DType,
    },
}

/// Height and width of an NHWC RGB input tensor of batch 1.
pub fn input_size(input: &Tensor) -> Result<(u32, u32), ImageError> {
    match input.shape.as_slice() {
        [1, h, w, 3] if input.dtype != DType::Int32 && input.dtype != DType::Int64 => {
            Ok((*h as u32, *w as u32))
        }
        _ => Err(ImageError::NotAnImageModel {
            shape: input.shape.clone(),
            dtype: input.dtype,
        }),
    }
}

/// Decodes `path` and writes the model input tensor's bytes into `out`.
///
/// `out` must be `input.byte_len()` long; it is reused across images so that the steady
/// state allocates only inside the image decoder.
pub fn load_image_into(path: &Path, input: &Tensor, out: &mut [u8]) -> Result<(), ImageError> {
    let (h, w) = input_size(input)?;
    let rgb = decode_rgb(path)?;
    let resized = image::imageops::resize(&rgb, w, h, FilterType::Triangle);
    quantize_pixels(resized.as_raw(), input.dtype, out);
    Ok(())
}

/// Decodes `path` to 8-bit RGB within the bounds of the module documentation.
pub fn decode_rgb(path: &Path) -> Result<RgbImage, ImageError> {
    let shown = path.display().to_string();
    let io = |error| ImageError::Io {
        path: shown.clone(),
        error,
    };
    let mut reader = BufReader::new(std::fs::File::open(path).map_err(io)?);
    // By content only: a name says nothing about what a file holds.
    let format = image::guess_format(reader.fill_buf().map_err(io)?).ok();
    match format {
        Some(ImageFormat::Jpeg) => decode_jpeg(reader, &shown),
        Some(format @ (ImageFormat::Png | ImageFormat::Bmp)) => decode_other(
            image::ImageReader::with_format(reader, format),
            format,
            &shown,
        ),
        other => Err(ImageError::Decode {
            path: shown,
            detail: match other {
                Some(format) => format!("a {format:?} image"),
                None => "the content is not recognised".into(),
            },
        }),
    }
}

/// A JPEG, at the largest of the scales 1, 1/2, 1/4, 1/8 that fits [`MAX_PIXELS`].
fn decode_jpeg(reader: BufReader<std::fs::File>, shown: &str) -> Result<RgbImage, ImageError> {
    let corrupt = |e: jpeg_decoder::Error| ImageError::Corrupt {
        path: shown.to_owned(),
        format: "JPEG",
        detail: match e {
            jpeg_decoder::Error::Io(io) if io.kind() == ErrorKind::UnexpectedEof => {
                "the data ends early".into()
            }
            other => other.to_string(),
        },
    };
    let mut decoder = jpeg_decoder::Decoder::new(reader);
    decoder.read_info().map_err(corrupt)?;
    let info = decoder.info().ok_or_else(|| ImageError::Corrupt {
        path: shown.to_owned(),
        format: "JPEG",
        detail: "no frame header".into(),
    })?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let too_large = |note| ImageError::TooLarge {
        path: shown.to_owned(),
        width,
        height,
        note,
    };
    let eighths = if info.coding_process == jpeg_decoder::CodingProcess::DctSequential {
        jpeg_scale(width, height).ok_or_else(|| too_large(", even at 1/8 scale"))?
    } else if u64::from(width) * u64::from(height) <= MAX_PIXELS {
        8
    } else {
        return Err(too_large(
            "; a progressive or lossless JPEG is decoded at full size",
        ));
    };
    if eighths < 8 {
        let (w, h) = (scaled(width, eighths), scaled(height, eighths));
        decoder.scale(w as u16, h as u16).map_err(corrupt)?;
    }
    decoder.set_max_decoding_buffer_size((MAX_PIXELS * 4) as usize);
    let pixels = decoder.decode().map_err(corrupt)?;
    let info = decoder.info().unwrap_or(info);
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let rgb = to_rgb(pixels, info.pixel_format);
    RgbImage::from_raw(w, h, rgb).ok_or_else(|| ImageError::Corrupt {
        path: shown.to_owned(),
        format: "JPEG",
        detail: format!("the decoder returned too few pixels for {w} x {h}"),
    })
}

/// `len` at `eighths`/8 scale, rounded up as the JPEG IDCT scaling rounds.
fn scaled(len: u32, eighths: u32) -> u32 {
    (len * eighths).div_ceil(8)
}

/// The largest scale (in eighths: 8, 4, 2 or 1) at which a `width` x `height` JPEG has at
/// most [`MAX_PIXELS`] pixels.
fn jpeg_scale(width: u32, height: u32) -> Option<u32> {
    [8, 4, 2, 1]
        .into_iter()
        .find(|&e| u64::from(scaled(width, e)) * u64::from(scaled(height, e)) <= MAX_PIXELS)
}

/// The decoder's pixels as 8-bit RGB.
fn to_rgb(pixels: Vec<u8>, format: jpeg_decoder::PixelFormat) -> Vec<u8> {
    use jpeg_decoder::PixelFormat;
    match format {
        PixelFormat::RGB24 => pixels,
        PixelFormat::L8 => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        // 16-bit samples, big-endian: the high byte is the 8-bit value.
        PixelFormat::L16 => pixels.chunks_exact(2).flat_map(|l| [l[0]; 3]).collect(),
        PixelFormat::CMYK32 => pixels
            .chunks_exact(4)
            .flat_map(|p| {
                let ink = |c: u8| ((255 - u32::from(c)) * (255 - u32::from(p[3])) / 255) as u8;
                [ink(p[0]), ink(p[1]), ink(p[2])]
            })
            .collect(),
    }
}

/// A PNG or BMP through the `image` crate: the size checked from the header first, the
/// decoder's allocations capped, its errors (a truncated file, a bad checksum) refused.
fn decode_other(
    reader: image::ImageReader<BufReader<std::fs::File>>,
    format: ImageFormat,
    shown: &str,
) -> Result<RgbImage, ImageError> {
    let name = if format == ImageFormat::Png {
        "PNG"
    } else {
        "BMP"
    };
    let corrupt = |e: image::ImageError| ImageError::Corrupt {
        path: shown.to_owned(),
        format: name,
        detail: e.to_string(),
    };
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODER_BYTES);
    let mut reader = reader;
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooLarge {
            path: shown.to_owned(),
            width,
            height,
            note: "",
        });
    }
    let decoded = image::DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    Ok(decoded.into_rgb8())
}

/// Maps RGB bytes onto the input tensor's element type (see the module documentation).
pub fn quantize_pixels(pixels: &[u8], dtype: DType, out: &mut [u8]) {
    match dtype {
        DType::UInt8 => out.copy_from_slice(pixels),
        DType::Int8 => {
            for (o, &p) in out.iter_mut().zip(pixels) {
                *o = p ^ 0x80;
            }
        }
        DType::Float32 => {
            for (o, &p) in out.chunks_exact_mut(4).zip(pixels) {
                o.copy_from_slice(&(f32::from(p) / 127.5 - 1.0).to_le_bytes());
            }
        }
        DType::Int32 | DType::Int64 => unreachable!("input_size refuses integer image inputs"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shipped image's bytes, `cut` bytes short, in a file of its own.
    fn cut_copy(dir: &Path, name: &str, cut: usize) -> std::path::PathBuf {
        let bytes = std::fs::read(crate::assets::asset("images").join(name)).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, &bytes[..bytes.len() - cut]).unwrap();
        path
    }

    #[test]
    fn the_shipped_photos_decode_whole() {
        let dir = tempfile::tempdir().unwrap();
        let parrot = decode_rgb(&cut_copy(dir.path(), "parrot.jpg", 0)).unwrap();
        assert_eq!(parrot.dimensions(), (512, 929));
        decode_rgb(&cut_copy(dir.path(), "cat.bmp", 0)).unwrap();
    }

    #[test]
    fn truncated_jpegs_and_bmps_are_errors_not_grey_pixels() {
        let dir = tempfile::tempdir().unwrap();
        for cut in [100, 1000, 150_000] {
            let path = cut_copy(dir.path(), "parrot.jpg", cut);
            let err = decode_rgb(&path).unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "{}: a corrupt or truncated JPEG image: the data ends early",
                    path.display()
                ),
                "cut {cut}"
            );
        }
        let path = cut_copy(dir.path(), "cat.bmp", 1000);
        let err = decode_rgb(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: a corrupt or truncated BMP image: ",
                path.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn truncated_or_damaged_pngs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let image = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut png = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let path = dir.path().join("x.png");
        std::fs::write(&path, &png).unwrap();
        assert_eq!(decode_rgb(&path).unwrap(), image);
        std::fs::write(&path, &png[..png.len() - 40]).unwrap();
        let err = decode_rgb(&path).unwrap_err().to_string();
        assert!(
            err.contains("x.png: a corrupt or truncated PNG image: "),
            "{err}"
        );
        // A flipped byte inside the image data: the chunk's CRC no longer matches.
        let mut damaged = png.clone();
        let at = damaged.len() - 30;
        damaged[at] ^= 0x55;
        std::fs::write(&path, &damaged).unwrap();
        let err = decode_rgb(&path).unwrap_err().to_string();
        assert!(
            err.contains("x.png: a corrupt or truncated PNG image: "),
            "{err}"
        );
    }

    #[test]
    fn jpegs_are_scaled_down_only_past_the_pixel_limit() {
        assert_eq!(jpeg_scale(4000, 4000), Some(8));
        assert_eq!(jpeg_scale(8000, 6000), Some(4));
        assert_eq!(jpeg_scale(13_000, 13_000), Some(2));
        assert_eq!(jpeg_scale(40_000, 20_000), Some(1));
        assert_eq!(jpeg_scale(65_535, 65_535), None);
        assert_eq!(scaled(13_001, 1), 1626);
    }

    #[test]
    fn int8_inputs_shift_the_pixel_range_down_by_128() {
        let mut out = [0u8; 3];
        quantize_pixels(&[0, 128, 255], DType::Int8, &mut out);
        assert_eq!(out.map(|b| b as i8), [-128, 0, 127]);
    }

    #[test]
    fn float_inputs_span_minus_one_to_one() {
        let mut out = [0u8; 8];
        quantize_pixels(&[0, 255], DType::Float32, &mut out);
        let lo = f32::from_le_bytes(out[..4].try_into().unwrap());
        let hi = f32::from_le_bytes(out[4..].try_into().unwrap());
        assert_eq!((lo, hi), (-1.0, 1.0));
    }
}
