//! The client's address as the per-address rate limit sees it: the connection's peer,
//! or, when the peer is a reverse proxy named in `PRESENCE_TRUSTED_PROXIES`, the address
//! that the proxies in front of this service recorded in `X-Forwarded-For`.
//!
//! Only the right end of `X-Forwarded-For` is believed: each trusted proxy appends the
//! address it was connected from, so reading from the right and stopping at the first
//! address that is not a trusted proxy gives the real client, whatever a client put at
//! the left end to pass for someone else.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The networks whose connections are reverse proxies of this service's own.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    /// The address of the client a request is from.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut nearest = peer.to_canonical();
        if !self.trusts(nearest) {
            return nearest;
        }
        // A proxy joins the values of several headers in order, so they read as one list.
        let hops = headers.get_all(X_FORWARDED_FOR).flat_map(|value| value.to_str().unwrap_or("").split(','));
        for hop in hops.collect::<Vec<_>>().into_iter().rev() {
            // A trusted proxy writes addresses; anything else came from further left,
            // where nothing can be believed, so the last proxy is as far as it goes.
            let Ok(address) = hop.trim().parse::<IpAddr>() else { return nearest };
            nearest = address.to_canonical();
            if !self.trusts(nearest) {
                return nearest;
            }
        }
        nearest
    }

    /// Whether a canonical address (an IPv4 client as IPv4, not IPv4-mapped) is a proxy's.
    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }
}

/// A network (`10.0.0.0/8`, `fd00::/8`) or a single address, as `PRESENCE_TRUSTED_PROXIES`
/// lists them.
pub fn parse_network(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{raw:?} is neither an address nor a network like 10.0.0.0/8 or fd00::/8"))
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn proxies(networks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(networks.iter().map(|raw| parse_network(raw).unwrap()).collect())
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_FORWARDED_FOR.parse().unwrap(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn client(trusted: &TrustedProxies, peer: &str, values: &[&str]) -> String {
        trusted.client_address(peer.parse().unwrap(), &forwarded(values)).to_string()
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        assert_eq!(client(&TrustedProxies::default(), "10.0.0.1", &["203.0.113.9"]), "10.0.0.1");
        assert_eq!(client(&proxies(&["10.0.0.0/8"]), "198.51.100.7", &["203.0.113.9"]), "198.51.100.7");
    }

    #[test]
    fn the_client_is_the_first_address_from_the_right_that_is_not_a_proxy() {
        let trusted = proxies(&["10.0.0.0/8", "fd00::/8"]);
        assert_eq!(client(&trusted, "10.0.0.1", &["203.0.113.9"]), "203.0.113.9");
        assert_eq!(client(&trusted, "10.0.0.1", &["1.1.1.1, 203.0.113.9, 10.0.0.2"]), "203.0.113.9", "forged left end");
        assert_eq!(client(&trusted, "10.0.0.1", &["1.1.1.1", "203.0.113.9 , 10.0.0.2"]), "203.0.113.9", "two headers");
        assert_eq!(client(&trusted, "fd00::1", &["2001:db8::5"]), "2001:db8::5");
        assert_eq!(client(&trusted, "::ffff:10.0.0.1", &["::ffff:203.0.113.9"]), "203.0.113.9", "mapped IPv4");
    }

    #[test]
    fn without_a_believable_client_the_farthest_proxy_is_it() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(client(&trusted, "10.0.0.1", &[]), "10.0.0.1", "no header");
        assert_eq!(client(&trusted, "10.0.0.1", &["10.0.0.3, 10.0.0.2"]), "10.0.0.3", "all proxies");
        assert_eq!(client(&trusted, "10.0.0.1", &["1.1.1.1, junk, 10.0.0.2"]), "10.0.0.2", "not an address");
        assert_eq!(client(&trusted, "10.0.0.1", &["203.0.113.9:4711"]), "10.0.0.1", "ports are not written");
    }

    #[test]
    fn networks_and_single_addresses_are_accepted() {
        assert_eq!(parse_network(" 10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_network("127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert_eq!(parse_network("::1").unwrap().to_string(), "::1/128");
        for bad in ["", "10.0.0.0/33", "localhost", "*"] {
            assert!(parse_network(bad).unwrap_err().contains("10.0.0.0/8"), "{bad}");
        }
    }
}
