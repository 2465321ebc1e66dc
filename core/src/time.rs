//! Formatting of event times without a clock or a date library: time is an `i64` of
//! microseconds since the Unix epoch, UTC, everywhere in hoptrail.

const US_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Formats microseconds since the epoch as RFC 3339 UTC with exactly six fractional digits and
/// `Z`, e.g. `2026-12-03T21:53:17.123456Z`.
///
/// Never panics: instants outside years 0000–9999 (which no decoded event has) are written with an
/// ISO 8601 expanded year (`+012345-…`, `-000001-…`) that hoptrail's parser deliberately rejects.
pub fn format_rfc3339_us(us: i64) -> String {
    let mut out = String::with_capacity(27);
    write_rfc3339_us(us, &mut out);
    out
}

/// Appends the [`format_rfc3339_us`] form of `us` to `out`.
pub fn write_rfc3339_us(us: i64, out: &mut String) {
    let secs = us.div_euclid(US_PER_SEC);
    let micros = us.rem_euclid(US_PER_SEC);
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);

    if (0..=9999).contains(&year) {
        // Every stored event writes one or more of these: fill a fixed template, copy it once.
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        put_digits(&mut b[0..4], year);
        put_digits(&mut b[5..7], month);
        put_digits(&mut b[8..10], day);
        put_digits(&mut b[11..13], sod / 3600);
        put_digits(&mut b[14..16], sod / 60 % 60);
        put_digits(&mut b[17..19], sod % 60);
        put_digits(&mut b[20..26], micros);
        // Digits and the template's punctuation: ASCII, so this never fails.
        out.push_str(std::str::from_utf8(&b).unwrap_or_default());
        return;
    }
    // Years outside 0..=9999 take RFC 3339's expanded form (sign and six digits).
    out.push(if year < 0 { '-' } else { '+' });
    push_digits(out, year.abs(), 6);
    out.push('-');
    push_digits(out, month, 2);
    out.push('-');
    push_digits(out, day, 2);
    out.push('T');
    push_digits(out, sod / 3600, 2);
    out.push(':');
    push_digits(out, sod / 60 % 60, 2);
    out.push(':');
    push_digits(out, sod % 60, 2);
    out.push('.');
    push_digits(out, micros, 6);
    out.push('Z');
}

/// `00` to `99`, back to back.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Writes the last `dst.len()` decimal digits of `v` (non-negative) into `dst`, two at a time:
/// every stored event formats one or more times.
fn put_digits(dst: &mut [u8], v: i64) {
    let mut n = v.unsigned_abs();
    let mut i = dst.len();
    while i >= 2 {
        let p = (n % 100) as usize * 2;
        dst[i - 2..i].copy_from_slice(&DIGIT_PAIRS[p..p + 2]);
        n /= 100;
        i -= 2;
    }
    if i == 1 {
        dst[0] = b'0' + (n % 10) as u8;
    }
}

/// Writes `v` (non-negative) in at least `width` zero-padded decimal digits.
fn push_digits(out: &mut String, v: i64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    while n > 0 {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = i.min(buf.len().saturating_sub(width));
    out.push_str(std::str::from_utf8(&buf[start..]).unwrap_or_default());
}

// Proleptic-Gregorian era arithmetic (400-year eras of 146,097 days, years starting in March).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format_exactly() {
        assert_eq!(format_rfc3339_us(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_rfc3339_us(1_733_262_797_123_456),
            "2024-12-03T21:53:17.123456Z"
        );
        assert_eq!(
            format_rfc3339_us(951_782_400_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(format_rfc3339_us(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            format_rfc3339_us(4_102_444_799_999_999),
            "2099-12-31T23:59:59.999999Z"
        );
    }
}
