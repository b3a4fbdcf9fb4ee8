//! Number formatting: one function per kind of number, so every figure in the
//! report is written the same way on every machine.

use crate::loadgen::PacingError;

/// `x` rounded to three significant digits.
fn round3(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(2 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// Three significant digits (fewer decimals as the value grows).
fn sig3(x: f64) -> String {
    let a = round3(x).abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A duration given in nanoseconds: `812 ns`, `1.23 µs`, `45.6 ms`, `1.20 s`.
#[must_use]
pub fn nanos(ns: f64) -> String {
    // The unit is chosen after rounding, so 999.7 µs reads 1.00 ms.
    let ns = round3(ns);
    if ns >= 1e9 {
        format!("{} s", sig3(ns / 1e9))
    } else if ns >= 1e6 {
        format!("{} ms", sig3(ns / 1e6))
    } else if ns >= 1e3 {
        format!("{} µs", sig3(ns / 1e3))
    } else {
        format!("{} ns", sig3(ns))
    }
}

/// A latency given in microseconds.
#[must_use]
pub fn micros(us: u64) -> String {
    nanos(us as f64 * 1e3)
}

/// The generator's pacing error as `p50 / p99 / max`; "–" for results from
/// before the generator reported it.
#[must_use]
pub fn pacing(p: Option<&PacingError>) -> String {
    p.map_or_else(
        || "–".into(),
        |p| {
            format!(
                "{} / {} / {}",
                micros(p.p50_us),
                micros(p.p99_us),
                micros(p.max_us)
            )
        },
    )
}

/// An integer-like quantity with thousands separators: `1,234,567`.
#[must_use]
pub fn count(x: f64) -> String {
    let rounded = x.round();
    let digits = format!("{:.0}", rounded.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// A rate: `20,000/s`.
#[must_use]
pub fn rate(per_s: f64) -> String {
    format!("{}/s", count(per_s))
}

/// A ratio to a reference: `0.96×`.
#[must_use]
pub fn ratio(r: f64) -> String {
    // Two decimals where ratios are compared to each other (near 1×); a
    // ratio in the hundreds is read by its magnitude, not its decimals.
    if r.abs() >= 100.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.2}×")
    }
}

/// A fraction as a percentage: `18.0%`.
#[must_use]
pub fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// A size in bytes: `512 B`, `134 KiB`, `1.31 GiB`.
#[must_use]
pub fn bytes(b: f64) -> String {
    const K: f64 = 1024.0;
    let b = round3(b);
    if b >= K * K * K {
        format!("{} GiB", sig3(b / (K * K * K)))
    } else if b >= K * K {
        format!("{} MiB", sig3(b / (K * K)))
    } else if b >= K {
        format!("{} KiB", sig3(b / K))
    } else {
        format!("{b:.0} B")
    }
}

/// A plain quantity to three significant digits: `2.50`, `14.3`, `143`.
#[must_use]
pub fn number(x: f64) -> String {
    sig3(x)
}

/// CPU cores used: `0.93`.
#[must_use]
pub fn cores(c: f64) -> String {
    format!("{c:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(nanos(812.4), "812 ns");
        assert_eq!(nanos(1_234.0), "1.23 µs");
        assert_eq!(nanos(45_600_000.0), "45.6 ms");
        assert_eq!(micros(1_200_000), "1.20 s");
        assert_eq!(count(1_234_567.4), "1,234,567");
        assert_eq!(count(999.0), "999");
        assert_eq!(rate(20_000.0), "20,000/s");
        assert_eq!(ratio(0.956), "0.96×");
        assert_eq!(percent(0.18), "18.0%");
        assert_eq!(bytes(137_216.0), "134 KiB");
        assert_eq!(nanos(99_960.0), "100 µs");
        assert_eq!(nanos(999_700.0), "1.00 ms");
        assert_eq!(nanos(9.996), "10.0 ns");
        assert_eq!(number(2.5), "2.50");
        assert_eq!(number(143.27), "143");
    }
}
