//! The randomized Hadamard rotation against its definition: R = H·D/√b with the Sylvester matrix
//! H_ij = (−1)^popcount(i & j), built here densely, block by block; orthonormal, so unrotating
//! gives the weights back.

use quantbound_formats::rotation::Hadamard;

#[test]
fn rotation_is_the_sylvester_hadamard_with_signs_and_undoes_itself() {
    let (rows, row) = (3, 576);
    let weights: Vec<f32> = (0..rows * row).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let rotation = Hadamard { seed: 11 };
    let rotated = rotation.rotate(5, &weights, row);
    let b = Hadamard::block(row);
    assert_eq!(b, 64);
    // The signs: rotating the unit vectors of the first block gives the columns of H·D/√b.
    let mut unit = vec![0f32; row];
    let mut signs = vec![0f64; b];
    for (j, sign) in signs.iter_mut().enumerate() {
        unit.fill(0.0);
        unit[j] = 1.0;
        let column = rotation.rotate(5, &unit, row);
        *sign = f64::from(column[0]) * (b as f64).sqrt(); // H_0j = 1
        assert!((sign.abs() - 1.0).abs() < 1e-6, "a sign is ±1: {sign}");
    }
    for r in 0..rows {
        for i in 0..b {
            let dense: f64 = (0..b)
                .map(|j| {
                    let h = if (i & j).count_ones() % 2 == 0 { 1.0 } else { -1.0 };
                    h * signs[j].round() * f64::from(weights[r * row + j])
                })
                .sum::<f64>()
                / (b as f64).sqrt();
            let ours = f64::from(rotated[r * row + i]);
            assert!((ours - dense).abs() < 1e-6, "row {r} element {i}: {ours} vs {dense}");
        }
    }
    // Norms are kept, and the inverse gives the weights back.
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>();
    assert!((norm(&rotated) / norm(&weights) - 1.0).abs() < 1e-6);
    let mut back = rotated.clone();
    rotation.unrotate(5, &mut back, row);
    let worst = weights.iter().zip(&back).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-6, "{worst}");
    // Another tensor index draws other signs.
    assert_ne!(rotation.rotate(6, &weights, row), rotated);
}
