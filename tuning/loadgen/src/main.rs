//! loadgen: an open-loop HTTP/1.1 load generator for the load harness (`tuning/load/bench.py`).
//!
//! wrk2's constant rate: request `i` is due at `start + i / rate` ([`schedule`]), goes out on
//! the first of the `-c` keep-alive connections that is free, and its latency runs from the
//! time it was due, not from when it was sent: a stalled server shows up as latency instead
//! of as a slower send rate (no coordinated omission). With `-R 0` it is a closed loop
//! instead: each connection sends again as soon as it has its answer (the `_bulk` scenario
//! posts large bodies that way). Prints one JSON line ([`report`]).
//!
//! ```text
//! loadgen -c 64 -R 50000 -d 10 -H "Authorization: Basic ..." http://127.0.0.1:18201/logs-1/_search
//! loadgen -c 8 -R 0 -d 10 -m POST --body bulk.ndjson http://127.0.0.1:18080/_bulk
//! ```
//!
//! One thread, one epoll set (mio, edge-triggered) for every connection, and a timerfd armed
//! at the next due time: epoll's own timeout counts whole milliseconds, far coarser than the
//! 10-20 µs between requests at 50k-100k req/s. Answers are framed ([`response`]) and their
//! bodies counted, not kept.

mod report;
mod response;
mod schedule;

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use report::Tally;
use response::{ParseError, Progress, ResponseParser};
use rustix::time::{
    timerfd_create, timerfd_settime, ClockId, Itimerspec, TimerfdClockId, TimerfdFlags,
    TimerfdTimerFlags, Timespec,
};
use schedule::{Schedule, NANOS_PER_SEC};
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;

const TIMER: Token = Token(usize::MAX);
/// Bytes read per `read` call, shared by every connection (only heads are copied out).
const READ_BUFFER_BYTES: usize = 256 * 1024;
/// A refused connection is tried again after this long.
const RECONNECT_DELAY_NS: u64 = 10_000_000;
/// How long the connections have to open before the window starts.
const CONNECT_GRACE_NS: u64 = 2 * NANOS_PER_SEC;
const USAGE: &str =
    "usage: loadgen [-c CONNECTIONS] [-R RATE|0] [-d SECONDS] [-H 'Name: value']... \
[-m METHOD] [--body FILE] [--timeout SECONDS] http://HOST:PORT/PATH";

#[derive(Debug)]
struct Options {
    addr: SocketAddr,
    host: String,
    path: String,
    connections: usize,
    /// Requests per second; 0: closed loop.
    rate: f64,
    duration_s: f64,
    timeout_s: f64,
    method: String,
    headers: Vec<String>,
    body: Vec<u8>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 80)),
        host: String::new(),
        path: String::new(),
        connections: 64,
        rate: 0.0,
        duration_s: 10.0,
        timeout_s: 2.0,
        method: "GET".into(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let mut url = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let number = |v: &String| {
            v.parse::<f64>()
                .map_err(|_| format!("{arg}: not a number: {v}"))
        };
        match arg.as_str() {
            "-c" | "--connections" => options.connections = number(value()?)?.max(1.0) as usize,
            "-R" | "--rate" => options.rate = number(value()?)?.max(0.0),
            "-d" | "--duration" => options.duration_s = number(value()?)?,
            "--timeout" => options.timeout_s = number(value()?)?,
            "-m" | "--method" => options.method = value()?.clone(),
            "-H" | "--header" => options.headers.push(value()?.clone()),
            "--body" => {
                let path = value()?;
                options.body = std::fs::read(path).map_err(|e| format!("--body {path}: {e}"))?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}\n{USAGE}")),
            _ => url = Some(arg.clone()),
        }
    }
    let url = url.ok_or(USAGE)?;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    options.path = if path.is_empty() {
        "/".into()
    } else {
        path.into()
    };
    options.host = authority.into();
    let with_port = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    options.addr = with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("{url}: cannot resolve {authority}"))?;
    Ok(options)
}

/// The request every connection sends: a head, and a body shared by all of them.
fn request_head(options: &Options) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\n",
        options.method, options.path, options.host
    );
    for header in &options.headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    if !options.body.is_empty() || options.method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", options.body.len()));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(ClockId::Monotonic);
    t.tv_sec as u64 * NANOS_PER_SEC + t.tv_nsec as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No socket; opened again at `deadline_ns`.
    Down,
    Connecting,
    Idle,
    Busy,
}

struct Connection {
    stream: Option<TcpStream>,
    state: State,
    /// Busy: when its request was due (latency runs from here).
    due_ns: u64,
    /// Busy: answer by then or time out; Connecting: connected by then; Down: retry then.
    deadline_ns: u64,
    written: usize,
    received: u64,
    parser: ResponseParser,
}

struct Generator {
    poll: Poll,
    addr: SocketAddr,
    head: Vec<u8>,
    body: Vec<u8>,
    timeout_ns: u64,
    connections: Vec<Connection>,
    /// Connections that were idle when pushed; popping skips any that no longer are.
    idle: Vec<usize>,
    idle_count: usize,
    busy_count: usize,
    /// The earliest deadline of any connection (a lower bound: scanning settles it).
    next_check_ns: u64,
    buffer: Vec<u8>,
    tally: Tally,
    last_answer_ns: u64,
}

impl Generator {
    fn set_state(&mut self, c: usize, state: State) {
        let old = std::mem::replace(&mut self.connections[c].state, state);
        match old {
            State::Idle => self.idle_count -= 1,
            State::Busy => self.busy_count -= 1,
            _ => {}
        }
        match state {
            State::Idle => {
                self.idle_count += 1;
                self.idle.push(c);
            }
            State::Busy => self.busy_count += 1,
            _ => {}
        }
    }

    fn set_deadline(&mut self, c: usize, deadline_ns: u64) {
        self.connections[c].deadline_ns = deadline_ns;
        self.next_check_ns = self.next_check_ns.min(deadline_ns);
    }

    fn connect(&mut self, c: usize, now: u64) {
        self.connections[c].stream = None;
        let opened = TcpStream::connect(self.addr).and_then(|mut stream| {
            stream.set_nodelay(true)?;
            self.poll.registry().register(
                &mut stream,
                Token(c),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match opened {
            Ok(stream) => {
                self.connections[c].stream = Some(stream);
                self.set_state(c, State::Connecting);
                self.set_deadline(c, now + self.timeout_ns);
            }
            Err(_) => self.connect_failed(c, now),
        }
    }

    fn connect_failed(&mut self, c: usize, now: u64) {
        self.tally.connect_errors += 1;
        self.connections[c].stream = None;
        self.set_state(c, State::Down);
        self.set_deadline(c, now + RECONNECT_DELAY_NS);
    }

    /// The request on `c` failed: counted, and the connection opened again.
    fn fail(&mut self, c: usize, kind: &'static str, now: u64) {
        if self.connections[c].state == State::Busy {
            self.tally.error(kind);
        }
        self.connect(c, now);
    }

    fn next_idle(&mut self) -> Option<usize> {
        while let Some(c) = self.idle.pop() {
            if self.connections[c].state == State::Idle {
                return Some(c);
            }
        }
        None
    }

    fn send(&mut self, c: usize, due_ns: u64, now: u64) {
        let conn = &mut self.connections[c];
        conn.due_ns = due_ns;
        conn.written = 0;
        conn.received = 0;
        conn.parser.reset();
        self.set_state(c, State::Busy);
        self.set_deadline(c, due_ns + self.timeout_ns);
        self.tally.sent += 1;
        self.write(c, now);
    }

    /// Writes what is left of the request on `c` until the socket takes no more.
    fn write(&mut self, c: usize, now: u64) {
        let total = self.head.len() + self.body.len();
        loop {
            let conn = &mut self.connections[c];
            let Some(stream) = conn.stream.as_mut() else {
                return;
            };
            if conn.written >= total {
                return;
            }
            let (head, body) = if conn.written < self.head.len() {
                (&self.head[conn.written..], &self.body[..])
            } else {
                (&[][..], &self.body[conn.written - self.head.len()..])
            };
            match stream.write_vectored(&[IoSlice::new(head), IoSlice::new(body)]) {
                Ok(0) => return self.fail(c, "write", now),
                Ok(n) => conn.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return self.fail(c, "write", now),
            }
        }
    }

    /// Reads everything the socket has; an answer completes the request.
    fn read(&mut self, c: usize, now: u64) {
        loop {
            let conn = &mut self.connections[c];
            let Some(stream) = conn.stream.as_mut() else {
                return;
            };
            let n = match stream.read(&mut self.buffer) {
                Ok(0) => {
                    // A keep-alive connection the server closed while idle is no failure.
                    return self.fail(c, "closed", now);
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return self.fail(c, "reset", now),
            };
            if conn.state != State::Busy {
                // Bytes nobody asked for: the connection is out of step.
                return self.fail(c, "unexpected bytes", now);
            }
            conn.received += n as u64;
            match conn.parser.feed(&self.buffer[..n]) {
                Ok(Progress::NeedMore) => {}
                Ok(Progress::Done {
                    status,
                    close,
                    used,
                }) => {
                    let latency = now.saturating_sub(conn.due_ns);
                    let received = conn.received - (n - used) as u64;
                    self.tally.answered(status, latency);
                    self.tally.bytes_sent += (self.head.len() + self.body.len()) as u64;
                    self.tally.bytes_received += received;
                    self.last_answer_ns = now;
                    if close || used < n {
                        self.set_state(c, State::Down);
                        self.connect(c, now);
                        return;
                    }
                    self.set_state(c, State::Idle);
                }
                Err(e) => return self.fail(c, parse_error_kind(e), now),
            }
        }
    }

    fn connected(&mut self, c: usize, now: u64) {
        let Some(stream) = self.connections[c].stream.as_ref() else {
            return;
        };
        match (stream.take_error(), stream.peer_addr()) {
            (Ok(None), Ok(_)) => self.set_state(c, State::Idle),
            (Ok(None), Err(e)) if e.kind() == ErrorKind::NotConnected => {}
            _ => self.connect_failed(c, now),
        }
    }

    fn ready(&mut self, c: usize, now: u64) {
        match self.connections[c].state {
            State::Connecting => {
                self.connected(c, now);
                if self.connections[c].state == State::Idle {
                    // Anything already readable is an early close, seen on the next read.
                    self.read(c, now);
                }
            }
            State::Busy => {
                self.write(c, now);
                self.read(c, now);
            }
            State::Idle => self.read(c, now),
            State::Down => {}
        }
    }

    /// Times out late requests and slow connects, retries refused connects; returns the
    /// next deadline.
    fn check_deadlines(&mut self, now: u64) -> u64 {
        let mut next = u64::MAX;
        for c in 0..self.connections.len() {
            let (state, deadline) = (self.connections[c].state, self.connections[c].deadline_ns);
            if deadline > now || state == State::Idle {
                if state != State::Idle {
                    next = next.min(deadline);
                }
                continue;
            }
            match state {
                State::Busy => {
                    self.tally.timeouts += 1;
                    self.set_state(c, State::Down);
                    self.connect(c, now);
                }
                State::Connecting => self.connect_failed(c, now),
                State::Down => self.connect(c, now),
                State::Idle => {}
            }
            if self.connections[c].state != State::Idle {
                next = next.min(self.connections[c].deadline_ns);
            }
        }
        next
    }
}

fn parse_error_kind(e: ParseError) -> &'static str {
    match e {
        ParseError::HeadTooLarge => "head too large",
        ParseError::BadStatusLine => "bad status line",
        ParseError::BadContentLength => "bad content-length",
        ParseError::BadChunkSize => "bad chunk size",
        ParseError::Unframed => "unframed response",
    }
}

/// Arms the one-shot timer at `at_ns` on the monotonic clock (0 would disarm it).
fn arm(timer: &OwnedFd, at_ns: u64) -> std::io::Result<()> {
    let at_ns = at_ns.max(1);
    let value = Itimerspec {
        it_interval: Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: Timespec {
            tv_sec: (at_ns / NANOS_PER_SEC) as _,
            tv_nsec: (at_ns % NANOS_PER_SEC) as _,
        },
    };
    timerfd_settime(timer, TimerfdTimerFlags::ABSTIME, &value)?;
    Ok(())
}

fn run(options: &Options) -> std::io::Result<String> {
    let poll = Poll::new()?;
    let timer = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )?;
    poll.registry()
        .register(&mut SourceFd(&timer.as_raw_fd()), TIMER, Interest::READABLE)?;
    let mut g = Generator {
        poll,
        addr: options.addr,
        head: request_head(options),
        body: options.body.clone(),
        timeout_ns: (options.timeout_s * NANOS_PER_SEC as f64) as u64,
        connections: Vec::new(),
        idle: Vec::new(),
        idle_count: 0,
        busy_count: 0,
        next_check_ns: u64::MAX,
        buffer: vec![0; READ_BUFFER_BYTES],
        tally: Tally::default(),
        last_answer_ns: 0,
    };
    let now = now_ns();
    for c in 0..options.connections {
        g.connections.push(Connection {
            stream: None,
            state: State::Down,
            due_ns: 0,
            deadline_ns: 0,
            written: 0,
            received: 0,
            parser: ResponseParser::default(),
        });
        g.connect(c, now);
    }
    let mut events = Events::with_capacity(1024);
    // Open every connection first: the window measures requests, not handshakes.
    let grace_end = now_ns() + CONNECT_GRACE_NS;
    while g.idle_count < options.connections && now_ns() < grace_end {
        g.poll
            .poll(&mut events, Some(std::time::Duration::from_millis(10)))?;
        let now = now_ns();
        for event in events.iter() {
            if event.token() != TIMER {
                g.ready(event.token().0, now);
            }
        }
        g.check_deadlines(now);
    }

    let duration_ns = (options.duration_s * NANOS_PER_SEC as f64) as u64;
    let start = now_ns();
    let end = start + duration_ns;
    let schedule = (options.rate > 0.0).then(|| Schedule::new(options.rate, duration_ns));
    g.tally.scheduled = schedule.map_or(0, |s| s.total());
    let mut next = 0u64;
    let mut armed = 0u64;
    // A safety stop: nothing can be outstanding past its timeout after the window.
    let hard_stop = end + g.timeout_ns + NANOS_PER_SEC;
    loop {
        let now = now_ns();
        if now >= g.next_check_ns {
            g.next_check_ns = u64::MAX;
            let next_deadline = g.check_deadlines(now);
            g.next_check_ns = g.next_check_ns.min(next_deadline);
        }
        match schedule {
            // Requests due in the window go out as connections free up, after the window's
            // end too; one still waiting for a connection at its timeout is given up.
            Some(s) => {
                let due = s.due_by(now.saturating_sub(start));
                while next < due {
                    let due_at = start + s.due_ns(next);
                    if due_at + g.timeout_ns <= now {
                        g.tally.not_sent += 1;
                        next += 1;
                        continue;
                    }
                    let Some(c) = g.next_idle() else { break };
                    g.send(c, due_at, now);
                    next += 1;
                }
            }
            None if now < end => {
                while let Some(c) = g.next_idle() {
                    g.send(c, now, now);
                }
            }
            None => {}
        }
        let all_sent = schedule.is_none_or(|s| next >= s.total());
        if (now >= end && all_sent && g.busy_count == 0) || now >= hard_stop {
            break;
        }
        let mut wake = g.next_check_ns;
        if now < end {
            wake = wake.min(end);
        }
        if let Some(s) = schedule.filter(|s| next < s.total()) {
            // The next request: when it is due, or when it expires if no connection is free.
            let due_at = start + s.due_ns(next);
            wake = wake.min(if g.idle_count > 0 {
                due_at
            } else {
                due_at + g.timeout_ns
            });
        }
        if wake != armed && wake != u64::MAX {
            arm(&timer, wake)?;
            armed = wake;
        }
        g.poll
            .poll(&mut events, Some(std::time::Duration::from_millis(100)))?;
        let now = now_ns();
        for event in events.iter() {
            if event.token() == TIMER {
                let mut expirations = [0u8; 8];
                let _ = rustix::io::read(&timer, &mut expirations);
                armed = 0;
            } else {
                g.ready(event.token().0, now);
            }
        }
    }
    let now = now_ns();
    // Still busy at the hard stop: unanswered, so timed out.
    g.tally.timeouts += g.busy_count as u64;
    let elapsed_ns = match schedule {
        Some(s) => {
            // Only at the hard stop can some be left.
            g.tally.not_sent += s.total() - next;
            duration_ns
        }
        // Closed loop: requests were sent until the end and answered until the last answer.
        None => g.last_answer_ns.max(end).min(now) - start,
    };
    let settings = [
        (
            "url",
            format!(
                "\"http://{}{}\"",
                options.host,
                options.path.replace('"', "%22")
            ),
        ),
        ("rate", format!("{}", options.rate)),
        ("connections", options.connections.to_string()),
        ("duration_s", format!("{}", options.duration_s)),
        ("timeout_s", format!("{}", options.timeout_s)),
        ("body_bytes", options.body.len().to_string()),
    ];
    Ok(g.tally
        .to_json(&settings, elapsed_ns as f64 / NANOS_PER_SEC as f64))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_options(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_and_request_head() {
        let o = parse_options(&args(&[
            "-c",
            "8",
            "-R",
            "1000",
            "-d",
            "2.5",
            "-H",
            "Authorization: Basic eA==",
            "http://127.0.0.1:18201/logs-1/_search",
        ]))
        .unwrap();
        assert_eq!((o.connections, o.rate, o.duration_s), (8, 1000.0, 2.5));
        assert_eq!(o.addr, SocketAddr::from(([127, 0, 0, 1], 18201)));
        assert_eq!(
            request_head(&o),
            b"GET /logs-1/_search HTTP/1.1\r\nHost: 127.0.0.1:18201\r\nAuthorization: Basic eA==\r\n\r\n"
        );
    }

    #[test]
    fn posts_carry_a_content_length() {
        let mut o = parse_options(&args(&["-m", "POST", "http://127.0.0.1:9/_bulk"])).unwrap();
        o.body = b"{}\n".to_vec();
        assert!(request_head(&o).ends_with(b"Content-Length: 3\r\n\r\n"));
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse_options(&args(&["https://127.0.0.1/"])).is_err());
        assert!(parse_options(&args(&["-R", "fast", "http://127.0.0.1/"])).is_err());
        assert!(parse_options(&args(&["--frobnicate", "http://127.0.0.1/"])).is_err());
        assert!(parse_options(&args(&[])).is_err());
    }
}
