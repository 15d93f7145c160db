//! The Prometheus text exposition format, version 0.0.4.
//!
//! Samples are grouped by metric family so that each family is written once, `# HELP` and
//! `# TYPE` first, whatever order its samples were added in; families keep the order in
//! which they first appeared. Label values and help texts are escaped as the format
//! requires (backslash, double quote in label values, line feed).
//! <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>

use super::histogram::{self, HistogramTotal};
use std::fmt::Write;

/// Metric families being written for one scrape.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<Family>,
}

#[derive(Debug)]
struct Family {
    name: String,
    help: String,
    kind: Kind,
    /// Sample lines, each ending in a line feed.
    samples: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

impl Exposition {
    /// Adds a sample to counter family `name` (a full name, `ringfence_..._total`).
    ///
    /// The first call for a family fixes its help text; later calls only add samples.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let samples = self.family(name, help, Kind::Counter);
        write_sample(samples, name, labels, None, value);
    }

    /// Adds a sample to gauge family `name`, as [`Exposition::counter`] does.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let samples = self.family(name, help, Kind::Gauge);
        write_sample(samples, name, labels, None, value);
    }

    /// Starts counter family `name` with no samples yet (it is written with its HELP and
    /// TYPE lines even if none follow).
    pub(crate) fn declare_counter(&mut self, name: &str, help: &str) {
        self.family(name, help, Kind::Counter);
    }

    /// Adds one histogram: cumulative `_bucket{le}` samples, `_sum` in seconds, `_count`.
    pub(crate) fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        total: &HistogramTotal,
    ) {
        let samples = self.family(name, help, Kind::Histogram);
        let bucket_name = format!("{name}_bucket");
        for (index, count) in total.cumulative().into_iter().enumerate() {
            let le = histogram::le_label(index);
            write_sample(
                samples,
                &bucket_name,
                labels,
                Some(("le", &le)),
                count as f64,
            );
        }
        let seconds = total.sum_nanos as f64 / 1e9;
        write_sample(samples, &format!("{name}_sum"), labels, None, seconds);
        let count = total.count() as f64;
        write_sample(samples, &format!("{name}_count"), labels, None, count);
    }

    /// The finished text: every family with its HELP and TYPE lines, then its samples.
    pub(crate) fn into_text(self) -> String {
        let mut text = String::new();
        for family in self.families {
            let help = escape(&family.help, false);
            let _ = writeln!(text, "# HELP {} {help}", family.name);
            let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind.name());
            text.push_str(&family.samples);
        }
        text
    }

    /// The sample buffer of family `name`, created on first use.
    fn family(&mut self, name: &str, help: &str, kind: Kind) -> &mut String {
        debug_assert!(is_metric_name(name), "invalid metric name `{name}`");
        let index = match self.families.iter().position(|f| f.name == name) {
            Some(index) => index,
            None => {
                self.families.push(Family {
                    name: name.to_string(),
                    help: help.to_string(),
                    kind,
                    samples: String::new(),
                });
                self.families.len() - 1
            }
        };
        let family = &mut self.families[index];
        debug_assert_eq!(family.kind, kind, "`{name}` added with two types");
        &mut family.samples
    }
}

/// Appends `name{labels,extra} value\n`.
fn write_sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    extra: Option<(&str, &str)>,
    value: f64,
) {
    out.push_str(name);
    let mut all = labels.iter().copied().chain(extra).peekable();
    if all.peek().is_some() {
        out.push('{');
        for (index, (key, value)) in all.enumerate() {
            if index > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape(value, true));
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_value(value));
    out.push('\n');
}

/// A sample value as the format spells it (`+Inf`, `-Inf`, `NaN` for the special ones).
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        value.to_string()
    }
}

/// Escapes `\` and line feeds, and `"` too inside a label value.
fn escape(text: &str, label_value: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if label_value => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the format's metric (and label) name syntax.
fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}
