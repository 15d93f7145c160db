//! Decoding of one path part and parsing of index expressions, exactly as Elasticsearch does it.
//!
//! Owns: percent-decoding of a single `/`-separated path segment (`decode_part`), the checks that
//! keep a comma list of index / data-stream / repository / snapshot names unambiguous
//! (`check_name_list`), and the structural view of one index expression (`IndexExpr`).
//! Must not: do IO, allocate when nothing is encoded, panic on any input, or decide what an
//! expression *means* for a user (wildcard expansion, date math and `_all` belong to the ACL).
//! Sits in the walk at `es::classify`, called by `es::route` for every `{part}` of the matched
//! route.
//!
//! Elasticsearch's order, which this module reproduces (ES `RestController.getAllHandlers`,
//! `PathTrie.retrieve`, `RestUtils.decodeComponent`, `Strings.splitStringByCommaToArray`):
//!   1. the raw path (up to the first `?`) is split on `/`;
//!   2. each segment is matched *raw* against route literals (so `%5Fsearch` is never `_search`);
//!   3. a segment bound to a `{part}` is percent-decoded on its own (so `%2F` never splits);
//!   4. handlers split the decoded value on `,` (so `%2C` *does* separate names:
//!      `/logs%2Csecret/_search` searches `logs` and `secret`).

use std::borrow::Cow;

use super::route::RouteError;

/// Percent-decodes one path segment the way `RestUtils.decodeComponent` does.
///
/// * `%XY` with two hex digits (either case) is the byte `0xXY`; `%%` is a literal `%` (an ES
///   quirk we must mirror, or `%%41` would name different things to us and to the server).
/// * Any other `%` sequence, or a `%` in the last two positions, is `BadPercentEncoding`: ES
///   throws `IllegalArgumentException` there and answers 400.
/// * `+` stays `+` in the path (ES 8.x `es.rest.url_plus_as_space` defaults to false; checked
///   on ES 7.17.29 and OpenSearch 2.19.6: `/logs+x/_search` looks for index `logs+x`). Should a
///   server be set to read it as a space, the name holds a space, which no index, alias or data
///   stream name can, so it still reaches nothing we did not see.
/// * ES builds a Java `String` with replacement characters from invalid UTF-8; two different
///   byte strings would then name the same index, so we reject with `InvalidUtf8` instead.
/// * Decoded control characters (`%00`..`%1F`, `%7F`) are rejected (`ControlCharacter`): no
///   valid name contains one, and they invite log and header injection further down.
/// * A value of exactly `.` or `..` (e.g. `%2e`) is `DotSegment`, like the raw forms, so no
///   proxy that normalizes dot segments can make the server see another path than we did.
///
/// Borrows when the segment holds no `%` (the common case). `route::classify` has already
/// rejected raw bytes outside printable ASCII; raw control characters are refused here too.
pub fn decode_part(raw: &str) -> Result<Cow<'_, str>, RouteError> {
    let bytes = raw.as_bytes();
    if !bytes.contains(&b'%') {
        // No escape: the value is the raw segment.
        if raw == "." || raw == ".." {
            return Err(RouteError::DotSegment);
        }
        if bytes.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(RouteError::ControlCharacter);
        }
        return Ok(Cow::Borrowed(raw));
    }
    let decoded = {
        let mut buf = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b != b'%' {
                buf.push(b);
                i += 1;
                continue;
            }
            match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(b'%'), _) => {
                    buf.push(b'%');
                    i += 2;
                }
                (Some(&hi), Some(&lo)) => match (hex_digit(hi), hex_digit(lo)) {
                    (Some(hi), Some(lo)) => {
                        buf.push(hi << 4 | lo);
                        i += 3;
                    }
                    _ => return Err(RouteError::BadPercentEncoding),
                },
                _ => return Err(RouteError::BadPercentEncoding),
            }
        }
        String::from_utf8(buf).map_err(|_| RouteError::InvalidUtf8)?
    };
    if decoded.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(RouteError::ControlCharacter);
    }
    if decoded == "." || decoded == ".." {
        return Err(RouteError::DotSegment);
    }
    Ok(Cow::Owned(decoded))
}

/// The value of one hexadecimal digit (either case).
pub(crate) fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Checks a decoded comma list of index, alias, data-stream, repository or snapshot names.
///
/// ES splits with `String.split(",")`: empty items in front or in the middle survive (and name
/// nothing), trailing ones vanish, and a list of only commas becomes *empty*, which ES reads as
/// "all indices" (`/,/_search` searches everything). Rather than mirror that, any empty item is
/// `EmptyName`. An item of `.` or `..` is `DotSegment` (ES: invalid index name). A `/` is only
/// legal inside date math (`<logs-{now/d}>`, sent as `%3Clogs-%7Bnow%2Fd%7D%3E`); anywhere else
/// it is `SlashInName`: no index, alias, data stream, repository or snapshot name can hold one,
/// and rejecting it keeps `logs%2F..%2Fsecret` from ever looking like a path to anyone. An item
/// starting with `:` (empty remote cluster) is `EmptyRemoteCluster`, as ES's
/// `RemoteClusterAware.splitIndexName` throws there.
pub fn check_name_list(list: &str) -> Result<NameList, RouteError> {
    // One byte loop rather than `split(',')`: this runs for every index part of every request.
    let bytes = list.as_bytes();
    let mut verdict = NameList::Ordinary;
    let mut start = 0;
    let mut slash = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b',' {
            verdict = verdict.max(check_item(list.get(start..i).unwrap_or_default(), slash)?);
            start = i + 1;
            slash = false;
        } else if b == b'/' {
            slash = true;
        }
    }
    Ok(verdict.max(check_item(list.get(start..).unwrap_or_default(), slash)?))
}

/// What a valid name list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameList {
    /// Only names an index, alias, data stream, repository or snapshot can have.
    Ordinary,
    /// An item starts with `_` and is not `_all`. No index, alias or data stream name can (ES
    /// `MetadataCreateIndexService.validateIndexOrAliasName`), so when a route's `{index}` binds
    /// one, the path belongs to an endpoint the route table does not know (OpenSearch's
    /// `/_plugins/...` fits `/{index}/{type}/{id}`) or names nothing; either way the request is
    /// not what the route says. (Repositories and snapshots do use `_all` and `_current`.)
    HasReserved,
}

/// `check_name_list` for a value known to hold no `,` and no `/` (one raw name).
pub fn check_name(name: &str) -> Result<NameList, RouteError> {
    check_item(name, false)
}

fn check_item(item: &str, slash: bool) -> Result<NameList, RouteError> {
    match item.as_bytes() {
        [] => Err(RouteError::EmptyName),
        b"." | b".." => Err(RouteError::DotSegment),
        [b':', ..] => Err(RouteError::EmptyRemoteCluster),
        _ if slash && !date_math_slash(item) => Err(RouteError::SlashInName),
        b"_all" => Ok(NameList::Ordinary),
        [b'_', ..] => Ok(NameList::HasReserved),
        _ => Ok(NameList::Ordinary),
    }
}

/// The `/` of `item` are inside date math (and not in a remote cluster alias).
fn date_math_slash(item: &str) -> bool {
    let expr = IndexExpr::parse(item);
    expr.date_math && !expr.remote.is_some_and(|r| r.contains('/'))
}

/// One item of an index list, split into the parts Elasticsearch gives meaning to. Nothing is
/// resolved here: `*` is not expanded, date math is not evaluated, `_all` is not special-cased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexExpr<'a> {
    /// The item as decoded from the path, e.g. `-remote:logs-*`.
    pub raw: &'a str,
    /// Cluster alias before the first `:` (`remote` in `remote:logs-*`). Items starting with `<`
    /// or `-<` never have one: their `:` belongs to a date-math time zone (ES
    /// `RemoteClusterAware.isRemoteIndexName`).
    pub remote: Option<&'a str>,
    /// The expression after the cluster alias starts with `-`. ES treats it as an exclusion when
    /// an earlier item of the same list has a wildcard, otherwise as a (then invalid) name.
    pub exclusion: bool,
    /// The name or pattern with the cluster alias and a leading `-` removed.
    pub name: &'a str,
    /// `name` is date math: `<static{date-math-expr{format|time_zone}}>`.
    pub date_math: bool,
    /// `name` holds `*`, the only wildcard in ES index expressions (`?` is a literal, and an
    /// invalid character in index names).
    pub wildcard: bool,
}

impl<'a> IndexExpr<'a> {
    /// Splits one decoded list item (see the field docs for the rules).
    pub fn parse(raw: &'a str) -> IndexExpr<'a> {
        let (remote, rest) = if raw.starts_with('<') || raw.starts_with("-<") {
            (None, raw)
        } else {
            match raw.split_once(':') {
                Some((cluster, rest)) => (Some(cluster), rest),
                None => (None, raw),
            }
        };
        let (exclusion, name) = match rest.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, rest),
        };
        IndexExpr {
            raw,
            remote,
            exclusion,
            name,
            date_math: name.len() >= 2 && name.starts_with('<') && name.ends_with('>'),
            wildcard: name.contains('*'),
        }
    }

    /// The item is `_all` (or `*`), which ES reads as every index when it is the only item.
    pub fn is_all(&self) -> bool {
        self.remote.is_none() && !self.exclusion && (self.name == "_all" || self.name == "*")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Result<String, RouteError> {
        decode_part(s).map(|c| c.into_owned())
    }

    #[test]
    fn decodes_like_rest_utils() {
        assert_eq!(dec("logs").unwrap(), "logs");
        assert!(matches!(decode_part("logs"), Ok(Cow::Borrowed(_))));
        assert_eq!(dec("%6cogs").unwrap(), "logs");
        assert_eq!(dec("%6Cogs").unwrap(), "logs");
        assert_eq!(dec("a%2Cb").unwrap(), "a,b");
        assert_eq!(dec("a%2Fb").unwrap(), "a/b");
        assert_eq!(dec("a+b").unwrap(), "a+b");
        assert_eq!(dec("100%%").unwrap(), "100%");
        assert_eq!(dec("%%41").unwrap(), "%41");
        assert_eq!(dec("%C3%A9").unwrap(), "é");
        assert_eq!(dec("%3Clogs-%7Bnow%2Fd%7D%3E").unwrap(), "<logs-{now/d}>");
    }

    #[test]
    fn rejects_bad_escapes_utf8_and_controls() {
        for bad in ["%", "a%", "a%4", "%4", "%zz", "%4g", "%g4", "a%%%"] {
            assert_eq!(dec(bad), Err(RouteError::BadPercentEncoding), "{bad}");
        }
        for bad in ["%FF", "%C3", "%C0%AF", "%ED%A0%80", "%E2%82"] {
            assert_eq!(dec(bad), Err(RouteError::InvalidUtf8), "{bad}");
        }
        for bad in ["%00", "a%0Ab", "%1f", "%7F", "%0D%0A"] {
            assert_eq!(dec(bad), Err(RouteError::ControlCharacter), "{bad}");
        }
        for bad in ["%2e", "%2E%2e", ".%2E"] {
            assert_eq!(dec(bad), Err(RouteError::DotSegment), "{bad}");
        }
        assert_eq!(dec("caf\u{e9}").unwrap(), "caf\u{e9}");
    }

    #[test]
    fn name_lists() {
        for ok in [
            "logs",
            "logs,secret",
            "*,-secret",
            "<logs-{now/d}>",
            "-<logs-{now/d}>",
            "remote:<logs-{now/d}>",
            "<logs-{now/d{yyyy.MM.dd|+12:00}}>",
            ".kibana",
            "_all",
            "remote:logs-*",
        ] {
            assert!(check_name_list(ok).is_ok(), "{ok}");
        }
        let cases = [
            ("", RouteError::EmptyName),
            (",", RouteError::EmptyName),
            ("logs,", RouteError::EmptyName),
            (",logs", RouteError::EmptyName),
            ("a,,b", RouteError::EmptyName),
            ("logs,..", RouteError::DotSegment),
            (".", RouteError::DotSegment),
            ("logs/secret", RouteError::SlashInName),
            ("logs/../secret", RouteError::SlashInName),
            ("re/mote:<x{now/d}>", RouteError::SlashInName),
            ("<logs/x", RouteError::SlashInName),
            (":logs", RouteError::EmptyRemoteCluster),
        ];
        for (bad, err) in cases {
            assert_eq!(check_name_list(bad), Err(err), "{bad}");
        }
    }

    #[test]
    fn reserved_names() {
        for (list, reserved) in [
            ("logs", false),
            ("_all", false),
            ("logs,_all", false),
            ("_plugins", true),
            ("logs,_x", true),
            ("_all_x", true),
            ("a_b,c_", false),
            ("-_x", false),
        ] {
            let want = if reserved {
                NameList::HasReserved
            } else {
                NameList::Ordinary
            };
            assert_eq!(check_name_list(list), Ok(want), "{list}");
        }
    }

    #[test]
    fn index_expressions() {
        let e = IndexExpr::parse("remote:logs-*");
        assert_eq!(
            (e.remote, e.name, e.wildcard, e.exclusion),
            (Some("remote"), "logs-*", true, false)
        );
        let e = IndexExpr::parse("-secret");
        assert_eq!((e.remote, e.name, e.exclusion), (None, "secret", true));
        let e = IndexExpr::parse("<logs-{now/d{yyyy.MM.dd|+12:00}}>");
        assert_eq!((e.remote, e.date_math), (None, true));
        let e = IndexExpr::parse("-<logs-{now/d}>");
        assert_eq!((e.remote, e.exclusion, e.date_math), (None, true, true));
        let e = IndexExpr::parse("cluster:-logs");
        assert_eq!(
            (e.remote, e.exclusion, e.name),
            (Some("cluster"), true, "logs")
        );
        assert!(IndexExpr::parse("_all").is_all());
        assert!(IndexExpr::parse("*").is_all());
        assert!(!IndexExpr::parse("r:*").is_all());
        assert!(!IndexExpr::parse("logs?").wildcard);
    }
}
