//! Which `Host` names the dashboard answers to. A page on another site whose DNS name is rebound
//! to this machine reaches the dashboard under that site's name, so any name not listed is
//! refused: `localhost` and IP addresses with the served port (an address cannot be rebound),
//! and the names given with `ledger serve --allow-host` (with any port: a reverse proxy's).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The names the dashboard answers to.
#[derive(Clone, Debug)]
pub struct AllowedHosts {
    port: u16,
    /// Lower-case names from `--allow-host`.
    names: Vec<String>,
}

impl AllowedHosts {
    /// `names` are those given with `--allow-host` (host names, without a port); a name that is
    /// not a host name is refused with the reason. The port is set by [`AllowedHosts::on_port`].
    pub fn new(names: &[String]) -> Result<AllowedHosts, String> {
        let mut allowed = Vec::new();
        for name in names {
            let valid = !name.is_empty()
                && name.len() <= 253
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !valid {
                return Err(format!(
                    "--allow-host {name:?} is not a host name: give a DNS name such as ledger.example.com, without a port"
                ));
            }
            allowed.push(name.to_ascii_lowercase());
        }
        Ok(AllowedHosts { port: 0, names: allowed })
    }

    /// The same names, for a dashboard served on `port`.
    pub fn on_port(self, port: u16) -> AllowedHosts {
        AllowedHosts { port, ..self }
    }

    /// Whether a request with this `Host` header is answered.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let (name, port) = split_port(&host);
        if self.names.iter().any(|allowed| *allowed == name) {
            return port.is_none_or(|port| port.parse::<u16>().is_ok());
        }
        let served_port = match port {
            Some(port) => port.parse::<u16>().ok() == Some(self.port),
            None => self.port == 80,
        };
        let address = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(name);
        served_port && (name == "localhost" || address.parse::<IpAddr>().is_ok())
    }
}

/// `name[:port]`, where an IPv6 address is in brackets.
fn split_port(host: &str) -> (&str, Option<&str>) {
    let after_name = if host.starts_with('[') { host.find(']').map_or(host.len(), |end| end + 1) } else { 0 };
    match host[after_name..].rfind(':') {
        Some(colon) => (&host[..after_name + colon], Some(&host[after_name + colon + 1..])),
        None => (host, None),
    }
}

/// Answers 421 to a request whose `Host` is not allowed (or missing), before any route.
pub async fn check(State(hosts): State<Arc<AllowedHosts>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|value| value.to_str().ok());
    if host.is_some_and(|host| hosts.allows(host)) {
        return next.run(request).await;
    }
    let text =
        "this dashboard does not answer to that host name; `ledger serve --allow-host <name>` adds one\n";
    (StatusCode::MISDIRECTED_REQUEST, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::AllowedHosts;

    #[test]
    fn loopback_names_and_addresses_with_the_port_and_allowed_names_with_any() {
        let hosts = AllowedHosts::new(&["Ledger.example.com".into()]).unwrap().on_port(8080);
        for allowed in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
            "10.1.2.3:8080",
            "ledger.example.com",
            "ledger.example.com:443",
        ] {
            assert!(hosts.allows(allowed), "{allowed}");
        }
        for refused in [
            "attacker.example:8080",
            "localhost",
            "localhost:80",
            "127.0.0.1:8081",
            "localhost.attacker.example:8080",
            "[::1]",
            "ledger.example.com:x",
            "",
            "[::1:8080",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
        assert!(AllowedHosts::new(&[]).unwrap().on_port(80).allows("localhost"));
        assert!(AllowedHosts::new(&["a b".into()]).is_err());
        assert!(AllowedHosts::new(&["host:8080".into()]).is_err());
    }
}
