//! AF4's table: the values the paper's own generator gave for blocks of 64 (src/af4.rs cites the
//! run), in bnb's absmax form, and a clear error for a blocksize it has no table for.

use quantbound_codebook::Blocksize;
use quantbound_formats::{BnbSettings, FormatName};

#[test]
fn af4_is_a_signed_absmax_table_for_blocks_of_64() {
    let book = quantbound_formats::af4::codebook(64).unwrap();
    let v = book.values();
    assert!(v.windows(2).all(|w| w[0] < w[1]), "ascending: {v:?}");
    assert_eq!((v[0], v[7], v[15]), (-1.0, 0.0, 1.0));
    // Two of the generator's values, to f32.
    assert_eq!(v[1], -0.694_410_1_f32);
    assert_eq!(v[8], 0.042_731_64_f32);
    let settings = BnbSettings { blocksize: Blocksize::new(128, "test").unwrap(), double_quant: false };
    let err = FormatName::Af4.format(settings).unwrap_err().to_string();
    assert!(err.contains("af4") && err.contains("128") && err.contains("--blocksize 64"), "{err}");
    assert_eq!(FormatName::Af4.format(BnbSettings::default()).unwrap().bits_per_weight(), 4.5);
}
