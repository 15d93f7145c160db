//! ReadonlyREST's duration values (`cache_ttl: 10 sec`, `request_timeout: 500 ms`,
//! `reset_duration: 1 min`): a whole number and a unit, with or without a space between;
//! a bare number is seconds.

use std::time::Duration;

/// The duration `text` writes, or `None` when it is not one.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let unit = text[digits..].trim().to_ascii_lowercase();
    let seconds_per_unit = match unit.as_str() {
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => {
            return Some(Duration::from_millis(number))
        }
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        _ => return None,
    };
    number.checked_mul(seconds_per_unit).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_readonlyrest_files_use() {
        let s = Duration::from_secs;
        assert_eq!(parse_duration("10 sec"), Some(s(10)));
        assert_eq!(parse_duration("10s"), Some(s(10)));
        assert_eq!(parse_duration("60"), Some(s(60)));
        assert_eq!(parse_duration("5 min"), Some(s(300)));
        assert_eq!(parse_duration("1 hour"), Some(s(3600)));
        assert_eq!(parse_duration("500 ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 2 Seconds "), Some(s(2)));
        for bad in ["", "sec", "-1 s", "1.5 s", "10 parsecs", "99999999999999999999 d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
