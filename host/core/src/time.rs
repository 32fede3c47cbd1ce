//! Instants in UTC with the text forms watchflakes writes (`YYYY-MM-DD HH:MM` in comment
//! headers, RFC 3339 in the `date` record field) and a strict RFC 3339 parser.
//!
//! The calendar is `jiff`'s: this module only fixes which texts are accepted and how years
//! are printed (Go's layout: at least four digits, a minus sign before them).

use std::fmt;

use jiff::SignedDuration;
use jiff::civil::DateTime;
use jiff::tz::Offset;

/// An instant in UTC, with nanosecond precision, in the years -9999 to 9999. Ordered by time.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(jiff::Timestamp);

/// Why a timestamp text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 timestamp {text:?}: {reason}")]
pub struct TimestampError {
    /// The rejected text.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(jiff::Timestamp::UNIX_EPOCH);

    /// The instant `secs` seconds and `nanos` nanoseconds after the Unix epoch; `None` when
    /// `nanos` is not below one billion or the instant is outside the supported years.
    pub fn from_unix(secs: i64, nanos: u32) -> Option<Timestamp> {
        let nanos = i32::try_from(nanos).ok().filter(|n| *n < 1_000_000_000)?;
        jiff::Timestamp::new(secs, nanos).ok().map(Timestamp)
    }

    /// The system clock to the whole second; `None` when it reads before the Unix epoch.
    pub fn now() -> Option<Timestamp> {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .ok()?;
        Timestamp::from_unix(i64::try_from(since.as_secs()).ok()?, 0)
    }

    /// Whole seconds since the Unix epoch (rounded towards the past).
    pub fn unix_seconds(self) -> i64 {
        let secs = self.0.as_second();
        if self.0.subsec_nanosecond() < 0 {
            secs - 1
        } else {
            secs
        }
    }

    /// The nanoseconds within the second (counted from the second before).
    pub fn subsec_nanos(self) -> u32 {
        u32::try_from(self.0.subsec_nanosecond().rem_euclid(1_000_000_000)).unwrap_or(0)
    }

    /// The instant `days` whole days (of 86,400 seconds) earlier; the earliest supported
    /// instant if that is out of range.
    pub fn days_before(self, days: u32) -> Timestamp {
        let span = SignedDuration::from_hours(i64::from(days) * 24);
        Timestamp(self.0.checked_sub(span).unwrap_or(jiff::Timestamp::MIN))
    }

    /// Parses RFC 3339 text: `YYYY-MM-DDTHH:MM:SS`, an optional fraction of a second, then `Z`
    /// or a `+HH:MM`/`-HH:MM` offset, which is converted to UTC. Nothing else is accepted
    /// (no space for `T`, no offset without its colon), as Go's `time.RFC3339` layout.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampError> {
        let fail = |reason| TimestampError {
            text: text.to_owned(),
            reason,
        };
        let b = text.as_bytes();
        if b.len() < 20 {
            return Err(fail("too short"));
        }
        let num = |range: std::ops::Range<usize>| -> Result<i16, TimestampError> {
            let digits = &b[range];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(fail("expected digits"));
            }
            Ok(digits
                .iter()
                .fold(0, |acc, d| acc * 10 + i16::from(d - b'0')))
        };
        for (at, want) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
            if b[at] != want {
                return Err(fail("bad separator"));
            }
        }
        let small = |v: i16| i8::try_from(v).unwrap_or(i8::MAX);
        let (year, month, day) = (num(0..4)?, small(num(5..7)?), small(num(8..10)?));
        let (hour, minute, second) = (
            small(num(11..13)?),
            small(num(14..16)?),
            small(num(17..19)?),
        );
        if !(1..=12).contains(&month) {
            return Err(fail("month out of range"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(fail("time of day out of range"));
        }
        let mut rest = &b[19..];
        let mut nanos = 0i32;
        if let Some(frac) = rest.strip_prefix(b".") {
            let digits = frac.iter().take_while(|d| d.is_ascii_digit()).count();
            if digits == 0 {
                return Err(fail("empty fraction of a second"));
            }
            let mut scale = 100_000_000;
            for d in &frac[..digits.min(9)] {
                nanos += i32::from(d - b'0') * scale;
                scale /= 10;
            }
            rest = &frac[digits..];
        }
        let offset_seconds = match rest {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let pair = |hi: u8, lo: u8| -> Result<i32, TimestampError> {
                    if hi.is_ascii_digit() && lo.is_ascii_digit() {
                        Ok(i32::from(hi - b'0') * 10 + i32::from(lo - b'0'))
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
        let civil = DateTime::new(year, month, day, hour, minute, second, nanos)
            .map_err(|_| fail("day out of range"))?;
        let offset =
            Offset::from_seconds(offset_seconds).map_err(|_| fail("offset out of range"))?;
        offset
            .to_timestamp(civil)
            .map(Timestamp)
            .map_err(|_| fail("out of the supported years"))
    }

    /// The `YYYY-MM-DD HH:MM` form used in comment headers (Go layout `2006-01-02 15:04`).
    pub fn format_minute(self) -> String {
        let c = self.civil();
        format!("{} {:02}:{:02}", date_text(c), c.hour(), c.minute())
    }

    /// RFC 3339 in UTC without fractional seconds (`2025-03-04T05:06:07Z`), as Go's
    /// `time.RFC3339` layout formats a UTC time; the `date` field of a record.
    pub fn format_rfc3339(self) -> String {
        let c = self.civil();
        format!(
            "{}T{:02}:{:02}:{:02}Z",
            date_text(c),
            c.hour(),
            c.minute(),
            c.second()
        )
    }

    /// RFC 3339 in UTC with milliseconds (`2025-03-04T05:06:07.250Z`), as mozlog's
    /// consumers print its millisecond times.
    pub fn format_rfc3339_millis(self) -> String {
        let c = self.civil();
        format!(
            "{}T{:02}:{:02}:{:02}.{:03}Z",
            date_text(c),
            c.hour(),
            c.minute(),
            c.second(),
            c.millisecond()
        )
    }

    /// The calendar date and time of day in UTC.
    fn civil(self) -> DateTime {
        Offset::UTC.to_datetime(self.0)
    }
}

/// `YYYY-MM-DD`; the year as Go prints it: at least 4 digits, a minus sign before them.
fn date_text(c: DateTime) -> String {
    let year = if c.year() < 0 {
        format!("-{:04}", c.year().unsigned_abs())
    } else {
        format!("{:04}", c.year())
    };
    format!("{year}-{:02}-{:02}", c.month(), c.day())
}

impl fmt::Display for Timestamp {
    /// Formats as [`Timestamp::format_rfc3339`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

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
        let ms = ts("2025-03-04T05:06:07.25Z");
        assert_eq!(ms.format_rfc3339_millis(), "2025-03-04T05:06:07.250Z");
    }

    #[test]
    fn epoch_and_negative_times() {
        assert_eq!(
            Timestamp::UNIX_EPOCH.format_rfc3339(),
            "1970-01-01T00:00:00Z"
        );
        let before = Timestamp::from_unix(-1, 0).expect("valid");
        assert_eq!(before.format_rfc3339(), "1969-12-31T23:59:59Z");
        assert_eq!(before.unix_seconds(), -1);
        let half = Timestamp::from_unix(-1, 500_000_000).expect("valid");
        assert_eq!(
            (half.unix_seconds(), half.subsec_nanos()),
            (-1, 500_000_000)
        );
        // Year 0 and a negative year, as Go pads them.
        let year0 = ts("0000-03-01T00:00:00Z");
        assert_eq!(year0.format_minute(), "0000-03-01 00:00");
        let earlier = Timestamp::from_unix(year0.unix_seconds() - 366 * DAY, 0).expect("valid");
        assert_eq!(earlier.format_rfc3339(), "-0001-03-01T00:00:00Z");
    }

    #[test]
    fn days_before_counts_whole_days() {
        let t = ts("2025-03-01T12:00:00Z");
        assert_eq!(t.days_before(1).format_rfc3339(), "2025-02-28T12:00:00Z");
        assert_eq!(
            t.days_before(45).unix_seconds(),
            t.unix_seconds() - 45 * DAY
        );
        assert_eq!(
            Timestamp::UNIX_EPOCH.days_before(u32::MAX),
            Timestamp(jiff::Timestamp::MIN)
        );
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
        fn rfc3339_round_trips(secs in -62_167_219_200i64..=jiff::Timestamp::MAX.as_second()) {
            // Years 0000 to the end of the supported range: the text parses back to the same instant.
            let t = Timestamp::from_unix(secs, 0).expect("valid");
            let text = t.format_rfc3339();
            proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&text), Ok(t));
            proptest::prop_assert!(text.starts_with(&t.format_minute()[..10]));
        }
    }
}
