//! Helpers shared by the ACL's test modules.

use super::Acl;
use crate::config::{yaml, Diagnostics};

/// Compiles a `readonlyrest:` document; panics with the errors if it does not load.
pub fn compile(text: &str) -> Acl {
    try_acl(text).unwrap_or_else(|errors| panic!("{}", errors.join("\n")))
}

/// Compiles a `readonlyrest:` document, returning every error as `FILE:LINE:COL: message`.
pub fn try_acl(text: &str) -> Result<Acl, Vec<String>> {
    let root = yaml::parse(text).expect("yaml");
    let mut d = Diagnostics::new(std::path::Path::new("readonlyrest.yml"));
    let acl =
        crate::config::policy::compile(root.get("readonlyrest").expect("readonlyrest:"), &mut d);
    d.finish(acl)
        .map_err(|e| e.0.iter().map(ToString::to_string).collect())
}

/// The `Authorization` value for Basic credentials.
pub fn basic_value(user: &str, password: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}
