//! The accelerator's register map, as the virtual board uses it.
//!
//! Offsets and bit fields come from the generated map (`hls/regmap.toml` ->
//! `hls/scripts/gen_regmap.py` -> `fibha_model::device`), re-exported here so that nothing
//! is typed twice. The one thing derived here is which words are the kernel's arguments:
//! every read-write register from `input_addr` on (the `pointer` and `scalar_in` roles; the
//! outputs are read-only), a 64-bit one as its two words.

pub use fibha_model::device::*;

/// Byte offsets of the kernel's argument words, in offset order (a 64-bit register gives
/// its low and high word).
pub fn argument_words() -> Vec<u32> {
    let mut words: Vec<u32> = REGISTERS
        .iter()
        .filter(|r| r.offset >= INPUT_ADDR && r.access == "rw")
        .flat_map(|r| {
            let high = (r.width == 64).then_some(r.offset + 4);
            std::iter::once(r.offset).chain(high)
        })
        .collect();
    words.sort_unstable();
    words
}

/// The output registers the board writes when a run ends: (data word, ap_vld word), 64-bit
/// ones by their low word.
pub const OUTPUTS: [(u32, u32); 3] = [(ID, ID_VLD), (STATUS, STATUS_VLD), (CYCLES, CYCLES_VLD)];

/// A status word: `error` set and `code` with the layer field 0xFFFF ("not about one layer").
pub fn error_status(code: StatusCode) -> u32 {
    let word = status::ERROR.put(0, 1);
    let word = status::CODE.put(word, code as u32);
    status::LAYER.put(word, 0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_the_rw_words_before_the_outputs() {
        assert_eq!(
            argument_words(),
            // Five 64-bit addresses as lo/hi words (input, output, bundle, the two SEML
            // parameter halves), then input, output and bundle bytes, image count, layer
            // count and mode (hls/regmap.toml).
            [
                0x10, 0x14, 0x1C, 0x20, 0x28, 0x2C, 0x34, 0x38, 0x40, 0x44, 0x4C, 0x54, 0x5C, 0x64,
                0x6C, 0x74
            ]
        );
        assert!(argument_words().iter().all(|&w| w < ID));
    }

    #[test]
    fn error_status_packs_the_fields() {
        assert_eq!(error_status(StatusCode::AddressUnmapped), 0xFFFF_1101);
    }
}
