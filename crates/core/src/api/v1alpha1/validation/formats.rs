//! Formats a type cannot say: Go durations, Kubernetes names, digests, and their messages.

/// A Go duration as Flux's `metav1.Duration` reads it, without sign: one or more
/// `<number><unit>`, the number with an optional fraction (`1.5h`).
pub fn is_go_duration(text: &str) -> bool {
    const UNITS: [&str; 8] = ["ns", "us", "µs", "μs", "ms", "h", "m", "s"];
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        if let Some(fraction) = rest.strip_prefix('.') {
            let fraction_digits = fraction.len()
                - fraction
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .len();
            if fraction_digits == 0 {
                return false;
            }
            rest = &fraction[fraction_digits..];
        }
        // Two-letter units first, so "ms" is not read as "m" followed by "s".
        let Some(unit) = UNITS.iter().find(|unit| rest.starts_with(**unit)) else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

/// A Kubernetes object name (RFC 1123 subdomain).
pub fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253
        && text.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

pub(super) fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

pub(super) fn label_message(name: &str) -> String {
    format!(
        "{name:?} is not a valid namespace name: lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit"
    )
}

pub(super) fn subdomain_message(name: &str) -> String {
    format!(
        "{name:?} is not a valid name: lowercase letters, digits, '-' and '.', at most 253 characters, starting and ending with a letter or digit"
    )
}
