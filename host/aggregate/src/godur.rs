//! Go's `time.Duration` text forms: `time.ParseDuration` and `Duration.String`, in
//! nanoseconds, for the disruption side-car files and `analyze-historical-data` tables.

/// Parses a Go duration string (`1m2.5s`, `500ms`, `-1h`, `0`); `None` when Go would refuse
/// it or it overflows.
pub fn parse(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after) = rest.strip_prefix('.') {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after[..n];
            rest = &after[n..];
            if int_part.is_empty() && frac_part.is_empty() {
                return None;
            }
        } else if int_part.is_empty() {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = whole.checked_mul(unit)?;
        if !frac_part.is_empty() {
            // Go scales the fraction with float64; the results we read have at most
            // nanosecond digits, which this computes exactly.
            let mut scale = unit;
            let mut frac_value: u128 = 0;
            let mut denom: u128 = 1;
            for b in frac_part.bytes().take(30) {
                frac_value = frac_value * 10 + u128::from(b - b'0');
                denom *= 10;
            }
            scale = scale.checked_mul(frac_value)?;
            value = value.checked_add(scale / denom)?;
        }
        total = total.checked_add(value)?;
        if total > i64::MAX as u128 + u128::from(neg) {
            return None;
        }
    }
    let total = total as i128;
    i64::try_from(if neg { -total } else { total }).ok()
}

/// Formats nanoseconds as Go's `Duration.String` does: `1m27.56s`, `6.5s`, `500ms`, `0s`.
pub fn format(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, scale) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac(u, scale));
        out.push_str(unit);
    } else {
        let secs = u / 1_000_000_000;
        let sub = u % 1_000_000_000;
        let h = secs / 3600;
        let m = (secs % 3600) / 60;
        let s = secs % 60;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(s * 1_000_000_000 + sub, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `v / scale` with the fraction's trailing zeros (and a bare point) removed.
fn frac(v: u64, scale: u64) -> String {
    let whole = v / scale;
    let rem = v % scale;
    if rem == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(format(0), "0s");
        assert_eq!(format(3_000_000_000), "3s");
        assert_eq!(format(6_500_000_000), "6.5s");
        assert_eq!(format(90_000_000_000), "1m30s");
        assert_eq!(format(87_560_000_000), "1m27.56s");
        assert_eq!(format(500_000_000), "500ms");
        assert_eq!(format(1_500), "1.5µs");
        assert_eq!(format(3_600_000_000_000), "1h0m0s");
        assert_eq!(format(-2_000_000_000), "-2s");
    }

    #[test]
    fn parses_like_go() {
        assert_eq!(parse("2s"), Some(2_000_000_000));
        assert_eq!(parse("1m2.5s"), Some(62_500_000_000));
        assert_eq!(parse("87.560s"), Some(87_560_000_000));
        assert_eq!(parse("-1.000s"), Some(-1_000_000_000));
        assert_eq!(parse("0"), Some(0));
        assert_eq!(parse("1.5µs"), Some(1_500));
        assert_eq!(parse(""), None);
        assert_eq!(parse("3"), None);
        assert_eq!(parse("NaNs"), None);
    }
}
