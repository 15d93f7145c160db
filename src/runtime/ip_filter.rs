//! The connection-level address filter (`gateway.ip_filter`), checked right after accept,
//! before any byte is read: a denied scanner costs one accept and one close.
//!
//! Like X-Pack's IP filtering: `allow` wins over `deny`, an address matching neither is
//! accepted, `_all` matches every address. Host names are resolved once at start-up;
//! wildcard host names are refused by the config (they would need reverse DNS per
//! connection).

use crate::config::IpFilterSettings;
use ipnet::IpNet;
use std::io;
use std::net::{IpAddr, ToSocketAddrs};

#[derive(Debug, Clone, Default)]
pub struct IpFilter {
    allow: Rules,
    deny: Rules,
}

#[derive(Debug, Clone, Default)]
struct Rules {
    all: bool,
    nets: Vec<IpNet>,
}

impl Rules {
    fn build(items: &[String]) -> io::Result<Rules> {
        let mut rules = Rules::default();
        for item in items {
            if item == "_all" || item == "*" {
                rules.all = true;
            } else if let Some(net) = crate::acl::network::parse_net(item) {
                rules.nets.push(net);
            } else {
                let addrs = (item.as_str(), 0).to_socket_addrs().map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("ip_filter host `{item}` does not resolve: {e}"),
                    )
                })?;
                rules
                    .nets
                    .extend(addrs.map(|a| IpNet::from(a.ip().to_canonical())));
            }
        }
        Ok(rules)
    }

    fn matches(&self, ip: IpAddr) -> bool {
        self.all || self.nets.iter().any(|net| net.contains(&ip))
    }
}

impl IpFilter {
    pub fn build(settings: &IpFilterSettings) -> io::Result<IpFilter> {
        Ok(IpFilter {
            allow: Rules::build(&settings.allow)?,
            deny: Rules::build(&settings.deny)?,
        })
    }

    /// Whether a connection from `ip` may proceed.
    pub fn admits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allow.matches(ip) || !self.deny.matches(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str]) -> IpFilter {
        IpFilter::build(&IpFilterSettings {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn allow_wins_over_deny() {
        let f = filter(&["10.1.0.0/16", "192.168.0.7", "localhost"], &["_all"]);
        assert!(f.admits(ip("10.1.2.3")));
        assert!(f.admits(ip("192.168.0.7")));
        assert!(f.admits(ip("127.0.0.1")));
        assert!(
            f.admits(ip("::ffff:10.1.9.9")),
            "IPv4-mapped addresses are unmapped"
        );
        assert!(!f.admits(ip("10.2.0.1")));
        assert!(!f.admits(ip("2001:db8::1")));
    }

    #[test]
    fn unmatched_addresses_pass() {
        let f = filter(&[], &["203.0.113.0/24", "2001:db8::/32"]);
        assert!(!f.admits(ip("203.0.113.9")));
        assert!(!f.admits(ip("2001:db8::5")));
        assert!(f.admits(ip("198.51.100.1")));
        assert!(filter(&[], &[]).admits(ip("203.0.113.9")));
    }
}
