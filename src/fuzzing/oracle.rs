//! An independent oracle for which index names a policy grants or forbids, for the
//! whole-path fuzzer and the ACL's randomized property test. It shares nothing with `acl`:
//! its own glob matching (a table over pattern x text), containment and overlap, and the
//! simplest reading of each name form (date math `<x{now/d}>` by its own day arithmetic,
//! other date math by its static prefix; remote names by whether the pattern names a
//! cluster).

use crate::es::index_name::IndexExpr;
use crate::es::metadata::ClusterMetadata;
use crate::es::target::Targets;

/// The index expressions a request touches, `*` standing for "all indices"; exclusions
/// (which only remove) are left out.
pub(crate) fn touched(targets: &Targets<'_>) -> Vec<String> {
    let mut names = Vec::new();
    let mut after_wildcard = false;
    for index in &targets.indices {
        let expr = IndexExpr::parse(&index.name);
        if expr.exclusion && after_wildcard {
            continue;
        }
        after_wildcard |= index.name.contains('*') || index.name == "_all";
        names.push(if index.name == "_all" {
            "*".to_string()
        } else {
            index.name.to_string()
        });
    }
    if targets.all_indices {
        names.push("*".to_string());
    }
    names
}

/// Whether pattern `p` grants the expression `name`: a literal name it matches, or a
/// wildcard expression every match of which it matches. Remote (`cluster:index`) names
/// need a pattern that names a cluster; date math is judged by its days (or its static
/// prefix).
pub(crate) fn grants(p: &str, name: &str) -> bool {
    if let Some(text) = static_date_math(name) {
        // A local name or wildcard, whatever it holds (a `:` too: see `is_remote`).
        let covers = if text.contains('*') {
            glob_covers(p, &text)
        } else {
            glob_match(p, &text)
        };
        return !p.contains(':') && covers;
    }
    if is_remote(name) != p.contains(':') {
        return false;
    }
    if let Some(days) = daily_names(name) {
        return days.iter().all(|day| glob_match(p, day));
    }
    match date_math_prefix(name) {
        Some(prefix) => glob_overlap(p, &format!("{prefix}*")),
        None if name.contains('*') => glob_covers(p, name),
        None => glob_match(p, name),
    }
}

/// `cluster:index`; a `:` inside date math (`<x{now{yyyy|+01:00}}>`) is a time zone.
pub(crate) fn is_remote(name: &str) -> bool {
    let name = name.strip_prefix('-').unwrap_or(name);
    !name.starts_with('<') && name.contains(':')
}

/// Whether `name` could touch anything `pattern` forbids: its own text, the members of an
/// alias or data stream it names, and whatever a wildcard expands to in the cluster's
/// metadata (or could match at all while the metadata is unknown). Remote names and date
/// math cannot be expanded here: their index part counts by what it could match.
pub(crate) fn overlaps(name: &str, pattern: &str, metadata: &ClusterMetadata) -> bool {
    if let Some(text) = static_date_math(name) {
        return overlaps_index(&text, false, pattern, metadata);
    }
    match name.split_once(':') {
        Some((_, index)) if is_remote(name) => overlaps_index(index, true, pattern, metadata),
        _ => overlaps_index(name, false, pattern, metadata),
    }
}

/// [`overlaps`] for the index part of a name (`remote`: of another cluster's name).
fn overlaps_index(local: &str, remote: bool, pattern: &str, metadata: &ClusterMetadata) -> bool {
    if let Some(days) = daily_names(local) {
        return days
            .iter()
            .any(|day| glob_match(pattern, day) || member_of(day, pattern, metadata));
    }
    let (expression, exact) = match date_math_prefix(local) {
        Some(prefix) => (format!("{prefix}*"), false),
        None => (local.to_string(), !remote),
    };
    let wildcard = expression.contains('*');
    if !wildcard {
        return glob_match(pattern, &expression) || member_of(&expression, pattern, metadata);
    }
    if !exact || metadata.indices.is_empty() {
        return glob_overlap(pattern, &expression);
    }
    let names = metadata
        .indices
        .keys()
        .chain(metadata.aliases.keys())
        .chain(metadata.data_streams.keys());
    names
        .filter(|candidate| glob_match(&expression, candidate))
        .any(|candidate| glob_match(pattern, candidate) || member_of(candidate, pattern, metadata))
}

/// Whether `name` is an alias or data stream with a member `pattern` matches.
pub(crate) fn member_of(name: &str, pattern: &str, metadata: &ClusterMetadata) -> bool {
    let members = metadata
        .aliases
        .get(name)
        .or(metadata.data_streams.get(name));
    members.is_some_and(|m| m.iter().any(|member| glob_match(pattern, member)))
}

/// `<prefix{now/d}>` as the names it takes today and two minutes from now (UTC,
/// `yyyy.MM.dd`); `None` for any other form.
pub(crate) fn daily_names(name: &str) -> Option<[String; 2]> {
    let prefix = name.strip_prefix('<')?.strip_suffix("{now/d}>")?;
    if prefix.contains(['{', '}', '\\']) {
        return None;
    }
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    let day = |s: i64| {
        let (y, m, d) = civil_date(s.div_euclid(86_400));
        format!("{prefix}{y:04}.{m:02}.{d:02}")
    };
    Some([day(seconds), day(seconds + 120)])
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
fn civil_date(days: i64) -> (i64, u32, u32) {
    // Shift to 0000-03-01 so that leap days end each 400-year era's years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `<static>` without math or escapes: Elasticsearch reads it as the text inside (a `*` in
/// it is then a wildcard).
fn static_date_math(name: &str) -> Option<String> {
    let inner = name.strip_prefix('<')?.strip_suffix('>')?;
    // Read once: `<<x>>` is the name `<x>`, which callers would read again (left to the
    // prefix rule, which covers it); `<<>` is the name `<`.
    let reread = inner.len() >= 2 && inner.starts_with('<') && inner.ends_with('>');
    (!inner.contains(['{', '}', '\\']) && !reread).then(|| inner.to_string())
}

/// `<static{math}...>`: the text before the first `{`. Only `<...>` is date math: `<x` is a
/// (malformed) name like any other.
pub(crate) fn date_math_prefix(name: &str) -> Option<String> {
    let inner = name.strip_prefix('<')?.strip_suffix('>')?;
    Some(inner.split('{').next().unwrap_or_default().to_string())
}

/// `*` and `?` globs on bytes.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    // table[j]: p[..i] matches t[..j]
    let mut table = vec![false; t.len() + 1];
    table[0] = true;
    for &pc in p {
        let mut next = vec![false; t.len() + 1];
        if pc == b'*' {
            let mut any = false;
            for j in 0..=t.len() {
                any |= table[j];
                next[j] = any;
            }
        } else {
            for j in 1..=t.len() {
                next[j] = table[j - 1] && (pc == b'?' || pc == t[j - 1]);
            }
        }
        table = next;
    }
    table[t.len()]
}

/// Whether every name the index expression `q` matches is matched by `p` (sufficient test:
/// `p` matches `q` read as text, where `q`'s `*` can only be absorbed by a `*` of `p`; in
/// index expressions `?` is a literal).
pub(crate) fn glob_covers(p: &str, q: &str) -> bool {
    let (p, q) = (p.as_bytes(), q.as_bytes());
    let mut table = vec![false; q.len() + 1];
    table[0] = true;
    for &pc in p {
        let mut next = vec![false; q.len() + 1];
        if pc == b'*' {
            let mut any = false;
            for j in 0..=q.len() {
                any |= table[j];
                next[j] = any;
            }
        } else {
            for j in 1..=q.len() {
                let qc = q[j - 1];
                let literal = qc != b'*';
                next[j] = table[j - 1] && literal && (pc == b'?' || pc == qc);
            }
        }
        table = next;
    }
    table[q.len()]
}

/// Whether some text matches both globs.
pub(crate) fn glob_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    // reach[i][j]: a[..i] and b[..j] can both have produced the same text.
    let mut reach = vec![vec![false; b.len() + 1]; a.len() + 1];
    reach[0][0] = true;
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            if !reach[i][j] {
                continue;
            }
            let (x, y) = (a.get(i).copied(), b.get(j).copied());
            if x == Some(b'*') {
                reach[i + 1][j] = true;
            }
            if y == Some(b'*') {
                reach[i][j + 1] = true;
            }
            if let (Some(x), Some(y)) = (x, y) {
                // One character produced by both sides (a star may produce it and stay).
                let one = |c: u8, other: u8| {
                    c == b'?' || c == b'*' || c == other || other == b'?' || other == b'*'
                };
                if one(x, y) {
                    let ni = if x == b'*' { i } else { i + 1 };
                    let nj = if y == b'*' { j } else { j + 1 };
                    if (ni, nj) != (i, j) {
                        reach[ni][nj] = true;
                    }
                }
            }
        }
    }
    reach[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::civil_date;

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_787), (2026, 11, 30));
        assert_eq!(civil_date(-1), (1969, 12, 31));
    }
}
