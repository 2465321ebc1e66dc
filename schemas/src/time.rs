//! RFC 3339 text <-> UTC microseconds; for every instant in years 0000–9999,
//! `parse_time(&format_time_us(t)) == Some(t)`.

const US_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Parses an RFC 3339 timestamp (any offset, any number of fractional digits) into microseconds
/// since the Unix epoch, UTC.
///
/// Digits past the sixth fractional one are truncated, not rounded, so a time never moves into the
/// next microsecond. `t`/`z` and a space separator are accepted as RFC 3339 section 5.6 allows. A
/// leap second (`:60`) is read as the last microsecond of its minute, since the epoch-based clock
/// cannot represent it. Returns `None` for anything else, including years outside 0000–9999,
/// which RFC 3339 cannot write.
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    byte(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    byte(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    byte(b, 13, b':')?;
    let minute = digits(b, 14, 2)?;
    byte(b, 16, b':')?;
    let mut second = digits(b, 17, 2)?;

    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            if i - start < 6 {
                micros = micros * 10 + i64::from(d - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }

    let offset_secs = match b.get(i)? {
        b'Z' | b'z' => {
            i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            let oh = digits(b, i + 1, 2)?;
            byte(b, i + 3, b':')?;
            let om = digits(b, i + 4, 2)?;
            i += 6;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    if i != b.len() {
        return None;
    }

    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if second == 60 {
        second = 59;
        micros = US_PER_SEC - 1;
    }

    let days = days_from_civil(year, month, day);
    let secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * US_PER_SEC + micros)
}

pub use hoptrail_core::time::format_rfc3339_us as format_time_us;
pub(crate) use hoptrail_core::time::write_rfc3339_us as write_time;

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = b.get(at..at.checked_add(n)?)?;
    s.iter().try_fold(0i64, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
    })
}

fn byte(b: &[u8], at: usize, want: u8) -> Option<()> {
    (b.get(at) == Some(&want)).then_some(())
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// The two conversions below are the proleptic-Gregorian era arithmetic (400-year eras of 146,097
// days, years starting in March so the leap day is last); exact for every i64 day count we can
// reach from i64 microseconds.
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
    use proptest::prelude::*;

    #[test]
    fn epoch_is_zero() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(format_time_us(0), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn offset_is_normalized_to_utc() {
        assert_eq!(
            parse_time("2026-12-03T23:53:17.5+02:00"),
            parse_time("2026-12-03T21:53:17.500000Z")
        );
        assert_eq!(
            parse_time("2026-12-03T16:23:17-05:30"),
            parse_time("2026-12-03T21:53:17Z")
        );
    }

    #[test]
    fn fractional_digits_past_six_are_truncated_not_rounded() {
        let t = parse_time("2026-12-03T21:53:17.123456999Z").unwrap();
        assert_eq!(format_time_us(t), "2026-12-03T21:53:17.123456Z");
    }

    #[test]
    fn fewer_fractional_digits_scale_up() {
        let t = parse_time("2026-12-03T21:53:17.12Z").unwrap();
        assert_eq!(format_time_us(t), "2026-12-03T21:53:17.120000Z");
    }

    #[test]
    fn lowercase_and_space_separators_are_rfc3339() {
        assert_eq!(
            parse_time("2026-01-02t03:04:05z"),
            parse_time("2026-01-02 03:04:05Z")
        );
        assert!(parse_time("2026-01-02t03:04:05z").is_some());
    }

    #[test]
    fn leap_second_is_the_last_microsecond_of_its_minute() {
        let t = parse_time("2016-12-31T23:59:60Z").unwrap();
        assert_eq!(format_time_us(t), "2016-12-31T23:59:59.999999Z");
    }

    #[test]
    fn malformed_times_are_rejected() {
        for s in [
            "",
            "2026-12-03",
            "2026-12-03T21:53:17",
            "2026-12-03T21:53:17.Z",
            "2026-13-03T21:53:17Z",
            "2026-02-29T21:53:17Z",
            "2026-04-31T00:00:00Z",
            "2026-12-03T24:00:00Z",
            "2026-12-03T21:60:00Z",
            "2026-12-03T21:53:61Z",
            "2026-12-03T21:53:17+24:00",
            "2026-12-03T21:53:17+0200",
            "2026-12-03T21:53:17Zjunk",
            "+2026-12-03T21:53:17Z",
            "2026-12-03T21:53:17\u{0}Z",
            "１９７０-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_time(s), None, "{s:?}");
        }
        assert!(parse_time("2024-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn extreme_instants_format_without_panicking() {
        assert!(format_time_us(i64::MAX).starts_with('+'));
        assert!(format_time_us(i64::MIN).starts_with('-'));
        assert_eq!(format_time_us(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(parse_time(&format_time_us(i64::MAX)), None);
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(us in -62_167_219_200_000_000i64..253_402_300_800_000_000i64) {
            prop_assert_eq!(parse_time(&format_time_us(us)), Some(us));
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = parse_time(&s);
        }
    }
}
