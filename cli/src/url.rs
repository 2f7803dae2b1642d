//! `--url`: the circle's WebSocket URL, in the forms people write it.
//!
//! The rules are the web console's: `ws://HOST:PORT` as it is, `http://` means `ws://`
//! (the console page and the WebSocket share the circle's port), and a bare `HOST:PORT`
//! means `ws://HOST:PORT`; `wss://` as it is, and `https://` means `wss://` (TLS, e.g. a
//! proxy in front of the circle; certificates are checked against the system's roots). Any
//! other scheme, or something that is not a URL, is refused with what to write instead.

/// The URL to connect to for `text`, or why it is not one (a sentence for `error: …`).
pub fn circle_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the URL is empty: write ws://HOST:PORT, e.g. ws://127.0.0.1:9101".into());
    }
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, text),
    };
    let url = match scheme.as_deref() {
        Some("ws") => format!("ws://{rest}"),
        Some("http") => format!("ws://{rest}"),
        Some("wss" | "https") => format!("wss://{rest}"),
        Some(other) => {
            return Err(format!(
                "{other}:// is not a circle URL: a circle listens on ws://HOST:PORT (http:// \
                 and a bare HOST:PORT mean the same; wss:// or https:// through TLS), e.g. \
                 ws://127.0.0.1:9101"
            ));
        }
        None => {
            if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "{text} is a port, not a URL: write ws://HOST:{text}, e.g. ws://127.0.0.1:{text}"
                ));
            }
            if !has_port(rest) {
                return Err(format!(
                    "{text} has no port: write ws://HOST:PORT, e.g. ws://{}:9101",
                    authority(rest)
                ));
            }
            format!("ws://{rest}")
        }
    };
    let host = authority(url.split_once("://").map_or("", |(_, rest)| rest));
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    if host.is_empty() || host.starts_with(':') || url.chars().any(char::is_whitespace) {
        return Err(format!(
            "{text} is not a URL with a host: write ws://HOST:PORT, e.g. ws://127.0.0.1:9101"
        ));
    }
    if let Some(port) = port(host)
        && port.parse::<u16>().is_err()
    {
        return Err(format!(
            "{text}: the port {port:?} is not a number from 0 to 65535"
        ));
    }
    Ok(url)
}

/// `host:port` of `host:port/path?query`.
fn authority(rest: &str) -> &str {
    rest.split(['/', '?', '#']).next().unwrap_or_default()
}

/// The port part of an authority (`[::1]:9101`, `host:9101`), if it has one.
fn port(authority: &str) -> Option<&str> {
    let (before, port) = authority.rsplit_once(':')?;
    // `[::1]` alone: the colons are the address's.
    if before.starts_with('[') && !before.ends_with(']') {
        return None;
    }
    Some(port)
}

fn has_port(rest: &str) -> bool {
    port(authority(rest)).is_some_and(|port| !port.is_empty())
}

#[cfg(test)]
mod tests {
    use super::circle_url;

    #[test]
    fn the_consoles_forms_are_accepted() {
        for (given, url) in [
            ("ws://127.0.0.1:9101", "ws://127.0.0.1:9101"),
            ("WS://127.0.0.1:9101", "ws://127.0.0.1:9101"),
            ("http://127.0.0.1:9101", "ws://127.0.0.1:9101"),
            ("http://127.0.0.1:9101/", "ws://127.0.0.1:9101/"),
            ("127.0.0.1:9101", "ws://127.0.0.1:9101"),
            (" localhost:9101 ", "ws://localhost:9101"),
            ("[::1]:9101", "ws://[::1]:9101"),
            ("ws://circle.example", "ws://circle.example"),
            ("https://circle.example", "wss://circle.example"),
            ("wss://circle.example:443", "wss://circle.example:443"),
        ] {
            assert_eq!(circle_url(given).as_deref(), Ok(url), "{given}");
        }
    }

    #[test]
    fn other_forms_are_refused_with_what_to_write() {
        for (given, hint) in [
            ("ftp://127.0.0.1:9101", "ftp:// is not a circle URL"),
            ("9101", "is a port, not a URL"),
            ("localhost", "has no port"),
            ("[::1]", "has no port"),
            ("", "empty"),
            ("ws://", "not a URL with a host"),
            ("ws://:9101", "not a URL with a host"),
            ("http://a b:1", "not a URL with a host"),
            ("127.0.0.1:99999", "not a number"),
            ("127.0.0.1:", "has no port"),
        ] {
            let error = circle_url(given).expect_err(given);
            assert!(error.contains(hint), "{given}: {error}");
            assert!(
                error.contains("ws://") || error.contains("port"),
                "{given}: {error}"
            );
        }
    }
}
