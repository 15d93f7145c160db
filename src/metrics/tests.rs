//! Bucket math, the status and request tables, aggregation over workers, and every render
//! checked by a strict reader of the text format.

use super::histogram::{self, HistogramTotal, BUCKET_COUNT};
use super::status::{self, STATUS_SLOTS};
use super::worker::{self, REQUEST_SLOTS};
use super::*;
use regex::Regex;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

/// Reads a text exposition strictly and returns every sample as `series -> value`, where
/// `series` is the name and label block exactly as written.
///
/// Fails unless: each family has `# HELP` then `# TYPE` once, before its samples, with its
/// samples contiguous; every sample line is `name{label="value",...} value` with escaped
/// label values; no series repeats; histogram buckets have increasing `le`, are cumulative,
/// and end with `+Inf` equal to `_count`.
fn parse_strict(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let name = r"[a-zA-Z_:][a-zA-Z0-9_:]*";
    let (key, value) = (r"[a-zA-Z_][a-zA-Z0-9_]*", r#"(?:[^"\\\n]|\\[\\"n])*"#);
    let label = format!(r#"{key}="{value}""#);
    let sample = Regex::new(&format!(r"^({name})(\{{{label}(?:,{label})*\}})? (\S+)$")).unwrap();
    let help = Regex::new(&format!(r"^# HELP ({name}) (.*)$")).unwrap();
    let kind = Regex::new(&format!(r"^# TYPE ({name}) (counter|gauge|histogram)$")).unwrap();
    let label_pair = Regex::new(&format!(r#"({key})="({value})""#)).unwrap();

    let mut families = HashSet::new();
    // (family, type) of the samples being read.
    let mut current: Option<(String, String)> = None;
    let mut pending_help: Option<String> = None;
    let mut samples = BTreeMap::new();
    // Histogram series without `le` -> bucket values in order.
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the text must end with a line feed".into());
    }
    for line in text.lines() {
        if let Some(c) = help.captures(line) {
            let family = c[1].to_string();
            if !families.insert(family.clone()) {
                return Err(format!("family {family} written twice"));
            }
            pending_help = Some(family);
            current = None;
        } else if let Some(c) = kind.captures(line) {
            if pending_help.take().as_deref() != Some(&c[1]) {
                return Err(format!("TYPE without HELP just before it: {line}"));
            }
            current = Some((c[1].to_string(), c[2].to_string()));
        } else if let Some(c) = sample.captures(line) {
            let (family, kind) = current
                .as_ref()
                .ok_or_else(|| format!("sample before HELP and TYPE: {line}"))?;
            let sample_name = &c[1];
            let labels = c.get(2).map_or("", |m| m.as_str());
            let value: f64 = match &c[3] {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                number => number.parse().map_err(|_| format!("bad value in {line}"))?,
            };
            let suffix = sample_name
                .strip_prefix(family.as_str())
                .ok_or_else(|| format!("sample {sample_name} outside its family {family}"))?;
            match (kind.as_str(), suffix) {
                ("histogram", "_bucket") => {
                    let mut bound = None;
                    let mut others = Vec::new();
                    for pair in label_pair.captures_iter(labels) {
                        match &pair[1] {
                            "le" if pair[2] == *"+Inf" => bound = Some(f64::INFINITY),
                            "le" => bound = pair[2].parse().ok(),
                            _ => others.push(pair[0].to_string()),
                        }
                    }
                    let bound =
                        bound.ok_or_else(|| format!("bucket without a valid le: {line}"))?;
                    let rest = if others.is_empty() {
                        String::new()
                    } else {
                        format!("{{{}}}", others.join(","))
                    };
                    buckets
                        .entry(format!("{family}{rest}"))
                        .or_default()
                        .push((bound, value));
                }
                ("histogram", "_sum") => {}
                ("histogram", "_count") => {
                    let series = format!("{family}{labels}");
                    let list = buckets
                        .get(&series)
                        .ok_or_else(|| format!("_count before buckets: {line}"))?;
                    if list.last().map(|&(bound, _)| bound) != Some(f64::INFINITY) {
                        return Err(format!("{series}: no +Inf bucket"));
                    }
                    if list.last().map(|&(_, count)| count) != Some(value) {
                        return Err(format!("{series}: +Inf bucket differs from _count"));
                    }
                    for pair in list.windows(2) {
                        if pair[1].0 <= pair[0].0 || pair[1].1 < pair[0].1 {
                            return Err(format!("{series}: buckets not cumulative: {list:?}"));
                        }
                    }
                }
                (_, "") => {}
                _ => return Err(format!("sample {sample_name} outside its family {family}")),
            }
            let series = format!("{sample_name}{labels}");
            if samples.insert(series.clone(), value).is_some() {
                return Err(format!("series {series} written twice"));
            }
        } else {
            return Err(format!("not a HELP, TYPE or sample line: {line:?}"));
        }
    }
    Ok(samples)
}

fn render_checked(registry: &Registry) -> BTreeMap<String, f64> {
    let text = registry.render();
    parse_strict(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn buckets_are_inclusive_upper_bounds_from_100us_to_10s() {
    assert_eq!(histogram::bucket_of(0), 0);
    assert_eq!(histogram::bucket_of(100_000), 0);
    assert_eq!(histogram::bucket_of(100_001), 1);
    assert_eq!(histogram::bucket_of(1_000_000_000), 12);
    assert_eq!(histogram::bucket_of(10_000_000_000), BUCKET_COUNT - 2);
    assert_eq!(histogram::bucket_of(10_000_000_001), BUCKET_COUNT - 1);
    assert_eq!(histogram::bucket_of(u64::MAX), BUCKET_COUNT - 1);
    assert_eq!(histogram::le_label(0), "0.0001");
    assert_eq!(histogram::le_label(1), "0.00025");
    assert_eq!(histogram::le_label(12), "1");
    assert_eq!(histogram::le_label(BUCKET_COUNT - 2), "10");
    assert_eq!(histogram::le_label(BUCKET_COUNT - 1), "+Inf");
}

#[test]
fn histogram_totals_accumulate_and_end_at_the_count() {
    let mut total = HistogramTotal::default();
    total.buckets[0] = 2;
    total.buckets[3] = 1;
    total.buckets[BUCKET_COUNT - 1] = 4;
    let cumulative = total.cumulative();
    assert_eq!(&cumulative[..5], &[2, 2, 2, 3, 3]);
    assert_eq!(cumulative[BUCKET_COUNT - 1], 7);
    assert_eq!(total.count(), 7);
}

#[test]
fn statuses_outside_the_table_count_under_their_class() {
    for (status, label) in [
        (200, "200"),
        (431, "431"),
        (504, "504"),
        (101, "1xx"),
        (206, "2xx"),
        (302, "3xx"),
        (418, "4xx"),
        (599, "5xx"),
        (0, "1xx"),
        (999, "5xx"),
    ] {
        assert_eq!(status::label_of(status::slot_of(status)), label, "{status}");
    }
    let labels: HashSet<String> = (0..STATUS_SLOTS).map(status::label_of).collect();
    assert_eq!(labels.len(), STATUS_SLOTS, "two slots share a label");
}

#[test]
fn request_slots_round_trip_through_their_labels() {
    let mut seen = HashSet::new();
    for outcome in Outcome::ALL {
        for status_slot in 0..STATUS_SLOTS {
            for class in ActionClass::ALL {
                let slot = worker::request_slot(outcome, status_slot, class);
                assert!(slot < REQUEST_SLOTS);
                assert!(seen.insert(slot));
                assert_eq!(worker::request_labels(slot), (outcome, status_slot, class));
            }
        }
    }
}

#[test]
fn enum_tables_are_in_discriminant_order() {
    for (index, outcome) in Outcome::ALL.into_iter().enumerate() {
        assert_eq!(outcome as usize, index);
    }
    for (index, class) in ActionClass::ALL.into_iter().enumerate() {
        assert_eq!(class as usize, index);
    }
    for (index, cause) in UpstreamFailure::ALL.into_iter().enumerate() {
        assert_eq!(cause as usize, index);
    }
    assert_eq!(Outcome::ClientFraming.label(), "client_framing");
    assert_eq!(UpstreamFailure::ClosedEarly.label(), "closed_early");
}

#[test]
fn actions_are_classified_by_prefix() {
    for (action, class) in [
        ("indices:data/read/search", ActionClass::Read),
        ("indices:data/write/bulk", ActionClass::Write),
        ("indices:admin/create", ActionClass::Admin),
        ("cluster:monitor/health", ActionClass::Monitor),
        ("indices:monitor/stats", ActionClass::Monitor),
        ("cluster:admin/settings/update", ActionClass::Cluster),
        ("indices:data/readx", ActionClass::Unknown),
        ("", ActionClass::Unknown),
    ] {
        assert_eq!(ActionClass::of(action), class, "{action}");
    }
}

#[test]
fn counters_move_after_a_request() {
    let registry = Registry::new(1, vec!["es1:9200".into()]);
    let before = render_checked(&registry);
    assert_eq!(before["ringfence_request_duration_seconds_count"], 0.0);
    assert!(!before
        .keys()
        .any(|k| k.starts_with("ringfence_requests_total")));

    let worker = registry.worker(0);
    worker.request(
        Outcome::Allowed,
        200,
        ActionClass::Read,
        MS * 2,
        Some(MS * 30),
    );
    worker.request(Outcome::Forbidden, 403, ActionClass::Write, MS, None);
    worker.request(Outcome::Upstream, 599, ActionClass::Unknown, MS, None);
    let after = render_checked(&registry);
    assert_eq!(
        after[r#"ringfence_requests_total{outcome="allowed",status="200",class="read"}"#],
        1.0
    );
    assert_eq!(
        after[r#"ringfence_requests_total{outcome="forbidden",status="403",class="write"}"#],
        1.0
    );
    assert_eq!(
        after[r#"ringfence_requests_total{outcome="upstream",status="5xx",class="unknown"}"#],
        1.0
    );
    assert_eq!(after["ringfence_request_duration_seconds_count"], 3.0);
    assert_eq!(
        after[r#"ringfence_request_duration_seconds_bucket{le="0.001"}"#],
        2.0
    );
    assert_eq!(
        after[r#"ringfence_request_duration_seconds_bucket{le="0.0025"}"#],
        3.0
    );
    assert!((after["ringfence_request_duration_seconds_sum"] - 0.004).abs() < 1e-9);
    assert_eq!(after["ringfence_upstream_duration_seconds_count"], 1.0);
    assert_eq!(
        after[r#"ringfence_upstream_duration_seconds_bucket{le="0.025"}"#],
        0.0
    );
    assert_eq!(
        after[r#"ringfence_upstream_duration_seconds_bucket{le="0.05"}"#],
        1.0
    );
}

#[test]
fn a_scrape_sums_every_worker() {
    let registry = Registry::new(2, vec!["es1:9200".into(), "[::1]:9201".into()]);
    let (first, second) = (registry.worker(0), registry.worker(1));
    for worker in [&first, &second] {
        worker.request(Outcome::Allowed, 201, ActionClass::Write, MS, Some(MS));
        worker.upstream_failure(1, UpstreamFailure::Timeout);
        worker.credential_cache(true);
        worker.connection_opened();
        worker.bytes(100, 1000);
    }
    first.credential_cache(false);
    first.throttled();
    first.connection_opened();
    second.connection_closed();
    first.pool_idle(0, 3);
    second.pool_idle(0, 4);
    // Out-of-range nodes are ignored, not a panic on the request path.
    first.upstream_failure(7, UpstreamFailure::Connect);
    first.pool_idle(7, 1);
    first.upstream_state(7, false);

    let s = render_checked(&registry);
    assert_eq!(
        s[r#"ringfence_requests_total{outcome="allowed",status="201",class="write"}"#],
        2.0
    );
    assert_eq!(s["ringfence_upstream_duration_seconds_count"], 2.0);
    assert_eq!(
        s[r#"ringfence_upstream_failures_total{node="[::1]:9201",cause="timeout"}"#],
        2.0
    );
    assert_eq!(
        s[r#"ringfence_upstream_failures_total{node="es1:9200",cause="connect"}"#],
        0.0
    );
    assert_eq!(
        s[r#"ringfence_credential_cache_requests_total{result="hit"}"#],
        2.0
    );
    assert_eq!(
        s[r#"ringfence_credential_cache_requests_total{result="miss"}"#],
        1.0
    );
    assert_eq!(s["ringfence_throttled_requests_total"], 1.0);
    assert_eq!(s["ringfence_connections_open"], 2.0);
    assert_eq!(s[r#"ringfence_client_bytes_total{direction="in"}"#], 200.0);
    assert_eq!(
        s[r#"ringfence_client_bytes_total{direction="out"}"#],
        2000.0
    );
    assert_eq!(
        s[r#"ringfence_upstream_idle_connections{node="es1:9200"}"#],
        7.0
    );
}

#[test]
fn a_node_is_up_while_any_worker_sees_it_up() {
    let registry = Registry::new(2, vec!["a:1".into(), "b:2".into()]);
    assert!(registry.any_upstream_up());
    let up = |registry: &Registry, node: &str| {
        render_checked(registry)[&format!(r#"ringfence_upstream_up{{node="{node}"}}"#)]
    };
    assert_eq!(up(&registry, "a:1"), 1.0);
    registry.worker(0).upstream_state(0, false);
    assert_eq!(up(&registry, "a:1"), 1.0);
    registry.worker(1).upstream_state(0, false);
    assert_eq!(up(&registry, "a:1"), 0.0);
    assert!(registry.any_upstream_up());
    registry.worker(0).upstream_state(1, false);
    registry.worker(1).upstream_state(1, false);
    assert!(!registry.any_upstream_up());
    registry.worker(1).upstream_state(1, true);
    assert!(registry.any_upstream_up());
}

#[test]
fn collectors_join_their_families_and_escape_labels() {
    let registry = Registry::new(1, vec!["es:9200".into()]);
    registry.add_collector(Box::new(|out: &mut Exposition| {
        out.gauge("ringfence_hash_queue_depth", "Hashes queued.", &[], 3.0);
        out.counter(
            "ringfence_reloads_total",
            "Policy reloads.",
            &[("result", "ok")],
            5.0,
        );
    }));
    registry.add_collector(Box::new(|out: &mut Exposition| {
        out.counter(
            "ringfence_reloads_total",
            "ignored: the first help text stays",
            &[("result", "a \"b\" \\c\nd")],
            1.0,
        );
        out.gauge(
            "ringfence_odd_values",
            "Line one\nback\\slash",
            &[],
            f64::NAN,
        );
    }));
    let text = registry.render();
    let samples = parse_strict(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(samples["ringfence_hash_queue_depth"], 3.0);
    assert_eq!(samples[r#"ringfence_reloads_total{result="ok"}"#], 5.0);
    assert!(text.contains("# HELP ringfence_reloads_total Policy reloads.\n"));
    assert!(
        text.contains("ringfence_reloads_total{result=\"a \\\"b\\\" \\\\c\\nd\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("# HELP ringfence_odd_values Line one\\nback\\\\slash\n"));
    assert!(text.contains("ringfence_odd_values NaN\n"));
    assert!(text.contains("# TYPE ringfence_requests_total counter\n"));
}

#[test]
fn the_strict_reader_rejects_malformed_text() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n";
    assert!(parse_strict(good).is_ok());
    for bad in [
        // Sample before its TYPE.
        "a_total 1\n# HELP a_total A.\n# TYPE a_total counter\n",
        // A family written twice.
        "# HELP a A.\n# TYPE a gauge\na 1\n# HELP a A.\n# TYPE a gauge\na{x=\"y\"} 1\n",
        // A sample of another family inside this one.
        "# HELP a A.\n# TYPE a gauge\nb 1\n",
        // An unescaped quote.
        "# HELP a A.\n# TYPE a gauge\na{x=\"\"\"} 1\n",
        // The same series twice.
        "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",
        // Buckets going down.
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        // +Inf differing from _count.
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n",
        // No trailing line feed.
        "# HELP a A.\n# TYPE a gauge\na 1",
    ] {
        assert!(parse_strict(bad).is_err(), "accepted: {bad}");
    }
}
