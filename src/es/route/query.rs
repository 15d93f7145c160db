//! Query-string guard: refuses query parameters that would stand in for a path part.
//!
//! Elasticsearch decodes the query string into the same parameter map that `PathTrie` later
//! fills with the path parts (ES `RestRequest` constructor, `RestController.getAllHandlers`), the
//! path winning only for the parts its template has. `GET /_search?index=secret` therefore
//! searches `secret`: `RestSearchAction` reads `request.param("index")` whichever route matched.
//! The route table lists, per route, the index-like part names its API reads in other templates
//! (`Route::guard`); a query key equal to one of them is `PathPartInQuery`.
//!
//! Also reads one parameter's value (`source`, the body of clients that cannot send a GET
//! body, ES `RestRequest.contentOrSourceParam`), decoded as Elasticsearch decodes it.
//!
//! The check must not allocate: keys are compared while they are decoded.

use super::index_name::hex_digit;
use super::RouteError;

/// Checks every key of `query` (the bytes after `?`) against `guard`.
pub(super) fn check(query: &[u8], guard: &[&str]) -> Result<(), RouteError> {
    if guard.is_empty() {
        return Ok(());
    }
    // ES `RestUtils.decodeQueryString`: the query ends at '#'; '&' and ';' separate pairs; the
    // name is what precedes the first '=' (or the whole pair).
    let query = match memchr::memchr(b'#', query) {
        Some(end) => &query[..end],
        None => query,
    };
    for pair in query.split(|&b| b == b'&' || b == b';') {
        let key = match memchr::memchr(b'=', pair) {
            Some(eq) => &pair[..eq],
            None => pair,
        };
        if key.is_empty() {
            continue;
        }
        for name in guard {
            if decoded_key_equals(key, name.as_bytes())? {
                return Err(RouteError::PathPartInQuery);
            }
        }
    }
    Ok(())
}

/// The decoded value of the parameter `name` in `query` (the bytes after `?`); `Ok(None)`
/// if it is absent. Given twice it is an error: Elasticsearch keeps the last, a reader that
/// stops at the first would check another value.
pub(crate) fn param(query: &[u8], name: &str) -> Result<Option<Vec<u8>>, RouteError> {
    let query = match memchr::memchr(b'#', query) {
        Some(end) => &query[..end],
        None => query,
    };
    let mut found = None;
    for pair in query.split(|&b| b == b'&' || b == b';') {
        let (key, value) = match memchr::memchr(b'=', pair) {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        if key.is_empty() || !decoded_key_equals(key, name.as_bytes())? {
            continue;
        }
        if found.is_some() {
            return Err(RouteError::PathPartInQuery);
        }
        found = Some(decode_component(value)?);
    }
    Ok(found)
}

/// ES query decoding of a value: `+` is a space, `%XY` a byte.
fn decode_component(raw: &[u8]) -> Result<Vec<u8>, RouteError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let (Some(&hi), Some(&lo)) = (raw.get(i + 1), raw.get(i + 2)) else {
                    return Err(RouteError::BadPercentEncoding);
                };
                let (Some(hi), Some(lo)) = (hex_digit(hi), hex_digit(lo)) else {
                    return Err(RouteError::BadPercentEncoding);
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Whether `raw` decodes to `name` under ES query decoding (`+` is a space, `%%` is `%`, `%XY`
/// a byte). A malformed escape is `BadPercentEncoding`, as ES answers 400 for it too.
fn decoded_key_equals(raw: &[u8], name: &[u8]) -> Result<bool, RouteError> {
    let mut i = 0;
    let mut matched = 0;
    let mut equal = true;
    while i < raw.len() {
        let byte = match raw[i] {
            b'+' => {
                i += 1;
                b' '
            }
            b'%' => match (raw.get(i + 1), raw.get(i + 2)) {
                (Some(b'%'), _) => {
                    i += 2;
                    b'%'
                }
                (Some(&hi), Some(&lo)) => match (hex_digit(hi), hex_digit(lo)) {
                    (Some(hi), Some(lo)) => {
                        i += 3;
                        hi << 4 | lo
                    }
                    _ => return Err(RouteError::BadPercentEncoding),
                },
                _ => return Err(RouteError::BadPercentEncoding),
            },
            b => {
                i += 1;
                b
            }
        };
        if name.get(matched) != Some(&byte) {
            equal = false;
        }
        matched += 1;
    }
    Ok(equal && matched == name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_overrides_in_any_spelling() {
        let guard = ["index"];
        for q in [
            "index=secret",
            "q=x&index=secret",
            "q=x;index=secret",
            "ind%65x=secret",
            "index",
            "%69ndex=a",
        ] {
            assert_eq!(
                check(q.as_bytes(), &guard),
                Err(RouteError::PathPartInQuery),
                "{q}"
            );
        }
        for q in [
            "",
            "q=index",
            "indexx=1",
            "idx=1",
            "#index=1",
            "q=1#&index=2",
            "index+=1",
            "&&=&",
        ] {
            assert_eq!(check(q.as_bytes(), &guard), Ok(()), "{q}");
        }
        assert_eq!(
            check(b"ind%6=1", &guard),
            Err(RouteError::BadPercentEncoding)
        );
        assert_eq!(check(b"index=secret", &[]), Ok(()));
    }

    #[test]
    fn reads_one_parameter_value() {
        assert_eq!(
            param(b"a=1&sour%63e=%7B%22x%22%3A1%7D+%0A", "source"),
            Ok(Some(b"{\"x\":1} \n".to_vec()))
        );
        assert_eq!(param(b"a=1", "source"), Ok(None));
        assert_eq!(param(b"source", "source"), Ok(Some(Vec::new())));
        assert_eq!(
            param(b"source=%zz", "source"),
            Err(RouteError::BadPercentEncoding)
        );
        assert_eq!(
            param(b"source=a&source=b", "source"),
            Err(RouteError::PathPartInQuery)
        );
    }
}
