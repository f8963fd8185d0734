//! Git repository URLs: which form a URL has.

/// The scheme of a Git URL: `https`, `http`, `ssh`, or `scp` for `user@host:path`.
pub fn url_scheme(url: &str) -> Option<&'static str> {
    if url.starts_with("https://") {
        Some("https")
    } else if url.starts_with("http://") {
        Some("http")
    } else if url.starts_with("ssh://") {
        Some("ssh")
    } else if let Some((user_host, repo)) = url.split_once(':')
        && user_host.contains('@')
        && !user_host.contains('/')
        && !repo.is_empty()
    {
        Some("scp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_schemes() {
        assert_eq!(url_scheme("git@github.com:org/repo.git"), Some("scp"));
        assert_eq!(url_scheme("ssh://git@host:2222/org/repo.git"), Some("ssh"));
        assert_eq!(url_scheme("https://host/org/repo"), Some("https"));
        assert_eq!(url_scheme("ftp://host/x"), None);
        assert_eq!(url_scheme("/srv/git/repo"), None);
    }
}
