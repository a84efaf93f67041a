//! The port route, the platform-free part: which of a client's request headers reach the app.
//! The API token never does (the app is the session's code), nor do the hop-by-hop headers, the
//! platform's own (`cf-*`) or the runtime's (`x-edgerun-*`); the host is the app's own.

/// Whether a request header of the client goes on to the app.
pub fn forwardable(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !matches!(
        n.as_str(),
        "authorization"
            | "host"
            | "content-length"
            | "connection"
            | "keep-alive"
            | "proxy-authorization"
            | "proxy-authenticate"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    ) && !n.starts_with("cf-")
        && !n.starts_with("x-edgerun-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_and_the_runtimes_headers_stay_behind() {
        for h in
            ["Authorization", "host", "x-edgerun-secret", "X-Edgerun-Target", "cf-connecting-ip", "Transfer-Encoding", "content-length"]
        {
            assert!(!forwardable(h), "{h}");
        }
        for h in ["content-type", "accept", "cookie", "x-requested-with", "user-agent"] {
            assert!(forwardable(h), "{h}");
        }
    }
}
