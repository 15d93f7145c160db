//! Framing tests: whole responses, every split point, every prefix, refusals.

use super::*;

const LENGTH: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 5\r\n\r\nhello";
const CHUNKED: &[u8] = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
const CLOSE: &[u8] = b"HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// Feeds `response` in pieces split at `cuts` and returns the first Done.
fn feed_split(response: &[u8], cuts: &[usize]) -> Result<Progress, ParseError> {
    let mut parser = ResponseParser::default();
    let mut from = 0;
    for &to in cuts.iter().chain([&response.len()]) {
        match parser.feed(&response[from..to])? {
            Progress::NeedMore => from = to,
            Progress::Done {
                status,
                close,
                used,
            } => {
                return Ok(Progress::Done {
                    status,
                    close,
                    used: from + used,
                })
            }
        }
    }
    Ok(Progress::NeedMore)
}

fn done(status: u16, close: bool, used: usize) -> Result<Progress, ParseError> {
    Ok(Progress::Done {
        status,
        close,
        used,
    })
}

#[test]
fn whole_responses() {
    assert_eq!(feed_split(LENGTH, &[]), done(200, false, LENGTH.len()));
    assert_eq!(feed_split(CHUNKED, &[]), done(201, false, CHUNKED.len()));
    assert_eq!(feed_split(CLOSE, &[]), done(503, true, CLOSE.len()));
}

#[test]
fn every_split_point_gives_the_same_answer() {
    for (response, status, close) in [
        (LENGTH, 200, false),
        (CHUNKED, 201, false),
        (CLOSE, 503, true),
    ] {
        for cut in 0..response.len() {
            assert_eq!(
                feed_split(response, &[cut]),
                done(status, close, response.len()),
                "cut {cut}"
            );
        }
        let every_byte: Vec<usize> = (1..response.len()).collect();
        assert_eq!(
            feed_split(response, &every_byte),
            done(status, close, response.len())
        );
    }
}

#[test]
fn every_prefix_needs_more() {
    for response in [LENGTH, CHUNKED, CLOSE] {
        for end in 0..response.len() {
            let mut parser = ResponseParser::default();
            assert_eq!(
                parser.feed(&response[..end]),
                Ok(Progress::NeedMore),
                "prefix {end}"
            );
        }
    }
}

#[test]
fn stops_at_the_end_of_the_response() {
    let mut two = LENGTH.to_vec();
    two.extend_from_slice(CLOSE);
    assert_eq!(feed_split(&two, &[]), done(200, false, LENGTH.len()));
}

#[test]
fn reset_parses_the_next_response() {
    let mut parser = ResponseParser::default();
    assert_eq!(parser.feed(CLOSE), done(503, true, CLOSE.len()));
    parser.reset();
    assert_eq!(parser.feed(LENGTH), done(200, false, LENGTH.len()));
}

#[test]
fn bodiless_statuses_end_at_the_head() {
    let response = b"HTTP/1.1 204 No Content\r\n\r\n";
    assert_eq!(feed_split(response, &[]), done(204, false, response.len()));
}

#[test]
fn refuses_what_it_cannot_frame() {
    let cases: [(&[u8], ParseError); 5] = [
        (b"HTTP/1.1 200 OK\r\n\r\n", ParseError::Unframed),
        (
            b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
            ParseError::BadStatusLine,
        ),
        (b"SSH-2.0-OpenSSH\r\n\r\n", ParseError::BadStatusLine),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            ParseError::BadContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            ParseError::BadChunkSize,
        ),
    ];
    for (response, error) in cases {
        assert_eq!(ResponseParser::default().feed(response), Err(error));
    }
    let huge = vec![b'a'; MAX_HEAD_BYTES + 10];
    assert_eq!(
        ResponseParser::default().feed(&huge),
        Err(ParseError::HeadTooLarge)
    );
}

#[test]
fn large_bodies_are_counted_not_kept() {
    let mut parser = ResponseParser::default();
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n";
    assert_eq!(parser.feed(head), Ok(Progress::NeedMore));
    let piece = vec![b'x'; 1 << 20];
    for _ in 0..9 {
        assert_eq!(parser.feed(&piece), Ok(Progress::NeedMore));
    }
    assert!(parser.line.capacity() < MAX_HEAD_BYTES * 2);
    let last = 10_000_000 - 9 * (1 << 20);
    assert_eq!(parser.feed(&piece), done(200, false, last));
}
