//! Date math index names, evaluated as Elasticsearch evaluates them:
//! `<static{date_math_expr{date_format|time_zone}}static...>`.
//!
//! `<logs-{now/d}>` names `logs-2026.11.30` on that day (UTC). The ACL checks the concrete
//! names an expression stands for, never the expression's text; an expression this module
//! cannot evaluate exactly is an error, and the caller denies (rule 5).
//!
//! Supported, mirroring Elasticsearch's `DateMathExpressionResolver` and `JavaDateMathParser`:
//! - static text with `\` escaping the next character (`\{`, `\}`, `\\`);
//! - `now`, then any of `+N<unit>`, `-N<unit>` (N defaults to 1) and `/<unit>` (round down),
//!   units `y M w d h H m s`;
//! - the format (default `uuuu.MM.dd`): the letters `y`/`u` (year), `M` (month as number,
//!   `MMM`/`MMMM` as English name), `d`, `H`, the literals `.`, `-`, `_`, and `'quoted'`
//!   letters. Everything else is an error: other letters (minutes and seconds change faster
//!   than the gateway can bound the node's clock, week years, 12-hour clocks, zone names),
//!   digits (Elasticsearch 7 strips a leading `8`), and every other character — Java reads
//!   `[`/`]` as optional sections and `''` as a quote, where a simple reading would not;
//! - the time zone: `Z`, `UTC`, `GMT`, or an offset `+01:00`, `-0530`, `+01`; region names
//!   (`Europe/Paris`) need a time-zone database the gateway does not carry: errors.
//!
//! No IO; `now` is passed in.

use chrono::{DateTime, Datelike, Duration, FixedOffset, Months, NaiveDate, TimeZone, Timelike};

/// Elasticsearch's default format for date math index names.
const DEFAULT_FORMAT: &str = "uuuu.MM.dd";
/// An expression longer than this is not evaluated (index names are at most 255 bytes).
const MAX_EXPRESSION_BYTES: usize = 1024;
/// `+N` larger than this is refused (Elasticsearch would overflow or fail as well).
const MAX_AMOUNT: i64 = 100_000;

/// Why a date math expression was not evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot evaluate the date math index name: {0}")]
pub struct DateMathError(&'static str);

/// Whether `name` is a date math expression (`<...>`).
pub fn is_date_math(name: &str) -> bool {
    name.len() >= 2 && name.starts_with('<') && name.ends_with('>')
}

/// The concrete index name `expression` (`<...>`) stands for at `now` (milliseconds since
/// the epoch).
pub fn resolve(expression: &str, now_millis: i64) -> Result<String, DateMathError> {
    if expression.len() > MAX_EXPRESSION_BYTES {
        return Err(DateMathError("expression too long"));
    }
    let inner = expression
        .strip_prefix('<')
        .and_then(|e| e.strip_suffix('>'))
        .ok_or(DateMathError("not enclosed in < >"))?;
    let now = DateTime::from_timestamp_millis(now_millis).ok_or(DateMathError("clock"))?;
    let mut out = String::with_capacity(inner.len() + 16);
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or(DateMathError("dangling escape"))?),
            '{' => {
                let (math, format) = date_math_section(&mut chars)?;
                out.push_str(&evaluate(&math, format.as_deref(), now.timestamp_millis())?);
            }
            '}' => return Err(DateMathError("unbalanced }")),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Reads `math{format|zone}}` or `math}` after an opening `{`.
fn date_math_section(
    chars: &mut std::str::Chars<'_>,
) -> Result<(String, Option<String>), DateMathError> {
    let mut math = String::new();
    loop {
        match chars.next().ok_or(DateMathError("unclosed {"))? {
            '}' => return Ok((math, None)),
            '{' => break,
            '\\' => math.push(chars.next().ok_or(DateMathError("dangling escape"))?),
            c => math.push(c),
        }
    }
    let mut format = String::new();
    loop {
        match chars.next().ok_or(DateMathError("unclosed format"))? {
            '}' => break,
            '{' => return Err(DateMathError("nested {")),
            '\\' => format.push(chars.next().ok_or(DateMathError("dangling escape"))?),
            c => format.push(c),
        }
    }
    if chars.next() != Some('}') {
        return Err(DateMathError("expected } after the format"));
    }
    Ok((math, Some(format)))
}

/// Evaluates `now...` with `format_and_zone` (`format` or `format|zone`).
fn evaluate(
    math: &str,
    format_and_zone: Option<&str>,
    now_millis: i64,
) -> Result<String, DateMathError> {
    let (format, zone) = match format_and_zone {
        None => (DEFAULT_FORMAT, None),
        Some(text) => match text.split_once('|') {
            Some((format, zone)) => (format, Some(zone)),
            None => (text, None),
        },
    };
    let format = if format.is_empty() {
        DEFAULT_FORMAT
    } else {
        format
    };
    let offset = match zone {
        None => FixedOffset::east_opt(0).ok_or(DateMathError("zone"))?,
        Some(zone) => parse_zone(zone)?,
    };
    let now = offset
        .timestamp_millis_opt(now_millis)
        .single()
        .ok_or(DateMathError("clock"))?;
    let time = apply(math, now)?;
    format_time(&time, format)
}

/// Applies `now[+-N unit | /unit]*`.
fn apply(math: &str, now: DateTime<FixedOffset>) -> Result<DateTime<FixedOffset>, DateMathError> {
    let rest = math.strip_prefix("now").ok_or(DateMathError(
        "only expressions starting with `now` are supported",
    ))?;
    let bytes = rest.as_bytes();
    let mut time = now;
    let mut i = 0;
    while i < bytes.len() {
        let op = bytes[i];
        i += 1;
        match op {
            b'/' => {
                let unit = *bytes
                    .get(i)
                    .ok_or(DateMathError("rounding without a unit"))?;
                i += 1;
                time = round_down(time, unit)?;
            }
            b'+' | b'-' => {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let amount: i64 = if start == i {
                    1
                } else {
                    rest[start..i]
                        .parse()
                        .map_err(|_| DateMathError("amount"))?
                };
                if amount > MAX_AMOUNT {
                    return Err(DateMathError("amount too large"));
                }
                let unit = *bytes.get(i).ok_or(DateMathError("amount without a unit"))?;
                i += 1;
                let signed = if op == b'-' { -amount } else { amount };
                time = add(time, signed, unit)?;
            }
            _ => return Err(DateMathError("unexpected character in date math")),
        }
    }
    Ok(time)
}

fn add(
    time: DateTime<FixedOffset>,
    amount: i64,
    unit: u8,
) -> Result<DateTime<FixedOffset>, DateMathError> {
    let overflow = DateMathError("date out of range");
    let months = |n: i64| -> Result<DateTime<FixedOffset>, DateMathError> {
        let count = Months::new(u32::try_from(n.unsigned_abs()).map_err(|_| overflow.clone())?);
        if n >= 0 {
            time.checked_add_months(count)
        } else {
            time.checked_sub_months(count)
        }
        .ok_or(overflow.clone())
    };
    let span = match unit {
        b'y' => return months(amount * 12),
        b'M' => return months(amount),
        b'w' => Duration::try_weeks(amount),
        b'd' => Duration::try_days(amount),
        b'h' | b'H' => Duration::try_hours(amount),
        b'm' => Duration::try_minutes(amount),
        b's' => Duration::try_seconds(amount),
        _ => return Err(DateMathError("unknown unit")),
    };
    span.and_then(|span| time.checked_add_signed(span))
        .ok_or(overflow)
}

fn round_down(
    time: DateTime<FixedOffset>,
    unit: u8,
) -> Result<DateTime<FixedOffset>, DateMathError> {
    let date = time.date_naive();
    let day = match unit {
        b'y' => NaiveDate::from_ymd_opt(date.year(), 1, 1),
        b'M' => NaiveDate::from_ymd_opt(date.year(), date.month(), 1),
        // ISO weeks start on Monday, as in Elasticsearch.
        b'w' => date.checked_sub_signed(Duration::days(i64::from(
            date.weekday().num_days_from_monday(),
        ))),
        _ => Some(date),
    }
    .ok_or(DateMathError("date out of range"))?;
    let (hour, minute, second) = match unit {
        b'y' | b'M' | b'w' | b'd' => (0, 0, 0),
        b'h' | b'H' => (time.hour(), 0, 0),
        b'm' => (time.hour(), time.minute(), 0),
        b's' => (time.hour(), time.minute(), time.second()),
        _ => return Err(DateMathError("unknown rounding unit")),
    };
    let naive = day
        .and_hms_opt(hour, minute, second)
        .ok_or(DateMathError("date out of range"))?;
    time.offset()
        .from_local_datetime(&naive)
        .single()
        .ok_or(DateMathError("date out of range"))
}

/// `Z`, `UTC`, `GMT`, `UTC+01:00`, `+01:00`, `-0530`, `+01`.
fn parse_zone(zone: &str) -> Result<FixedOffset, DateMathError> {
    let unsupported = DateMathError("only UTC and fixed offsets are supported as time zones");
    let offset = match zone {
        "Z" | "UTC" | "GMT" | "UT" => return FixedOffset::east_opt(0).ok_or(unsupported),
        _ => ["UTC", "GMT", "UT"]
            .iter()
            .find_map(|p| zone.strip_prefix(p))
            .unwrap_or(zone),
    };
    let (sign, digits) = match offset.as_bytes().first() {
        Some(b'+') => (1, &offset[1..]),
        Some(b'-') => (-1, &offset[1..]),
        _ => return Err(unsupported),
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![1, 2, 4, 6].contains(&digits.len()) {
        return Err(unsupported);
    }
    let field = |range: std::ops::Range<usize>| digits.get(range).map_or(Ok(0), str::parse);
    let (hours, minutes, seconds): (i32, i32, i32) = if digits.len() <= 2 {
        (digits.parse().map_err(|_| unsupported.clone())?, 0, 0)
    } else {
        (
            field(0..2).map_err(|_| unsupported.clone())?,
            field(2..4).map_err(|_| unsupported.clone())?,
            field(4..6).map_err(|_| unsupported.clone())?,
        )
    };
    if hours > 18 || minutes > 59 || seconds > 59 {
        return Err(unsupported);
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60 + seconds)).ok_or(unsupported)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Formats with the subset of Java `DateTimeFormatter` patterns listed in the module docs.
fn format_time(time: &DateTime<FixedOffset>, pattern: &str) -> Result<String, DateMathError> {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        if c == '\'' {
            // 'text' is literal: letters only (no '' quote, nothing Java reads otherwise).
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '\'' {
                if !chars[j].is_ascii_alphabetic() {
                    return Err(DateMathError(
                        "only letters may be quoted in the date format",
                    ));
                }
                out.push(chars[j]);
                j += 1;
            }
            // `''` right after a quoted text is a quote inside it for Java.
            if j == chars.len() || j == i + 1 || chars.get(j + 1) == Some(&'\'') {
                return Err(DateMathError(
                    "an unclosed, empty or doubled quote in the date format",
                ));
            }
            i = j + 1;
            continue;
        }
        if matches!(c, '.' | '-' | '_') {
            out.push(c);
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            return Err(DateMathError("unsupported character in the date format"));
        }
        let number = |value: u32, width: usize| format!("{value:0width$}");
        let text = match (c, run) {
            ('y' | 'u', 2) => number(time.year().rem_euclid(100) as u32, 2),
            ('y' | 'u', n) => {
                let year = time.year();
                if year < 0 {
                    return Err(DateMathError("negative year"));
                }
                number(year as u32, n)
            }
            ('M', 1 | 2) => number(time.month(), run),
            ('M', 3) => MONTHS[time.month0() as usize][..3].to_string(),
            ('M', 4) => MONTHS[time.month0() as usize].to_string(),
            ('d', 1 | 2) => number(time.day(), run),
            ('H', 1 | 2) => number(time.hour(), run),
            _ => return Err(DateMathError("unsupported letter in the date format")),
        };
        out.push_str(&text);
        i += run;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-30T23:30:15.250Z, a Monday.
    const NOW: i64 = 1_796_081_415_250;

    fn at(expression: &str) -> Result<String, DateMathError> {
        resolve(expression, NOW)
    }

    #[test]
    fn the_documented_examples() {
        // Elasticsearch's documentation examples, at our NOW.
        assert_eq!(at("<logstash-{now/d}>").unwrap(), "logstash-2026.11.30");
        assert_eq!(at("<logstash-{now/M}>").unwrap(), "logstash-2026.11.01");
        assert_eq!(
            at("<logstash-{now/M{yyyy.MM}}>").unwrap(),
            "logstash-2026.11"
        );
        assert_eq!(
            at("<logstash-{now/M-1M{yyyy.MM}}>").unwrap(),
            "logstash-2026.10"
        );
        assert_eq!(
            at("<logstash-{now/d{yyyy.MM.dd|+12:00}}>").unwrap(),
            "logstash-2026.12.01"
        );
        assert_eq!(
            at("<elastic\\{ON\\}-{now/M}>").unwrap(),
            "elastic{ON}-2026.11.01"
        );
    }

    #[test]
    fn math_rounding_formats_and_zones() {
        assert_eq!(at("<x-{now}>").unwrap(), "x-2026.11.30");
        assert_eq!(
            at("<x-{now+1h{yyyy.MM.dd.HH}}>").unwrap(),
            "x-2026.12.01.00"
        );
        assert_eq!(at("<x-{now-1d/d}>").unwrap(), "x-2026.11.29");
        assert_eq!(at("<x-{now+d}>").unwrap(), "x-2026.12.01");
        assert_eq!(at("<x-{now/w}>").unwrap(), "x-2026.11.30");
        assert_eq!(at("<x-{now-1w/w}>").unwrap(), "x-2026.11.23");
        assert_eq!(at("<x-{now/y{yy}}>").unwrap(), "x-26");
        assert_eq!(at("<x-{now{yyyy.MM.dd.HH}}>").unwrap(), "x-2026.11.30.23");
        assert_eq!(at("<x-{now{MMM-d'T'}}>").unwrap(), "x-Nov-30T");
        assert_eq!(at("<x-{now/d{yyyy.MM.dd|-0530}}>").unwrap(), "x-2026.11.30");
        assert_eq!(
            at("<x-{now/d{yyyy.MM.dd|UTC+02}}>").unwrap(),
            "x-2026.12.01"
        );
        assert_eq!(at("<x-{now+1M{yyyy.MM.dd}}>").unwrap(), "x-2026.12.30");
        assert_eq!(
            at("<a-{now/d}-b-{now/M{MM}}>").unwrap(),
            "a-2026.11.30-b-11"
        );
        assert_eq!(at("<plain>").unwrap(), "plain");
    }

    #[test]
    fn anything_not_exact_is_an_error() {
        for bad in [
            "logs-{now/d}",
            "<x-{now/d{yyyy|Europe/Paris}}>",
            "<x-{now/d{YYYY}}>",
            "<x-{now/d{hh}}>",
            "<x-{now/q}>",
            "<x-{2026-01-01}>",
            "<x-{now+999999999d}>",
            "<x-{now/d>",
            "<x-{now/d{yyyy>",
            "<x-}>",
            "<x-{now{'open}}>",
            "<x\\>",
            // Java reads these differently from a plain reading: refused.
            "<logs-secre{now{[]}}t>",
            "<x-{now{yyyy[.MM]}}>",
            "<x-{now{'it''s'}}>",
            "<x-{now{8yyyy}}>",
            "<x-{now{yyyy#}}>",
            // Finer than the gateway can bound the node's clock.
            "<x-{now{HH.mm}}>",
            "<x-{now{ss}}>",
            "<x-{now{SSS}}>",
        ] {
            assert!(at(bad).is_err(), "{bad} evaluated");
        }
        assert!(resolve(&format!("<{}>", "a".repeat(2000)), NOW).is_err());
    }
}
