//! Go's `math.Frexp`, `Ldexp`, `Log`, `Log2` and `Exp2`, bit for bit.
//!
//! Histogram interpolation (`histogram_quantile`, `histogram_fraction`, trimming) goes
//! through `Log2` and `Exp2`, and the platform's libm rounds some results differently
//! from Go's pure implementations (for example Go's `Exp2(-0.5)` is
//! `0.7071067811865475`, one ulp below the correctly rounded value). These follow the
//! same FreeBSD-derived algorithms and operation order as Go on amd64, where no
//! multiply-add is fused, so results match upstream Prometheus exactly.

// The constants are written as Go and fdlibm write them.
#![allow(clippy::excessive_precision)]

const MASK: u64 = 0x7FF;
const SHIFT: u32 = 52;
const BIAS: i64 = 1023;
const SMALLEST_NORMAL: f64 = 2.2250738585072014e-308;

/// `x` normalised so that its exponent field is non-zero, with the exponent it lost.
fn normalize(x: f64) -> (f64, i64) {
    if x.abs() < SMALLEST_NORMAL {
        return (x * (1u64 << 52) as f64, -52);
    }
    (x, 0)
}

/// Go's `math.Frexp`: `frac × 2^exp == x` with `|frac|` in `[0.5, 1)`; zero, infinities
/// and NaN come back unchanged with exponent 0.
pub fn frexp(x: f64) -> (f64, i64) {
    if x == 0.0 || x.is_infinite() || x.is_nan() {
        return (x, 0);
    }
    let (x, mut exp) = normalize(x);
    let mut bits = x.to_bits();
    exp += ((bits >> SHIFT) & MASK) as i64 - BIAS + 1;
    bits &= !(MASK << SHIFT);
    bits |= ((-1 + BIAS) as u64) << SHIFT;
    (f64::from_bits(bits), exp)
}

/// Go's `math.Ldexp`: `frac × 2^exp`, correctly rounded into the subnormal range,
/// saturating to ±0 and ±Inf.
pub fn ldexp(frac: f64, exp: i64) -> f64 {
    if frac == 0.0 || frac.is_infinite() || frac.is_nan() {
        return frac;
    }
    let (frac, e) = normalize(frac);
    let mut exp = exp.saturating_add(e);
    let mut bits = frac.to_bits();
    exp = exp.saturating_add(((bits >> SHIFT) & MASK) as i64 - BIAS);
    if exp < -1075 {
        return 0f64.copysign(frac);
    }
    if exp > 1023 {
        return f64::INFINITY.copysign(frac);
    }
    let mut m = 1.0;
    if exp < -1022 {
        // Build the value 2^53 higher and let one multiplication round it.
        exp += 53;
        m = 1.0 / (1u64 << 53) as f64;
    }
    bits &= !(MASK << SHIFT);
    bits |= ((exp + BIAS) as u64) << SHIFT;
    m * f64::from_bits(bits)
}

const LN2_HI: f64 = 6.93147180369123816490e-01;
const LN2_LO: f64 = 1.90821492927058770002e-10;

/// Go's `math.Log` (natural logarithm).
pub fn log(x: f64) -> f64 {
    const L1: f64 = 6.666666666666735130e-01;
    const L2: f64 = 3.999999999940941908e-01;
    const L3: f64 = 2.857142874366239149e-01;
    const L4: f64 = 2.222219843214978396e-01;
    const L5: f64 = 1.818357216161805012e-01;
    const L6: f64 = 1.531383769920937332e-01;
    const L7: f64 = 1.479819860511658591e-01;

    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    let (mut f1, mut ki) = frexp(x);
    if f1 < std::f64::consts::FRAC_1_SQRT_2 {
        f1 *= 2.0;
        ki -= 1;
    }
    let f = f1 - 1.0;
    let k = ki as f64;

    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (L1 + s4 * (L3 + s4 * (L5 + s4 * L7)));
    let t2 = s4 * (L2 + s4 * (L4 + s4 * L6));
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

/// Go's `math.Log2`: exact for powers of two.
pub fn log2(x: f64) -> f64 {
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return (exp - 1) as f64;
    }
    log(frac) * std::f64::consts::LOG2_E + exp as f64
}

/// Go's `math.Exp2`.
pub fn exp2(x: f64) -> f64 {
    const OVERFLOW: f64 = 1.0239999999999999e+03;
    const UNDERFLOW: f64 = -1.0740e+03;
    if x.is_nan() {
        return x;
    }
    if x > OVERFLOW {
        return f64::INFINITY;
    }
    if x < UNDERFLOW {
        return 0.0;
    }
    // Round half away from zero, as Go's int(x ± 0.5) truncation does.
    let k: i64 = if x > 0.0 {
        (x + 0.5) as i64
    } else if x < 0.0 {
        (x - 0.5) as i64
    } else {
        0
    };
    let t = x - k as f64;
    let hi = t * LN2_HI;
    let lo = -t * LN2_LO;
    expmulti(hi, lo, k)
}

/// `e^r × 2^k` where `r = hi - lo` and `|r| ≤ ln(2)/2`.
fn expmulti(hi: f64, lo: f64, k: i64) -> f64 {
    const P1: f64 = 1.66666666666666657415e-01;
    const P2: f64 = -2.77777777770155933842e-03;
    const P3: f64 = 6.61375632143793436117e-05;
    const P4: f64 = -1.65339022054652515390e-06;
    const P5: f64 = 4.13813679705723846039e-08;

    let r = hi - lo;
    let t = r * r;
    let c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
    let y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    ldexp(y, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_have_the_fdlibm_bit_patterns() {
        assert_eq!(LN2_HI.to_bits(), 0x3FE6_2E42_FEE0_0000);
        assert_eq!(LN2_LO.to_bits(), 0x3DEA_39EF_3579_3C76);
    }

    #[test]
    fn frexp_and_ldexp_round_trip() {
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        assert_eq!(frexp(0.0), (0.0, 0));
        let tiny = f64::from_bits(1);
        assert_eq!(frexp(tiny), (0.5, -1073));
        assert_eq!(ldexp(0.5, -1073), tiny);
        assert_eq!(ldexp(0.5, 1025), f64::INFINITY);
        assert_eq!(ldexp(-0.5, -2000), -0.0);
        assert_eq!(ldexp(0.75, 3), 6.0);
        // Rounds once into the subnormal range: 1.5 × 2^-1074 ties to even, 2^-1073.
        assert_eq!(ldexp(0.75, -1073), f64::from_bits(2));
        assert!(ldexp(f64::NAN, 3).is_nan());
    }

    #[test]
    fn logarithms() {
        assert_eq!(log2(1.0), 0.0);
        assert_eq!(log2(0.5), -1.0);
        assert_eq!(log2(1024.0), 10.0);
        assert_eq!(log2(0.0), f64::NEG_INFINITY);
        assert!(log2(-1.0).is_nan());
        assert_eq!(log2(f64::INFINITY), f64::INFINITY);
        assert_eq!(log(1.0), 0.0);
        assert!((log(std::f64::consts::E) - 1.0).abs() < 1e-15);
        assert!((log2(3.0) - 1.584962500721156).abs() < 1e-15);
    }

    #[test]
    fn exp2_matches_go() {
        // Go's Exp2(-0.5) is one ulp below the correctly rounded 0.7071067811865476;
        // upstream test expectations (histogram_quantile on a NaN histogram) show it.
        assert_eq!(exp2(-0.5), 0.7071067811865475);
        assert_eq!(exp2(0.0), 1.0);
        assert_eq!(exp2(10.0), 1024.0);
        assert_eq!(exp2(-1074.0), f64::from_bits(1));
        assert_eq!(exp2(1024.0), f64::INFINITY);
        assert_eq!(exp2(f64::NEG_INFINITY), 0.0);
        assert!(exp2(f64::NAN).is_nan());
    }
}
