//! Commit times: a UTC instant with the two text forms watchflakes writes (`YYYY-MM-DD HH:MM`
//! in comment headers, RFC 3339 in the `date` record field) and an RFC 3339 parser.
//!
//! Civil-date arithmetic is the proleptic Gregorian calendar (days-from-civil and its
//! inverse), which is all Go's `time.Time.Format` does for a UTC time.

use std::fmt;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// An instant in UTC, with nanosecond precision. Ordered by time.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

/// Why a timestamp text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 timestamp {text:?}: {reason}")]
pub struct TimestampError {
    /// The rejected text.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A calendar date and time of day in UTC.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp { secs: 0, nanos: 0 };

    /// The instant `secs` seconds and `nanos` nanoseconds after the Unix epoch; `None` when
    /// `nanos` is not below one billion.
    pub const fn from_unix(secs: i64, nanos: u32) -> Option<Timestamp> {
        if nanos >= 1_000_000_000 {
            return None;
        }
        Some(Timestamp { secs, nanos })
    }

    /// The system clock to the whole second; `None` when it reads before the Unix epoch.
    pub fn now() -> Option<Timestamp> {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .ok()?;
        Timestamp::from_unix(i64::try_from(since.as_secs()).ok()?, 0)
    }

    /// Whole seconds since the Unix epoch (rounded towards the past).
    pub const fn unix_seconds(self) -> i64 {
        self.secs
    }

    /// The nanoseconds within the second.
    pub const fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// Parses RFC 3339 text: `YYYY-MM-DDTHH:MM:SS`, an optional fraction of a second, then `Z`
    /// or a `+HH:MM`/`-HH:MM` offset, which is converted to UTC.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampError> {
        let fail = |reason| TimestampError {
            text: text.to_owned(),
            reason,
        };
        let b = text.as_bytes();
        if b.len() < 20 {
            return Err(fail("too short"));
        }
        let num = |range: std::ops::Range<usize>| -> Result<u32, TimestampError> {
            let digits = &b[range];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(fail("expected digits"));
            }
            Ok(digits
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
        };
        for (at, want) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
            if b[at] != want {
                return Err(fail("bad separator"));
            }
        }
        let civil = Civil {
            year: i64::from(num(0..4)?),
            month: num(5..7)?,
            day: num(8..10)?,
            hour: num(11..13)?,
            minute: num(14..16)?,
            second: num(17..19)?,
        };
        if !(1..=12).contains(&civil.month) {
            return Err(fail("month out of range"));
        }
        if civil.day == 0 || civil.day > days_in_month(civil.year, civil.month) {
            return Err(fail("day out of range"));
        }
        if civil.hour > 23 || civil.minute > 59 || civil.second > 59 {
            return Err(fail("time of day out of range"));
        }
        let mut rest = &b[19..];
        let mut nanos = 0u32;
        if let Some(frac) = rest.strip_prefix(b".") {
            let digits = frac.iter().take_while(|d| d.is_ascii_digit()).count();
            if digits == 0 {
                return Err(fail("empty fraction of a second"));
            }
            let mut scale = 100_000_000;
            for d in &frac[..digits.min(9)] {
                nanos += u32::from(d - b'0') * scale;
                scale /= 10;
            }
            rest = &frac[digits..];
        }
        let offset = match rest {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let pair = |hi: u8, lo: u8| -> Result<i64, TimestampError> {
                    if hi.is_ascii_digit() && lo.is_ascii_digit() {
                        Ok(i64::from(hi - b'0') * 10 + i64::from(lo - b'0'))
                    } else {
                        Err(fail("bad offset"))
                    }
                };
                let (hours, minutes) = (pair(*h1, *h2)?, pair(*m1, *m2)?);
                if hours > 23 || minutes > 59 {
                    return Err(fail("offset out of range"));
                }
                let offset = hours * 3600 + minutes * 60;
                if *sign == b'-' { -offset } else { offset }
            }
            _ => return Err(fail("expected Z or a numeric offset")),
        };
        Ok(Timestamp {
            secs: civil.to_unix() - offset,
            nanos,
        })
    }

    /// The `YYYY-MM-DD HH:MM` form used in comment headers (Go layout `2006-01-02 15:04`).
    pub fn format_minute(self) -> String {
        let c = Civil::from_unix(self.secs);
        format!("{} {:02}:{:02}", c.date_text(), c.hour, c.minute)
    }

    /// RFC 3339 in UTC without fractional seconds (`2025-03-04T05:06:07Z`), as Go's
    /// `time.RFC3339` layout formats a UTC time; the `date` field of a record.
    pub fn format_rfc3339(self) -> String {
        let c = Civil::from_unix(self.secs);
        format!(
            "{}T{:02}:{:02}:{:02}Z",
            c.date_text(),
            c.hour,
            c.minute,
            c.second
        )
    }
}

impl fmt::Display for Timestamp {
    /// Formats as [`Timestamp::format_rfc3339`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format_rfc3339())
    }
}

impl Civil {
    fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(DAY);
        let in_day = secs.rem_euclid(DAY);
        let (year, month, day) = civil_from_days(days);
        // `in_day` is in 0..86400, so these fit in u32.
        let in_day = u32::try_from(in_day).unwrap_or(0);
        Civil {
            year,
            month,
            day,
            hour: in_day / 3600,
            minute: in_day / 60 % 60,
            second: in_day % 60,
        }
    }

    fn to_unix(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * DAY
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// `YYYY-MM-DD`; the year as Go prints it: at least 4 digits, a minus sign before them.
    fn date_text(self) -> String {
        let year = if self.year < 0 {
            format!("-{:04}", self.year.unsigned_abs())
        } else {
            format!("{:04}", self.year)
        };
        format!("{year}-{:02}-{:02}", self.month, self.day)
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (`month` 1..=12).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Shift the year to start in March so the leap day is last.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // month is in 1..=12 and day in 1..=31.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).expect("valid timestamp")
    }

    #[test]
    fn formats_both_layouts() {
        let t = ts("2025-03-04T05:06:07Z");
        assert_eq!(t.format_minute(), "2025-03-04 05:06");
        assert_eq!(t.format_rfc3339(), "2025-03-04T05:06:07Z");
        assert_eq!(t.to_string(), "2025-03-04T05:06:07Z");
        assert_eq!(t.unix_seconds(), 1_741_064_767);
    }

    #[test]
    fn epoch_and_negative_times() {
        assert_eq!(
            Timestamp::UNIX_EPOCH.format_rfc3339(),
            "1970-01-01T00:00:00Z"
        );
        let before = Timestamp::from_unix(-1, 0).expect("valid");
        assert_eq!(before.format_rfc3339(), "1969-12-31T23:59:59Z");
        // Year 0 and a negative year, as Go pads them.
        let year0 = ts("0000-03-01T00:00:00Z");
        assert_eq!(year0.format_minute(), "0000-03-01 00:00");
        let earlier = Timestamp::from_unix(year0.unix_seconds() - 366 * DAY, 0).expect("valid");
        assert_eq!(earlier.format_rfc3339(), "-0001-03-01T00:00:00Z");
    }

    #[test]
    fn leap_days_round_trip() {
        for text in [
            "2000-02-29T12:00:00Z",
            "2024-02-29T23:59:59Z",
            "1900-03-01T00:00:00Z",
            "2100-12-31T00:00:00Z",
        ] {
            assert_eq!(ts(text).format_rfc3339(), text);
        }
        // Every day for 1200 years converts back and forth.
        for days in -200_000..240_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "day {days}");
        }
    }

    #[test]
    fn offsets_and_fractions_become_utc() {
        let t = ts("2025-03-04T07:36:07.25+02:30");
        assert_eq!(t.format_rfc3339(), "2025-03-04T05:06:07Z");
        assert_eq!(t.subsec_nanos(), 250_000_000);
        assert_eq!(
            ts("2025-03-03T23:06:07-06:00").format_rfc3339(),
            "2025-03-04T05:06:07Z"
        );
        assert!(ts("2025-01-01T00:00:00.000000001Z") > ts("2025-01-01T00:00:00Z"));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "2025-03-04",
            "2025-03-04 05:06:07Z",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:00:60Z",
            "2025-01-01T00:00:00",
            "2025-01-01T00:00:00.Z",
            "2025-01-01T00:00:00+0100",
            "2025-01-01T00:00:00+25:00",
            "20x5-01-01T00:00:00Z",
        ] {
            let err = Timestamp::parse_rfc3339(bad).expect_err(bad);
            assert_eq!(err.text, bad);
        }
        assert!(Timestamp::from_unix(0, 1_000_000_000).is_none());
    }

    proptest::proptest! {
        #[test]
        fn rfc3339_round_trips(secs in -62_167_219_200i64..253_402_300_800i64) {
            // Years 0000..=9999: the text parses back to the same instant.
            let t = Timestamp::from_unix(secs, 0).expect("valid");
            let text = t.format_rfc3339();
            proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&text), Ok(t));
            proptest::prop_assert!(text.starts_with(&t.format_minute()[..10]));
        }
    }
}
