//! ReadonlyREST's duration values (`cache_ttl: 10 sec`, `request_timeout: 500 ms`,
//! `reset_duration: 1 min`): a number and a unit, with or without a space between; a bare
//! number is seconds.

use std::time::Duration;

/// The duration `text` writes, or `None` when it is not one.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok().filter(|n: &f64| n.is_finite())?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 0.001,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hour" | "hours" => 3_600.0,
        "d" | "day" | "days" => 86_400.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(number * scale).ok()
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
        assert_eq!(parse_duration("1.5 s"), Some(Duration::from_millis(1500)));
        for bad in ["", "sec", "-1 s", "10 parsecs", "1e999 d", "NaN"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
