//! Runtime variables in rule values: `@{user}`, `@{acl:user}`, `@{header:X}` (and the legacy
//! `@{X}`), `@{acl:current_group}`, `@{acl:certificate_dn}` (the verified client
//! certificate's subject DN), `@{jwt:claim.path}` (a claim of the token a JWT rule of the
//! block verified), and `@explode{...}` to turn one comma-separated value (or a JWT array)
//! into several. A value without variables compiles to plain text and costs nothing per
//! request; with variables it is resolved per request from the request and the user the
//! block's authentication rule established. Functions such as `#{to_lowercase}` are applied
//! after resolving.

use crate::auth::jwt::ClaimPath;
use std::borrow::Cow;

/// One piece of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var, Vec<Function>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Var {
    User,
    /// Lower-cased header name.
    Header(String),
    CurrentGroup,
    CertificateDn,
    /// A claim of the verified JWT.
    Jwt(ClaimPath),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    ToLowercase,
    ToUppercase,
}

/// A rule value, possibly with variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    /// `@explode{...}`: the resolved variable is split on commas into several values.
    explode: bool,
}

/// What a value's variables are resolved from.
pub trait Resolve {
    fn user(&self) -> Option<&str>;
    /// The first header with this (lower-case) name.
    fn header(&self, lower_name: &str) -> Option<&str>;
    fn current_group(&self) -> Option<&str>;
    /// The subject DN of the verified client certificate, if any.
    fn certificate_dn(&self) -> Option<&str> {
        None
    }
    /// A claim of the token a JWT rule of the block verified, as text.
    fn jwt_claim(&self, _path: &ClaimPath) -> Option<Cow<'_, str>> {
        None
    }
}

impl Template {
    /// Parses a value. `multi` says whether the rule takes several values (only then is
    /// `@explode` allowed).
    pub fn parse(text: &str, multi: bool) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut explode = false;
        let mut rest = text;
        let mut literal = String::new();
        while let Some(at) = rest.find(['@', '#']) {
            let (before, from) = rest.split_at(at);
            literal.push_str(before);
            let (is_explode, open) = if from.starts_with("@explode{") {
                (true, "@explode{".len())
            } else if from.starts_with("@{") {
                (false, 2)
            } else {
                literal.push_str(&from[..1]);
                rest = &from[1..];
                continue;
            };
            let Some(close) = from[open..].find('}') else {
                return Err(format!("unclosed variable in `{text}`"));
            };
            let name = &from[open..open + close];
            rest = &from[open + close + 1..];
            let var = parse_var(name)?;
            let mut functions = Vec::new();
            if let Some(after) = rest.strip_prefix("#{") {
                let Some(end) = after.find('}') else {
                    return Err(format!("unclosed function list in `{text}`"));
                };
                for function in after[..end].split('.') {
                    functions.push(match function.trim() {
                        "to_lowercase" => Function::ToLowercase,
                        "to_uppercase" => Function::ToUppercase,
                        other => {
                            return Err(format!(
                                "variable function `{other}` is not supported (supported: to_lowercase, to_uppercase)"
                            ))
                        }
                    });
                }
                rest = &after[end + 1..];
            }
            if is_explode {
                if !multi {
                    return Err("@explode is only allowed in rules that take several values".into());
                }
                if explode {
                    return Err("only one @explode is allowed per value".into());
                }
                explode = true;
            }
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Var(var, functions));
        }
        literal.push_str(rest);
        if !literal.is_empty() || parts.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts, explode })
    }

    /// The value itself when it has no variables.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// Whether resolving needs the authenticated user or the verified JWT (the rule runs
    /// after authentication and authorization).
    pub fn needs_user(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Var(Var::User | Var::CurrentGroup | Var::Jwt(_), _)))
    }

    /// Resolves to one or more values (several only with `@explode`). Empty when a variable
    /// cannot be resolved: the rule then does not match (ReadonlyREST behaves the same).
    pub fn resolve<'t>(&'t self, from: &dyn Resolve) -> Vec<Cow<'t, str>> {
        if let Some(text) = self.as_static() {
            return vec![Cow::Borrowed(text)];
        }
        let mut prefix = String::new();
        let mut exploded: Option<(Vec<String>, String)> = None;
        for part in &self.parts {
            // A variable's value, for `piece` to borrow within this iteration.
            let resolved: Cow<str>;
            let piece: Cow<str> = match part {
                Part::Text(text) => Cow::Borrowed(text),
                Part::Var(var, functions) => {
                    let value = match var {
                        Var::User => from.user().map(Cow::Borrowed),
                        Var::Header(name) => from.header(name).map(Cow::Borrowed),
                        Var::CurrentGroup => from.current_group().map(Cow::Borrowed),
                        Var::CertificateDn => from.certificate_dn().map(Cow::Borrowed),
                        Var::Jwt(path) => from.jwt_claim(path),
                    };
                    let Some(value) = value else {
                        return Vec::new();
                    };
                    resolved = value;
                    let value = apply(&resolved, functions);
                    if self.explode && exploded.is_none() {
                        let items = value
                            .split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect();
                        exploded = Some((items, String::new()));
                        continue;
                    }
                    value
                }
            };
            match &mut exploded {
                Some((_, suffix)) => suffix.push_str(&piece),
                None => prefix.push_str(&piece),
            }
        }
        match exploded {
            Some((items, suffix)) => items
                .into_iter()
                .map(|item| Cow::Owned(format!("{prefix}{item}{suffix}")))
                .collect(),
            None => vec![Cow::Owned(prefix)],
        }
    }
}

fn parse_var(name: &str) -> Result<Var, String> {
    let name = name.trim();
    Ok(match name {
        "user" | "acl:user" => Var::User,
        "acl:current_group" => Var::CurrentGroup,
        "acl:certificate_dn" => Var::CertificateDn,
        _ => {
            if let Some(header) = name.strip_prefix("header:") {
                Var::Header(header.trim().to_ascii_lowercase())
            } else if let Some(path) = name.strip_prefix("jwt:") {
                Var::Jwt(ClaimPath::parse(path.trim())?)
            } else if name.starts_with("acl:") || name.starts_with("env:") || name.contains(':') {
                return Err(format!("unknown variable `@{{{name}}}`"));
            } else if name.is_empty() {
                return Err("empty variable `@{}`".to_string());
            } else {
                // Legacy form: `@{X-Header}` reads a header.
                Var::Header(name.to_ascii_lowercase())
            }
        }
    })
}

fn apply<'v>(value: &'v str, functions: &[Function]) -> Cow<'v, str> {
    let mut value = Cow::Borrowed(value);
    for function in functions {
        value = Cow::Owned(match function {
            Function::ToLowercase => value.to_lowercase(),
            Function::ToUppercase => value.to_uppercase(),
        });
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Resolve for Fixed {
        fn user(&self) -> Option<&str> {
            Some("Alice")
        }
        fn header(&self, name: &str) -> Option<&str> {
            match name {
                "x-tenant" => Some("acme"),
                "x-indices" => Some("a, b,,c"),
                _ => None,
            }
        }
        fn current_group(&self) -> Option<&str> {
            None
        }
        fn certificate_dn(&self) -> Option<&str> {
            Some("CN=alice,O=Example")
        }
        fn jwt_claim(&self, path: &ClaimPath) -> Option<Cow<'_, str>> {
            (*path == ClaimPath::parse("org.tenants").unwrap()).then_some(Cow::Borrowed("t1,t2"))
        }
    }

    fn resolve(text: &str) -> Vec<String> {
        Template::parse(text, true)
            .unwrap()
            .resolve(&Fixed)
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn resolves_variables() {
        assert_eq!(resolve("logs-@{user}-*"), ["logs-Alice-*"]);
        assert_eq!(resolve("@{acl:user}#{to_lowercase}_idx"), ["alice_idx"]);
        assert_eq!(resolve("t_@{header:X-Tenant}"), ["t_acme"]);
        assert_eq!(resolve("t_@{x-tenant}"), ["t_acme"]);
        assert_eq!(
            resolve("idx_@explode{header:x-indices}"),
            ["idx_a", "idx_b", "idx_c"]
        );
        assert_eq!(resolve("plain@mail.com"), ["plain@mail.com"]);
        assert!(resolve("@{header:missing}").is_empty());
        assert!(resolve("@{acl:current_group}").is_empty());
        assert_eq!(
            resolve("dn=@{acl:certificate_dn}"),
            ["dn=CN=alice,O=Example"]
        );
        assert_eq!(resolve("x_@{jwt:$.org.tenants}"), ["x_t1,t2"]);
        assert_eq!(resolve("x_@explode{jwt:org.tenants}"), ["x_t1", "x_t2"]);
        assert!(resolve("@{jwt:org.missing}").is_empty());
        assert!(Template::parse("@{jwt:sub}", false).unwrap().needs_user());
        assert!(!Template::parse("@{acl:certificate_dn}", false)
            .unwrap()
            .needs_user());
    }

    #[test]
    fn static_values_need_nothing() {
        let t = Template::parse("logs-*", true).unwrap();
        assert_eq!(t.as_static(), Some("logs-*"));
        assert!(!t.needs_user());
        assert!(Template::parse("@{user}", false).unwrap().needs_user());
        assert!(!Template::parse("@{header:x}", false).unwrap().needs_user());
    }

    #[test]
    fn rejects_what_it_cannot_do() {
        for bad in [
            "@{jwt:a[0]}",
            "@{jwt:}",
            "@{acl:nothing}",
            "@{user",
            "@explode{user}",
            "@{user}#{replace_all(\"a\",\"b\")}",
        ] {
            assert!(Template::parse(bad, false).is_err(), "{bad}");
        }
        assert!(Template::parse("@explode{header:a}@explode{header:b}", true).is_err());
    }
}
