//! What a run counted, its latency percentiles, and the one JSON line that reports them.
//!
//! Every scheduled request ends up in exactly one count: `ok` (a 2xx answer), `non_2xx`,
//! `errors` (the connection broke or the answer was not HTTP), `timeouts` (no answer within
//! `--timeout` of its scheduled time) or `not_sent` (no connection was free for it within
//! `--timeout` of its scheduled time). The percentiles are over all of them: answers at their latency,
//! whatever their status; the rest as infinitely slow, so losing requests cannot make the
//! percentiles look better (the same rule as `tuning/load/paced.py`).

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Latencies are recorded in microseconds, from 1 µs to this (longer ones are clamped).
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

#[derive(Debug)]
pub struct Tally {
    pub scheduled: u64,
    pub sent: u64,
    pub ok: u64,
    pub non_2xx: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub not_sent: u64,
    /// Connections that could not be opened (not requests: those wait, and count as late).
    pub connect_errors: u64,
    pub error_kinds: BTreeMap<&'static str, u64>,
    pub statuses: BTreeMap<u16, u64>,
    /// Bytes of request and response (heads and bodies) of answered requests.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub latency_us: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            scheduled: 0,
            sent: 0,
            ok: 0,
            non_2xx: 0,
            errors: 0,
            timeouts: 0,
            not_sent: 0,
            connect_errors: 0,
            error_kinds: BTreeMap::new(),
            statuses: BTreeMap::new(),
            bytes_sent: 0,
            bytes_received: 0,
            // The bounds are constants that new_with_bounds accepts (low >= 1, high >= 2 * low,
            // sigfig <= 5): this cannot fail.
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid bounds"),
        }
    }
}

impl Tally {
    pub fn answered(&mut self, status: u16, latency_ns: u64) {
        *self.statuses.entry(status).or_default() += 1;
        if (200..300).contains(&status) {
            self.ok += 1;
        } else {
            self.non_2xx += 1;
        }
        self.latency_us
            .saturating_record((latency_ns / 1000).clamp(1, MAX_LATENCY_US));
    }

    pub fn error(&mut self, kind: &'static str) {
        self.errors += 1;
        *self.error_kinds.entry(kind).or_default() += 1;
    }

    /// Requests without an answer: they count as infinitely slow.
    fn lost(&self) -> u64 {
        self.errors + self.timeouts + self.not_sent
    }

    /// The q-quantile over answered and lost requests in ms; None (infinite) when it falls
    /// among the lost, or when nothing was scheduled at all.
    pub fn percentile_ms(&self, q: f64) -> Option<f64> {
        let answered = self.latency_us.len();
        let total = answered + self.lost();
        if answered == 0 || total == 0 {
            return None;
        }
        // The answered requests are the fastest `answered` of `total`: the q-quantile of all
        // is the answered one of that rank, if there is one.
        let rank = ((q * total as f64).ceil() as u64).max(1);
        if rank > answered {
            return None;
        }
        let mut seen = 0;
        for step in self.latency_us.iter_recorded() {
            seen += step.count_since_last_iteration();
            if seen >= rank {
                let us = self.latency_us.highest_equivalent(step.value_iterated_to());
                return Some(us as f64 / 1000.0);
            }
        }
        Some(self.latency_us.max() as f64 / 1000.0)
    }

    pub fn max_ms(&self) -> Option<f64> {
        if self.lost() > 0 || self.latency_us.is_empty() {
            return None;
        }
        Some(self.latency_us.max() as f64 / 1000.0)
    }

    /// One JSON object. `settings` are name/value pairs already in JSON.
    pub fn to_json(&self, settings: &[(&str, String)], elapsed_s: f64) -> String {
        let mut out = String::from("{");
        for (name, value) in settings {
            let _ = write!(out, "\"{name}\":{value},");
        }
        let counts = [
            ("scheduled", self.scheduled),
            ("sent", self.sent),
            ("ok", self.ok),
            ("non_2xx", self.non_2xx),
            ("errors", self.errors),
            ("timeouts", self.timeouts),
            ("not_sent", self.not_sent),
            ("connect_errors", self.connect_errors),
            ("bytes_sent", self.bytes_sent),
            ("bytes_received", self.bytes_received),
        ];
        for (name, n) in counts {
            let _ = write!(out, "\"{name}\":{n},");
        }
        let rate = if elapsed_s > 0.0 {
            self.ok as f64 / elapsed_s
        } else {
            0.0
        };
        let _ = write!(
            out,
            "\"elapsed_s\":{elapsed_s:.3},\"achieved_rps\":{rate:.1},"
        );
        let map = |entries: Vec<(String, u64)>| {
            let items: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            format!("{{{}}}", items.join(","))
        };
        let statuses = self
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect();
        let kinds = self
            .error_kinds
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect();
        let _ = write!(
            out,
            "\"statuses\":{},\"error_kinds\":{},",
            map(statuses),
            map(kinds)
        );
        for (name, q) in [
            ("p50_ms", 0.5),
            ("p90_ms", 0.9),
            ("p99_ms", 0.99),
            ("p999_ms", 0.999),
        ] {
            let _ = write!(out, "\"{name}\":{},", json_ms(self.percentile_ms(q)));
        }
        let _ = write!(out, "\"max_ms\":{}}}", json_ms(self.max_ms()));
        out
    }
}

/// Infinite as Python's `json` writes it (`Infinity`), which `json.loads` reads back.
fn json_ms(value: Option<f64>) -> String {
    match value {
        Some(ms) => format!("{ms:.3}"),
        None => "Infinity".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Under 2,048 µs, a 3-digit histogram keeps every value exactly.
    fn tally(latencies_us: impl IntoIterator<Item = u64>) -> Tally {
        let mut t = Tally::default();
        for us in latencies_us {
            t.answered(200, us * 1000);
        }
        t
    }

    #[test]
    fn percentiles_of_answered_requests() {
        let t = tally(1..=1000);
        assert_eq!(t.percentile_ms(0.5), Some(0.5));
        assert_eq!(t.percentile_ms(0.99), Some(0.99));
        assert_eq!(t.percentile_ms(0.999), Some(0.999));
        assert_eq!(t.max_ms(), Some(1.0));
    }

    #[test]
    fn lost_requests_are_infinitely_slow() {
        let mut t = tally(1..=990);
        t.timeouts = 5;
        t.not_sent = 4;
        t.error("closed");
        // 1,000 requests: the 10 lost are the slowest 1%.
        assert_eq!(t.percentile_ms(0.5), Some(0.5));
        assert_eq!(t.percentile_ms(0.99), Some(0.99));
        assert_eq!(t.percentile_ms(0.999), None);
        assert_eq!(t.max_ms(), None);
        t.timeouts += 1;
        assert_eq!(t.percentile_ms(0.99), None);
    }

    #[test]
    fn nothing_answered_is_infinite() {
        let mut t = Tally::default();
        assert_eq!(t.percentile_ms(0.5), None);
        t.timeouts = 3;
        assert_eq!(t.percentile_ms(0.5), None);
    }

    #[test]
    fn non_2xx_answers_count_at_their_latency() {
        let mut t = tally([1, 2]);
        t.answered(503, 3000);
        assert_eq!((t.ok, t.non_2xx), (2, 1));
        assert_eq!(t.percentile_ms(1.0), Some(0.003));
    }

    #[test]
    fn json_is_one_line_python_can_read() {
        let mut t = tally([1, 2, 3]);
        t.timeouts = 1;
        let line = t.to_json(&[("rate", "100.0".into())], 1.0);
        assert!(!line.contains('\n'));
        assert!(line.starts_with("{\"rate\":100.0,\"scheduled\":0,"));
        assert!(line.contains("\"statuses\":{\"200\":3}"));
        assert!(line.contains("\"achieved_rps\":3.0"));
        assert!(line.contains("\"p50_ms\":0.002"));
        assert!(line.contains("\"max_ms\":Infinity}"));
    }
}
