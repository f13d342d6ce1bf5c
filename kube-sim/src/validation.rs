//! Object name validation with upstream messages.
use crate::status::FieldError;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// How a resource validates `metadata.name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    Subdomain,
    Label,
    PathSegment,
}

pub fn rule_for(storage: &str) -> NameRule {
    match storage {
        "/namespaces" | "/services" => NameRule::Label,
        s if s.starts_with("rbac.authorization.k8s.io/") => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

fn quoted(name: &str) -> String {
    serde_json::to_string(name).unwrap_or_default()
}

/// Validate a name; returns field errors for `metadata.name`.
pub fn validate_name(name: &str, rule: NameRule) -> Vec<FieldError> {
    let f = "metadata.name";
    let mut errs = Vec::new();
    match rule {
        NameRule::Subdomain => {
            if name.len() > 253 {
                errs.push(FieldError::invalid(
                    f,
                    &quoted(name),
                    "must be no more than 253 characters",
                ));
            }
            if !name.split('.').all(is_label) {
                errs.push(FieldError::invalid(f, &quoted(name), SUBDOMAIN_MSG));
            }
        }
        NameRule::Label => {
            if name.len() > 63 {
                errs.push(FieldError::invalid(
                    f,
                    &quoted(name),
                    "must be no more than 63 characters",
                ));
            }
            if !is_label(name) {
                errs.push(FieldError::invalid(f, &quoted(name), LABEL_MSG));
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                errs.push(FieldError::invalid(f, &quoted(name), &format!("may not be '{name}'")));
            }
            for bad in ["/", "%"] {
                if name.contains(bad) {
                    errs.push(FieldError::invalid(
                        f,
                        &quoted(name),
                        &format!("may not contain '{bad}'"),
                    ));
                }
            }
        }
    }
    errs
}

/// `generateName` suffix alphabet and length as upstream (`names.SimpleNameGenerator`).
pub fn generate_name(base: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let base = if base.len() > 58 { &base[..58] } else { base };
    let suffix: String = (0..5)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect();
    format!("{base}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("qwen-code-lora", NameRule::Subdomain).is_empty());
        assert!(validate_name("a.b-c", NameRule::Subdomain).is_empty());
        let e = validate_name("Bad_Name", NameRule::Subdomain);
        assert_eq!(e.len(), 1);
        assert!(e[0]
            .to_string()
            .starts_with("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
        assert!(!validate_name("a.b", NameRule::Label).is_empty());
        assert!(validate_name("system:controller:x", NameRule::PathSegment).is_empty());
        let g = generate_name("web-");
        assert_eq!(g.len(), 9);
        assert!(validate_name(&g, NameRule::Subdomain).is_empty());
    }
}
