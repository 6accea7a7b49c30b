//! Float rounding the shipped `no_std` wasm lacks.

/// `f64::floor`, which `core` lacks (the shipped wasm is `no_std`). The same code runs
/// natively, so the core tests cover it.
pub fn floor(x: f64) -> f64 {
    // Saturates at ±2^63, where every f64 is an integer already (±inf too); NaN gives 0.
    let i = x as i64;
    if x.is_nan() || i == i64::MAX || i == i64::MIN {
        return x;
    }
    let t = i as f64;
    if t > x {
        t - 1.0
    } else if t < x {
        t
    } else {
        x // keeps -0.0
    }
}

/// `f64::ceil` (see [`floor`]).
pub fn ceil(x: f64) -> f64 {
    -floor(-x)
}

#[cfg(test)]
mod tests {
    #[test]
    fn floor_and_ceil_match_std() {
        let xs = [
            0.0,
            -0.0,
            0.3,
            -0.3,
            0.5,
            -0.5,
            1.0,
            -1.0,
            1.5,
            -1.5,
            2.999,
            -2.999,
            1e15 + 0.5,
            -1e15 - 0.5,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            -4_503_599_627_370_496.0,
            9e15,
            9.223_372_036_854_774e18,
            -9.223_372_036_854_774e18,
            9.223_372_036_854_776e18,
            -9.223_372_036_854_776e18,
            -9e15,
            1e300,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            3599.999,
            30_000.0,
        ];
        for x in xs {
            assert_eq!(super::floor(x).to_bits(), x.floor().to_bits(), "floor {x}");
            assert_eq!(super::ceil(x).to_bits(), x.ceil().to_bits(), "ceil {x}");
        }
        assert!(super::floor(f64::NAN).is_nan() && super::ceil(f64::NAN).is_nan());
    }
}
