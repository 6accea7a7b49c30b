//! Retry policy: exponential backoff with full jitter, and `Retry-After` parsing.

/// How renewals are retried. Values are validated by the facade.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per renewal, the first included (≥ 1).
    pub max_attempts: u32,
    /// Cap of the first retry's delay, in ms.
    pub base_delay_ms: f64,
    /// Cap of any delay, in ms; also the pause after a renewal gives up.
    pub max_delay_ms: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay_ms: 500.0,
            max_delay_ms: 30_000.0,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `failures` (1 = after the first failure): full
    /// jitter ("Exponential Backoff and Jitter", AWS 2015) over
    /// `min(max, base·2^(failures−1))`, never shorter than a capped `Retry-After`.
    pub fn delay(&self, failures: u32, unit: f64, retry_after_ms: Option<f64>) -> f64 {
        let exp = failures.saturating_sub(1).min(52);
        let ceiling = (self.base_delay_ms * (1u64 << exp) as f64).min(self.max_delay_ms);
        // max/min rather than f64::clamp: clamp's panic on a runtime bound pulls all of
        // float formatting into the wasm (≈ 11 kB gzip, measured).
        #[allow(clippy::manual_clamp)]
        let jittered = ceiling * unit.max(0.0).min(1.0);
        #[allow(clippy::manual_clamp)]
        match retry_after_ms {
            Some(ra) => jittered.max(ra.max(0.0).min(self.max_delay_ms)),
            None => jittered,
        }
    }
}

/// A small deterministic generator (xorshift64*) for jitter; the shell seeds it from
/// `Math.random`, tests from a constant.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from any seed (0 is remapped).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }
    /// A uniform value in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an IMF-fixdate, as ms from
/// `now_wall`. Anything else is `None`; a date in the past is 0. Around it only ASCII
/// whitespace is skipped (fetch already strips HTTP's; `str::trim`'s Unicode tables
/// cost 250 B of gzip in the wasm).
pub fn parse_retry_after(value: &str, now_wall: f64) -> Option<f64> {
    let v = value.as_bytes().trim_ascii();
    if !v.is_empty() && v.len() <= 12 && v.iter().all(u8::is_ascii_digit) {
        return Some(v.iter().fold(0.0, |a, &c| a * 10.0 + (c - b'0') as f64) * 1000.0);
    }
    parse_imf_fixdate(v).map(|at| (at - now_wall).max(0.0))
}

/// "Sun, 06 Nov 1994 08:49:37 GMT" → epoch ms.
fn parse_imf_fixdate(b: &[u8]) -> Option<f64> {
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    let num = |r: core::ops::Range<usize>| -> Option<i64> {
        let s = &b[r];
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| s.iter().fold(0i64, |a, &c| a * 10 + (c - b'0') as i64))
    };
    // One string, not a table of twelve slices (pointers and lengths in the wasm's data).
    const MONTHS: &[u8; 36] = b"JanFebMarAprMayJunJulAugSepOctNovDec";
    let day = num(5..7)?;
    let month = MONTHS.chunks(3).position(|m| m == &b[8..11])? as i64 + 1;
    let year = num(12..16)?;
    if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
        return None;
    }
    let (h, mi, s) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + h * 3600 + mi * 60 + s) * 1000) as f64)
}

/// Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_bounds_grow_and_cap() {
        let p = RetryPolicy::default();
        let expect_ceiling = [
            500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 30000.0, 30000.0,
        ];
        for (i, c) in expect_ceiling.iter().enumerate() {
            let n = i as u32 + 1;
            assert_eq!(p.delay(n, 0.0, None), 0.0);
            assert!((p.delay(n, 0.999_999, None) - c).abs() < 0.1, "attempt {n}");
        }
        assert_eq!(p.delay(u32::MAX, 1.0, None), 30000.0);
    }

    #[test]
    fn retry_after_is_a_floor_but_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 0.0, Some(7000.0)), 7000.0);
        assert_eq!(p.delay(1, 0.0, Some(3_600_000.0)), 30000.0);
        assert_eq!(p.delay(1, 1.0, Some(100.0)), 500.0);
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng::new(42);
        let xs: Vec<f64> = (0..10_000).map(|_| r.unit()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        assert!(xs.iter().any(|&x| x < 0.05) && xs.iter().any(|&x| x > 0.95));
    }

    #[test]
    fn parses_retry_after() {
        assert_eq!(parse_retry_after("120", 0.0), Some(120_000.0));
        assert_eq!(parse_retry_after(" 0 ", 0.0), Some(0.0));
        // 1994-11-06T08:49:37Z = 784111777 s.
        let at = 784_111_777_000.0;
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at - 5000.0),
            Some(5000.0)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + 5000.0),
            Some(0.0)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
            Some(0.0)
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 01:00:10 GMT", 1_795_827_600_000.0),
            Some(10_000.0)
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, 0.0), None, "{bad}");
        }
    }

    #[test]
    fn rng_is_xorshift64_star() {
        // Reference outputs of xorshift64* (Vigna 2016: shifts 12, 25, 27, multiplier
        // 0x2545F4914F6CDD1D, the top 53 bits as the fraction) for seed 1, computed
        // apart from this code: a seed replays exactly this sequence.
        let mut r = Rng::new(1);
        for want in [
            0x8_fc99_c971_2d9bu64,
            0x15_79f4_d51c_0f2c,
            0x17_3a21_b1fd_6e63,
        ] {
            assert_eq!(r.unit(), want as f64 / (1u64 << 53) as f64);
        }
        // Seed 0 is xorshift's fixed point: remapped, it still moves.
        let mut z = Rng::new(0);
        let (a, b) = (z.unit(), z.unit());
        assert!(a > 0.0 && b > 0.0 && a != b, "{a} {b}");
    }

    #[test]
    fn delay_doubles_from_the_base_of_any_policy() {
        let p = RetryPolicy {
            max_attempts: 9,
            base_delay_ms: 300.0,
            max_delay_ms: 5000.0,
        };
        let ceilings = [300.0, 600.0, 1200.0, 2400.0, 4800.0, 5000.0];
        for (i, c) in ceilings.iter().enumerate() {
            assert_eq!(p.delay(i as u32 + 1, 1.0, None), *c, "retry {}", i + 1);
            assert_eq!(p.delay(i as u32 + 1, 0.5, None), c / 2.0);
        }
        // The unit is clamped to [0, 1]; a negative Retry-After is no floor.
        assert_eq!(p.delay(2, 7.0, None), 600.0);
        assert_eq!(p.delay(2, -3.0, None), 0.0);
        assert_eq!(p.delay(2, 0.25, Some(-1000.0)), 150.0);
        assert_eq!(p.delay(2, 0.25, Some(400.0)), 400.0);
    }

    #[test]
    fn retry_after_seconds_have_at_most_twelve_digits() {
        assert_eq!(
            parse_retry_after("999999999999", 0.0),
            Some(999_999_999_999_000.0)
        );
        assert_eq!(parse_retry_after("0000000000007", 0.0), None);
        assert_eq!(parse_retry_after("\t45\r\n", 0.0), Some(45_000.0));
        // No HTTP whitespace: the value is malformed.
        assert_eq!(parse_retry_after("\u{a0}45", 0.0), None);
        assert_eq!(parse_retry_after("45\u{85}", 0.0), None);
    }

    /// Epoch seconds of a date, counted day by day from 1970-01-01 with the Gregorian
    /// leap rule: an oracle for `days_from_civil` that shares none of its arithmetic.
    fn days_by_counting(y: i64, m: i64, d: i64) -> i64 {
        let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let len = |y: i64, m: i64| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut days = 0;
        let (mut yy, mut mm) = (1970, 1);
        while (yy, mm) < (y, m) {
            days += len(yy, mm);
            (yy, mm) = if mm == 12 { (yy + 1, 1) } else { (yy, mm + 1) };
        }
        while (yy, mm) > (y, m) {
            (yy, mm) = if mm == 1 { (yy - 1, 12) } else { (yy, mm - 1) };
            days -= len(yy, mm);
        }
        days + d - 1
    }

    #[test]
    fn civil_days_match_a_calendar_count() {
        for y in (1592..=2410)
            .step_by(7)
            .chain([1600, 1700, 1900, 2000, 2100, 2400])
        {
            for m in 1..=12 {
                for d in [1, 15, 28] {
                    assert_eq!(
                        days_from_civil(y, m, d),
                        days_by_counting(y, m, d),
                        "{y}-{m}-{d}"
                    );
                }
            }
        }
        assert_eq!(
            days_from_civil(2000, 2, 29),
            days_by_counting(2000, 3, 1) - 1
        );
        assert_eq!(
            days_from_civil(2100, 3, 1),
            days_by_counting(2100, 2, 28) + 1
        );
    }

    #[test]
    fn imf_fixdate_reads_every_field() {
        let at = |v: &str| parse_imf_fixdate(v.as_bytes());
        // Epoch seconds from an independent calendar library, ×1000.
        for (v, s) in [
            ("Thu, 31 Dec 2026 23:59:59 GMT", 1_798_761_599i64),
            ("Sat, 29 Feb 2020 12:00:00 GMT", 1_582_977_600),
            ("Tue, 29 Feb 2000 00:00:00 GMT", 951_782_400),
            ("Mon, 01 Mar 2100 00:00:00 GMT", 4_107_542_400),
            ("Wed, 31 Dec 1969 23:59:59 GMT", -1),
            ("Wed, 01 Mar 1600 00:00:00 GMT", -11_670_912_000),
            // A leap second is a valid time.
            ("Thu, 31 Dec 2026 23:59:60 GMT", 1_798_761_600),
        ] {
            assert_eq!(at(v), Some(s as f64 * 1000.0), "{v}");
        }
        for (i, m) in [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        .iter()
        .enumerate()
        {
            // The day name is not checked.
            let v = alloc::format!("Sun, 01 {m} 2023 00:00:00 GMT");
            let want = days_by_counting(2023, i as i64 + 1, 1) * 86_400_000;
            assert_eq!(at(&v), Some(want as f64), "{v}");
        }
        for bad in [
            "Thu, 31 Dec 2026 24:00:00 GMT",
            "Thu, 31 Dec 2026 23:60:00 GMT",
            "Thu, 31 Dec 2026 23:59:61 GMT",
            "Thu, 00 Dec 2026 23:59:59 GMT",
            "Thu, 3x Dec 2026 23:59:59 GMT",
            "Thu, 31 Dec 20x6 23:59:59 GMT",
            "Thu, 31 Dec 2026 2x:59:59 GMT",
            "Thu; 31 Dec 2026 23:59:59 GMT",
            "Thu,,31 Dec 2026 23:59:59 GMT",
            "Thu, 31-Dec 2026 23:59:59 GMT",
            "Thu, 31 Dec-2026 23:59:59 GMT",
            "Thu, 31 Dec 2026T23:59:59 GMT",
            "Thu, 31 Dec 2026 23.59:59 GMT",
            "Thu, 31 Dec 2026 23:59.59 GMT",
            "Thu, 31 Dec 2026 23:59:59 GMT ",
            "Thu, 31 Dec 2026 23:59:59 GM",
            "Thu, 31 dec 2026 23:59:59 GMT",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }
}
