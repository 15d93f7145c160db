//! Address rules: `hosts`, `hosts_local`, `x_forwarded_for`, and the gateway's `ip_filter`.
//!
//! Host names are resolved when the policy is built and refreshed in the background
//! (`snapshot` does that IO); a rule only reads the last resolved addresses, lock-free.

use super::variable::{Resolve, Template};
use arc_swap::ArcSwap;
use ipnet::IpNet;
use std::net::IpAddr;
use std::sync::Arc;

/// A host name and the addresses it resolved to last.
#[derive(Debug)]
pub struct HostName {
    pub name: String,
    addrs: ArcSwap<Vec<IpAddr>>,
}

impl HostName {
    pub fn new(name: &str) -> HostName {
        HostName {
            name: name.to_string(),
            addrs: ArcSwap::from_pointee(Vec::new()),
        }
    }

    pub fn set_addrs(&self, addrs: Vec<IpAddr>) {
        self.addrs.store(Arc::new(addrs));
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.addrs.load().contains(&ip)
    }
}

/// One entry of `hosts`, `hosts_local` or `x_forwarded_for`.
#[derive(Debug, Clone)]
pub enum HostPattern {
    Net(IpNet),
    Name(Arc<HostName>),
    /// A value with runtime variables; it must resolve to an IP or CIDR (host names are
    /// never resolved per request).
    Dynamic(Template),
}

impl HostPattern {
    /// Parses an IP, a CIDR, a host name or a value with variables.
    pub fn parse(text: &str, names: &mut Vec<Arc<HostName>>) -> Result<HostPattern, String> {
        let template = Template::parse(text, true)?;
        let Some(text) = template.as_static() else {
            return Ok(HostPattern::Dynamic(template));
        };
        if let Some(net) = parse_net(text) {
            return Ok(HostPattern::Net(net));
        }
        if text.is_empty()
            || !text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        {
            return Err(format!(
                "`{text}` is not an IP address, a CIDR range or a host name"
            ));
        }
        let name = match names.iter().find(|n| n.name == text) {
            Some(existing) => Arc::clone(existing),
            None => {
                let name = Arc::new(HostName::new(text));
                names.push(Arc::clone(&name));
                name
            }
        };
        Ok(HostPattern::Name(name))
    }

    pub fn needs_user(&self) -> bool {
        matches!(self, HostPattern::Dynamic(t) if t.needs_user())
    }

    pub fn matches(&self, ip: IpAddr, from: &dyn Resolve) -> bool {
        match self {
            HostPattern::Net(net) => net.contains(&ip),
            HostPattern::Name(name) => name.contains(ip),
            HostPattern::Dynamic(template) => template
                .resolve(from)
                .iter()
                .filter_map(|value| parse_net(value))
                .any(|net| net.contains(&ip)),
        }
    }
}

/// `1.2.3.4`, `10.0.0.0/8`, `::1`, `fe80::/10` (an address is a /32 or /128).
pub fn parse_net(text: &str) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net);
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

/// The leftmost `X-Forwarded-For` entry, as ReadonlyREST reads it.
pub fn leftmost_forwarded_for(header: &str) -> Option<IpAddr> {
    parse_forwarded_entry(header.split(',').next()?)
}

/// The client address behind trusted proxies: starting from the connection's peer, walk
/// `X-Forwarded-For` from the right while the hop is a trusted proxy; the first untrusted
/// address is the client. Entries left of it were written by the client itself and can be
/// anything, which is why the leftmost entry must never be trusted for access control.
pub fn client_behind_proxies<'h>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'h str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    for entry in forwarded_for.rev() {
        let hop = parse_forwarded_entry(entry)?;
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    Some(client)
}

/// One XFF entry: an IP, optionally with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl Resolve for Nothing {
        fn user(&self) -> Option<&str> {
            None
        }
        fn header(&self, name: &str) -> Option<&str> {
            (name == "x-net").then_some("10.1.0.0/16")
        }
        fn current_group(&self) -> Option<&str> {
            None
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn patterns() {
        let mut names = Vec::new();
        let cidr = HostPattern::parse("10.0.0.0/8", &mut names).unwrap();
        assert!(cidr.matches(ip("10.2.3.4"), &Nothing));
        assert!(!cidr.matches(ip("11.0.0.1"), &Nothing));
        let v6 = HostPattern::parse("fe80::/10", &mut names).unwrap();
        assert!(v6.matches(ip("fe80::1"), &Nothing));
        let single = HostPattern::parse("127.0.0.1", &mut names).unwrap();
        assert!(single.matches(ip("127.0.0.1"), &Nothing));
        let dynamic = HostPattern::parse("@{header:x-net}", &mut names).unwrap();
        assert!(dynamic.matches(ip("10.1.2.3"), &Nothing));
        assert!(!dynamic.matches(ip("10.2.2.3"), &Nothing));
        let name = HostPattern::parse("es.example.com", &mut names).unwrap();
        assert!(!name.matches(ip("192.0.2.1"), &Nothing));
        names[0].set_addrs(vec![ip("192.0.2.1")]);
        assert!(name.matches(ip("192.0.2.1"), &Nothing));
        assert!(HostPattern::parse("not a host!", &mut names).is_err());
    }

    #[test]
    fn forwarded_for() {
        assert_eq!(
            leftmost_forwarded_for("1.2.3.4, 10.0.0.1"),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(leftmost_forwarded_for("[::1]:80"), Some(ip("::1")));
        assert_eq!(leftmost_forwarded_for("garbage"), None);
        let trusted = [parse_net("10.0.0.0/8").unwrap()];
        // Spoofed leftmost entry is ignored: the proxy at 10.0.0.2 saw 203.0.113.9.
        let xff = ["6.6.6.6", "203.0.113.9", "10.0.0.2"];
        assert_eq!(
            client_behind_proxies(ip("10.0.0.1"), xff.into_iter(), &trusted),
            Some(ip("203.0.113.9"))
        );
        // A direct client cannot inject anything.
        assert_eq!(
            client_behind_proxies(ip("198.51.100.7"), xff.into_iter(), &trusted),
            Some(ip("198.51.100.7"))
        );
        // Only proxies all the way: the leftmost hop is the best we know.
        assert_eq!(
            client_behind_proxies(ip("10.0.0.1"), ["10.0.0.9"].into_iter(), &trusted),
            Some(ip("10.0.0.9"))
        );
        assert_eq!(
            client_behind_proxies(ip("10.0.0.1"), ["bad"].into_iter(), &trusted),
            None
        );
    }
}
