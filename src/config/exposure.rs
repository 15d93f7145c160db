//! Setups `ringfence check` warns about: each loads and can be what was meant, but each lets
//! a listener that other machines reach trust them more than an operator usually wants.
//! Warnings, not errors; `run` does not repeat them.

use super::GatewaySettings;
use crate::acl::{Acl, Policy};

/// The warnings for `gateway`'s listeners in front of `acl`, one per finding.
pub fn warnings(gateway: &GatewaySettings, acl: &Acl) -> Vec<String> {
    let mut warnings = Vec::new();
    let exposed: Vec<_> = gateway
        .listen
        .iter()
        .filter(|l| !l.addr.ip().to_canonical().is_loopback())
        .collect();
    for listener in &exposed {
        if !listener.tls && acl.uses_basic_auth() {
            warnings.push(format!(
                "gateway.listen {}: plain HTTP on an address other machines reach, and the ACL \
                 takes passwords: they would cross the network in clear text (listen with \
                 https:// and readonlyrest.ssl, or on loopback)",
                listener.addr
            ));
        }
        let filtered = !gateway.ip_filter.allow.is_empty() || !gateway.ip_filter.deny.is_empty();
        if listener.addr.ip().is_unspecified() && !filtered {
            warnings.push(format!(
                "gateway.listen {}: every interface, and no gateway.ip_filter limits who \
                 connects",
                listener.addr
            ));
        }
    }
    if let Some(listener) = exposed.first() {
        for block in acl.blocks() {
            if matches!(block.policy, Policy::Allow)
                && !block.authenticates()
                && !block.restricts_clients()
            {
                warnings.push(format!(
                    "block `{}` allows requests without authentication and from any address \
                     (no `hosts` rule), and gateway.listen {} is reachable from other machines",
                    block.name, listener.addr
                ));
            }
        }
    }
    warnings
}
