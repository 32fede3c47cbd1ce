//! Cells of a query result as Rust values. BigQuery's JSON answers carry every scalar as a
//! string (`"12"`, `"true"`, `"0.30000000000000004"`) or `null`; a `TIMESTAMP` is integer
//! microseconds since the epoch when `formatOptions.useInt64Timestamp` is set (and always in
//! bqemulator), else floating-point seconds in a string (`"1.74942720025E9"`). Both are read,
//! exactly.

use serde_json::Value;

use crate::client::Error;

fn bad(column: &str, v: &Value, what: &str) -> Error {
    Error::BadAnswer(format!("column {column}: {v} is not {what}"))
}

/// A `STRING` cell.
pub fn string(column: &str, v: &Value) -> Result<Option<String>, Error> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(bad(column, other, "a string")),
    }
}

/// A `STRING` cell that must not be `NULL`.
pub fn required_string(column: &str, v: &Value) -> Result<String, Error> {
    string(column, v)?.ok_or_else(|| bad(column, v, "a string"))
}

/// An `INT64` cell.
pub fn int(column: &str, v: &Value) -> Result<Option<i64>, Error> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => s.parse().map(Some).map_err(|_| bad(column, v, "an INT64")),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| bad(column, v, "an INT64")),
        other => Err(bad(column, other, "an INT64")),
    }
}

/// A `BOOL` cell.
pub fn boolean(column: &str, v: &Value) -> Result<Option<bool>, Error> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        other => Err(bad(column, other, "a BOOL")),
    }
}

/// A `FLOAT64` cell (the shortest text that reads back as the same `f64`, as BigQuery and
/// serde write it, reads back exactly).
pub fn float(column: &str, v: &Value) -> Result<Option<f64>, Error> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(Some(f64::NAN)),
            "Infinity" => Ok(Some(f64::INFINITY)),
            "-Infinity" => Ok(Some(f64::NEG_INFINITY)),
            _ => s.parse().map(Some).map_err(|_| bad(column, v, "a FLOAT64")),
        },
        Value::Number(n) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| bad(column, v, "a FLOAT64")),
        other => Err(bad(column, other, "a FLOAT64")),
    }
}

/// A `TIMESTAMP` cell in microseconds since the epoch: integer microseconds (`"1749427200250000"`)
/// or decimal seconds (`"1749427200.25"`, `"1.74942720025E9"`).
pub fn timestamp_micros(column: &str, v: &Value) -> Result<Option<i64>, Error> {
    let text = match v {
        Value::Null => return Ok(None),
        Value::String(s) => s.as_str(),
        Value::Number(n) => return int(column, &Value::String(n.to_string())),
        other => return Err(bad(column, other, "a TIMESTAMP")),
    };
    parse_timestamp(text)
        .map(Some)
        .ok_or_else(|| bad(column, v, "a TIMESTAMP"))
}

/// See [`timestamp_micros`].
pub fn parse_timestamp(text: &str) -> Option<i64> {
    if !text.is_empty()
        && text
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
    {
        return text.parse().ok();
    }
    // Decimal seconds: [-]DIGITS[.DIGITS][(e|E)[+-]DIGITS], converted without floats.
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i32>().ok()?),
        None => (rest, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        || whole.len() + fraction.len() > 30
    {
        return None;
    }
    let digits: i128 = format!("{whole}{fraction}").parse().ok()?;
    // value = digits × 10^(exponent − len(fraction)) seconds = digits × 10^shift µs.
    let shift = exponent
        .checked_sub(fraction.len() as i32)?
        .checked_add(6)?;
    let micros = if shift >= 0 {
        digits.checked_mul(10i128.checked_pow(shift as u32)?)?
    } else {
        let divisor = 10i128.checked_pow(shift.unsigned_abs())?;
        // Round to the nearest microsecond (a float's text may end in …9999).
        (digits + divisor / 2) / divisor
    };
    let micros = if negative { -micros } else { micros };
    i64::try_from(micros).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_in_both_encodings() {
        // 2025-06-09T00:00:00.25Z
        let us = 1_749_427_200_250_000;
        for text in [
            "1749427200250000",
            "1749427200.25",
            "1.74942720025E9",
            "1.74942720025e+9",
            "174942720025e-2",
        ] {
            assert_eq!(parse_timestamp(text), Some(us), "{text}");
        }
        assert_eq!(
            parse_timestamp("1.7494272000000002E9"),
            Some(1_749_427_200_000_000)
        );
        assert_eq!(parse_timestamp("-1.5"), Some(-1_500_000));
        assert_eq!(parse_timestamp("0"), Some(0));
        for bad in ["", ".", "1e", "x", "1.2.3", "1e999", "--1"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert_eq!(timestamp_micros("t", &json!(null)).unwrap(), None);
        assert!(timestamp_micros("t", &json!([1])).is_err());
    }

    #[test]
    fn scalars() {
        assert_eq!(boolean("b", &json!("true")).unwrap(), Some(true));
        assert_eq!(int("n", &json!("-5")).unwrap(), Some(-5));
        assert_eq!(
            float("f", &json!("0.30000000000000004")).unwrap(),
            Some(0.1 + 0.2)
        );
        assert_eq!(string("s", &json!("")).unwrap(), Some(String::new()));
        assert!(int("n", &json!("x")).is_err());
    }
}
