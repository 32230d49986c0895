//! Dates and times for people: reading a time given on the command line ("2026-12-20
//! 17:00", RFC 3339) and writing one back, and calendar dates, without a clock (the caller
//! passes the time). Proleptic Gregorian, UTC unless a zone is given.

const MS_PER_DAY: i64 = 86_400_000;

/// A time for people, in UTC: `2026-12-20 17:00:00 UTC` (milliseconds shown only if not
/// zero). The API and the audit tools write times so, whatever the machine's zone.
pub fn format_ms(ms: u64) -> String {
    format!("{} UTC", civil(i64::try_from(ms).unwrap_or(i64::MAX)))
}

/// The zone the command line shows and reads times in: the machine's (`TZ`, else
/// `/etc/localtime`), or UTC if it cannot be known.
pub fn local_zone() -> &'static jiff::tz::TimeZone {
    static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();
    ZONE.get_or_init(|| jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC))
}

/// `tz`'s offset from UTC at `ms`, in ms.
fn offset_at(tz: &jiff::tz::TimeZone, ms: i64) -> i64 {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| i64::from(tz.to_offset(t).seconds()) * 1_000)
        .unwrap_or(0)
}

/// A time for people in the machine's zone: `2026-07-20 18:00:00 +01:00`, or
/// `... UTC` where the zone is at UTC then (as `format_ms`).
pub fn format_local(ms: u64) -> String {
    format_in(ms, local_zone())
}

/// A time for people in zone `tz` (see [`format_local`]).
pub fn format_in(ms: u64, tz: &jiff::tz::TimeZone) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX / 2);
    let off = offset_at(tz, ms);
    if off == 0 {
        return format!("{} UTC", civil(ms));
    }
    let (sign, a) = if off < 0 { ('-', -off) } else { ('+', off) };
    format!(
        "{} {sign}{:02}:{:02}",
        civil(ms + off),
        a / 3_600_000,
        a / 60_000 % 60
    )
}

/// Reads a time as [`parse_time`] does, but a time without a zone is in the machine's
/// zone (as the command line shows times).
pub fn parse_local(input: &str) -> Result<u64, TimeError> {
    parse_in(input, local_zone())
}

/// Reads a time; one without a zone is in `tz`.
pub fn parse_in(input: &str, tz: &jiff::tz::TimeZone) -> Result<u64, TimeError> {
    parse_with(input, |naive| {
        // The offset that holds at the instant meant (a second look settles a time
        // near a change of offset).
        let first = offset_at(tz, naive);
        offset_at(tz, naive - first)
    })
}

/// `YYYY-MM-DD HH:MM:SS[.fff]` of ms since the epoch, read as UTC.
fn civil(ms: i64) -> String {
    let (days, rest) = (ms.div_euclid(MS_PER_DAY), ms.rem_euclid(MS_PER_DAY));
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1_000 % 60,
        rest % 1_000,
    );
    if milli == 0 {
        format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}")
    } else {
        format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}.{milli:03}")
    }
}

/// Why a time given on the command line could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "{input:?} is not a time: {reason}. Write it as \"2026-12-20 17:00\", \
     \"2026-12-20 17:00 +01:00\", or in RFC 3339 (\"2026-12-20T17:00:00Z\")"
)]
pub struct TimeError {
    input: String,
    reason: String,
}

/// Reads a time: `YYYY-MM-DD`, optionally followed (after a space or `T`) by `HH:MM`,
/// `HH:MM:SS` or `HH:MM:SS.fff`, optionally followed (with or without a space) by a zone:
/// `Z`, `UTC`, or an offset `+HH:MM` / `-HH:MM`. Without a zone the time is UTC (see
/// [`parse_local`] for the machine's zone). So both
/// "2026-12-20 17:00" and RFC 3339 ("2026-12-20T17:00:00+01:00") are read. Returns ms since
/// the Unix epoch.
pub fn parse_time(input: &str) -> Result<u64, TimeError> {
    parse_with(input, |_| 0)
}

/// The parser; `default_offset` gives the zone's offset (ms) for a time written without
/// one, from that time read as UTC.
fn parse_with(input: &str, default_offset: impl Fn(i64) -> i64) -> Result<u64, TimeError> {
    let fail = |reason: &str| TimeError {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let s = input.trim();
    let start = || fail("it does not start YYYY-MM-DD");
    let date = s.get(0..10).ok_or_else(start)?;
    let rest = &s[10..];
    let y = digits(date.get(0..4), 0, 9999).ok_or_else(start)?;
    if date.get(4..5) != Some("-") || date.get(7..8) != Some("-") {
        return Err(start());
    }
    let m = digits(date.get(5..7), 1, 12).ok_or_else(|| fail("the month is not 01 to 12"))?;
    let d = digits(date.get(8..10), 1, days_in_month(y, m))
        .ok_or_else(|| fail("that day is not in that month"))?;
    let mut rest = rest;
    let mut clock_ms = 0i64;
    if let Some(r) = rest.strip_prefix([' ', 'T', 't']) {
        let r = r.trim_start();
        if r.len() >= 5 && r.as_bytes()[2] == b':' {
            let h = digits(r.get(0..2), 0, 23).ok_or_else(|| fail("the hour is not 00 to 23"))?;
            let min =
                digits(r.get(3..5), 0, 59).ok_or_else(|| fail("the minute is not 00 to 59"))?;
            clock_ms = (h * 60 + min) * 60_000;
            rest = &r[5..];
            if let Some(r) = rest.strip_prefix(':') {
                let sec =
                    digits(r.get(0..2), 0, 59).ok_or_else(|| fail("the second is not 00 to 59"))?;
                clock_ms += sec * 1_000;
                rest = r.get(2..).unwrap_or_default();
                if let Some(r) = rest.strip_prefix(['.', ',']) {
                    let n = r.bytes().take_while(u8::is_ascii_digit).count();
                    if n == 0 {
                        return Err(fail("a fraction of a second needs digits"));
                    }
                    let frac = &r[..n];
                    let ms: String = frac.chars().chain("000".chars()).take(3).collect();
                    clock_ms += ms.parse::<i64>().map_err(|_| fail("bad fraction"))?;
                    rest = &r[n..];
                }
            }
        } else if r.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(fail("the time of day must be HH:MM or HH:MM:SS"));
        } else {
            rest = r;
        }
    }
    let naive = days_from_civil(y, m, d) * MS_PER_DAY + clock_ms;
    let written = rest.trim();
    let offset_ms = if written.is_empty() {
        default_offset(naive)
    } else {
        zone(written).ok_or_else(|| {
            fail("the zone must be Z, UTC or an offset such as +01:00 (or left out)")
        })?
    };
    let ms = naive - offset_ms;
    u64::try_from(ms).map_err(|_| fail("it is before 1970-01-01 00:00 UTC"))
}

/// A zone's offset from UTC in ms: "" / Z / UTC → 0, ±HH:MM or ±HHMM or ±HH.
fn zone(z: &str) -> Option<i64> {
    if z.is_empty() || z.eq_ignore_ascii_case("z") || z.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let sign = match z.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = &z[1..];
    let (h, m) = match body.len() {
        2 => (body.get(0..2), Some("00")),
        4 => (body.get(0..2), body.get(2..4)),
        5 if body.get(2..3) == Some(":") => (body.get(0..2), body.get(3..5)),
        _ => return None,
    };
    let h = digits(h, 0, 23)?;
    let m = digits(m, 0, 59)?;
    Some(sign * (h * 60 + m) * 60_000)
}

/// A number written with exactly the given ASCII digits, within `lo..=hi`.
fn digits(s: Option<&str>, lo: i64, hi: i64) -> Option<i64> {
    let s = s?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| (lo..=hi).contains(n))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The calendar date `days` after `now_ms`, as "YYYY-MM-DD" (UTC).
pub fn date_after(now_ms: u64, days: u64) -> String {
    let day = i64::try_from(now_ms / 86_400_000 + days).unwrap_or(i64::MAX / 2);
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_dates() {
        assert_eq!(date_after(0, 0), "1970-01-01");
        // 2024-02-29 12:00 UTC is 1_709_208_000_000 ms.
        assert_eq!(date_after(1_709_208_000_000, 0), "2024-02-29");
        assert_eq!(date_after(1_709_208_000_000, 1), "2024-03-01");
        assert_eq!(date_after(1_709_208_000_000, 307), "2025-01-01");
    }

    #[test]
    fn times_read_as_people_and_rfc_3339_write_them() {
        let t = 1_797_786_000_000; // 2026-12-20 17:00:00 UTC
        assert_eq!(format_ms(t), "2026-12-20 17:00:00 UTC");
        for s in [
            "2026-12-20 17:00",
            "2026-12-20 17:00:00",
            "2026-12-20T17:00:00Z",
            "2026-12-20t17:00:00.000z",
            "2026-12-20 17:00 UTC",
            "2026-12-20T18:00:00+01:00",
            "2026-12-20 12:00 -0500",
            " 2026-12-20 17:00 ",
        ] {
            assert_eq!(parse_time(s).map_err(|e| e.to_string()), Ok(t), "{s}");
        }
        assert_eq!(parse_time("2026-12-20").ok(), Some(t - 17 * 3_600_000));
        assert_eq!(parse_time("2026-12-20T17:00:00.25Z").ok(), Some(t + 250));
        assert_eq!(format_ms(t + 250), "2026-12-20 17:00:00.250 UTC");
        assert_eq!(parse_time("1970-01-01T00:00:00Z").ok(), Some(0));
        // What `format_ms` writes, `parse_time` reads back.
        for ms in [0, 1, t, t + 250, 4_102_444_799_999] {
            assert_eq!(
                parse_time(&format_ms(ms)).ok(),
                Some(ms),
                "{}",
                format_ms(ms)
            );
        }
        assert_eq!(
            parse_time("2024-02-29").map(format_ms).ok().as_deref(),
            Some("2024-02-29 00:00:00 UTC")
        );
        // In a zone an hour ahead of UTC: written and read in it, and back.
        let plus_one = jiff::tz::TimeZone::fixed(jiff::tz::offset(1));
        assert_eq!(format_in(t, &plus_one), "2026-12-20 18:00:00 +01:00");
        assert_eq!(parse_in("2026-12-20 18:00", &plus_one).ok(), Some(t));
        assert_eq!(parse_in("2026-12-20 17:00 UTC", &plus_one).ok(), Some(t));
        assert_eq!(parse_time(&format_in(t, &plus_one)).ok(), Some(t));
        assert_eq!(format_in(t, &jiff::tz::TimeZone::UTC), format_ms(t));
        // Where the zone database is there: London is at UTC in December, an hour
        // ahead in July (British Summer Time).
        if let Ok(london) = jiff::tz::TimeZone::get("Europe/London") {
            assert_eq!(format_in(t, &london), "2026-12-20 17:00:00 UTC");
            let july = parse_time("2026-07-20 17:00Z").expect("time");
            assert_eq!(format_in(july, &london), "2026-07-20 18:00:00 +01:00");
            assert_eq!(parse_in("2026-07-20 18:00", &london).ok(), Some(july));
        }
        for (bad, why) in [
            ("tomorrow", "YYYY-MM-DD"),
            ("2026-13-01", "month"),
            ("2026-02-29", "day"),
            ("2026-12-20 24:00", "hour"),
            ("2026-12-20 17:60", "minute"),
            ("2026-12-20 17:00 CET", "zone"),
            ("1969-12-31 23:59", "before 1970"),
            ("1797786000000", "YYYY-MM-DD"),
            ("2026-12-20 17", "HH:MM"),
            ("2026-12-2\u{e9}", "YYYY-MM-DD"),
            ("2026-12-20 17:00 +\u{20ac}x", "zone"),
        ] {
            let e = parse_time(bad).expect_err(bad).to_string();
            assert!(
                e.contains(why) && e.contains("2026-12-20 17:00"),
                "{bad}: {e}"
            );
        }
    }
}
