//! Which `Host` and `Origin` values the HTTP server answers: the defence against DNS
//! rebinding (a page on another site that resolves its own name to 127.0.0.1) and
//! against web pages calling a local server from the user's browser.

use std::net::IpAddr;

/// The `Host` (or HTTP/2 `:authority`) or `Origin` values a server answers; see
/// [`super::HttpConfig::allowed_hosts`] and [`super::HttpConfig::allowed_origins`].
///
/// Names compare without regard to case; an entry without a port allows every
/// port, one with a port only that port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Allowlist {
    /// Every value.
    #[default]
    Any,
    /// Loopback names only: `localhost`, `127.0.0.0/8`, `[::1]`, on any port (and,
    /// for origins, over `http` or `https`).
    Loopback,
    /// These values only: hosts as `name` or `name:port` (`api.example.com`,
    /// `127.0.0.1:8080`), origins as `scheme://name` or `scheme://name:port`
    /// (`https://app.example.com`).
    Only(Vec<String>),
}

impl Allowlist {
    /// Allows only `values`.
    pub fn only<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Allowlist::Only(values.into_iter().map(Into::into).collect())
    }

    /// Whether a request to `authority` (`name[:port]`) is answered.
    pub(crate) fn allows_host(&self, authority: &str) -> bool {
        match self {
            Allowlist::Any => true,
            Allowlist::Loopback => is_loopback(split_port(authority).0),
            Allowlist::Only(entries) => entries.iter().any(|e| same_authority(e, authority)),
        }
    }

    /// Whether a request sent from the page at `origin` (`scheme://name[:port]`, or
    /// `null`) is answered.
    pub(crate) fn allows_origin(&self, origin: &str) -> bool {
        match self {
            Allowlist::Any => true,
            Allowlist::Loopback => match origin.split_once("://") {
                Some((scheme, authority)) => {
                    (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
                        && is_loopback(split_port(authority).0)
                }
                None => false,
            },
            Allowlist::Only(entries) => entries.iter().any(|entry| {
                match (entry.split_once("://"), origin.split_once("://")) {
                    (Some((s1, a1)), Some((s2, a2))) => {
                        s1.eq_ignore_ascii_case(s2) && same_authority(a1, a2)
                    }
                    _ => entry.eq_ignore_ascii_case(origin),
                }
            }),
        }
    }
}

/// Whether `authority` is what `entry` allows: the same name, and the same port
/// unless the entry names none.
fn same_authority(entry: &str, authority: &str) -> bool {
    let (entry_name, entry_port) = split_port(entry.trim_end_matches('/'));
    let (name, port) = split_port(authority);
    entry_name.eq_ignore_ascii_case(name) && (entry_port.is_none() || entry_port == port)
}

/// `name[:port]` into its name (brackets of an IPv6 address removed) and port.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((name, after)) => (name, after.strip_prefix(':')),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (name, Some(port))
        }
        _ => (authority, None),
    }
}

fn is_loopback(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::Allowlist;

    #[test]
    fn loopback_hosts_and_origins() {
        let loopback = Allowlist::Loopback;
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1:1",
            "127.1.2.3",
            "[::1]:9",
            "[::1]",
        ] {
            assert!(loopback.allows_host(host), "{host}");
        }
        for host in [
            "example.com",
            "127.0.0.1.evil.com",
            "localhost.evil.com:80",
            "[::2]:9",
            "",
        ] {
            assert!(!loopback.allows_host(host), "{host}");
        }
        for origin in [
            "http://localhost:3000",
            "https://127.0.0.1",
            "http://[::1]:5173",
        ] {
            assert!(loopback.allows_origin(origin), "{origin}");
        }
        for origin in [
            "null",
            "http://evil.com",
            "file://localhost",
            "http://localhost.evil.com",
        ] {
            assert!(!loopback.allows_origin(origin), "{origin}");
        }
    }

    #[test]
    fn listed_hosts_and_origins_with_and_without_ports() {
        let hosts = Allowlist::only(["api.example.com", "127.0.0.1:8080"]);
        assert!(hosts.allows_host("API.example.com:443"));
        assert!(hosts.allows_host("127.0.0.1:8080"));
        assert!(!hosts.allows_host("127.0.0.1:8081"));
        assert!(!hosts.allows_host("example.com"));

        let origins = Allowlist::only(["https://app.example.com", "http://localhost:3000"]);
        assert!(origins.allows_origin("https://app.example.com"));
        assert!(origins.allows_origin("https://app.example.com:8443"));
        assert!(!origins.allows_origin("http://app.example.com"));
        assert!(origins.allows_origin("http://localhost:3000"));
        assert!(!origins.allows_origin("http://localhost:3001"));
        assert!(!origins.allows_origin("null"));
        assert!(Allowlist::Any.allows_origin("null"));
    }
}
