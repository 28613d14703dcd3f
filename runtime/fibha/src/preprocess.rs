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

use std::path::Path;

use fibha_model::{DType, Tensor};
use image::imageops::FilterType;

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
    let shown = path.display().to_string();
    let reader = image::ImageReader::open(path)
        .map_err(|error| ImageError::Io {
            path: shown.clone(),
            error,
        })?
        .with_guessed_format()
        .map_err(|error| ImageError::Io {
            path: shown.clone(),
            error,
        })?;
    let decoded = reader.decode().map_err(|e| ImageError::Decode {
        path: shown,
        detail: e.to_string(),
    })?;
    let rgb = image::imageops::resize(&decoded.to_rgb8(), w, h, FilterType::Triangle);
    quantize_pixels(rgb.as_raw(), input.dtype, out);
    Ok(())
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
