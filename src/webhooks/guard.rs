//! The SSRF guard: outbound webhooks go to addresses a subscriber typed in, so without a guard an
//! admin-API user could make speedlead POST into its own network (Redis on loopback, the cloud's
//! metadata service on 169.254.169.254, a private admin panel). Loopback, private, link-local and
//! the other non-public ranges are refused unless `webhooks.allow_private_networks` is set (tests,
//! on-premises receivers).
//!
//! The check runs where the connection is made: names are resolved by [`GuardedResolver`], which
//! hands reqwest only the addresses it checked, so a name that resolves to a public address when
//! validated and to 127.0.0.1 when connecting (DNS rebinding) is still refused. Addresses written
//! as IP literals never reach a resolver, so [`check_url`] checks them before the request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Why an address is refused, for the dead letter and the admin API.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => refusal_v4(v4),
            None => refusal_v6(v6),
        },
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || a == 0 {
        Some("not a unicast host")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if (a, b, c) == (192, 0, 0) || (a == 198 && (b == 18 || b == 19)) || a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // IPv4 inside IPv6 by translation (NAT64 64:ff9b::/96, 6to4 2002::/16, the old IPv4-compatible
    // ::/96): the IPv4 address inside decides.
    let embedded = match segments {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some((hi, lo)),
        // Not :: and ::1, which are their own cases below.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some((hi, lo)),
        [0x2002, hi, lo, ..] => Some((hi, lo)),
        _ => None,
    };
    if let Some((hi, lo)) = embedded {
        let v4 = Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
        return refusal_v4(v4);
    }
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unique_local() {
        Some("private")
    } else if ip.is_unicast_link_local() || (segments[0] & 0xffc0) == 0xfec0 {
        Some("link-local")
    } else if ip.is_unspecified() || ip.is_multicast() {
        Some("not a unicast host")
    } else {
        None
    }
}

/// Refuses a URL that is not http(s), or whose host is an IP literal in a refused range (unless
/// `allow_private`). Names are checked when they resolve ([`GuardedResolver`]).
pub fn check_url(url: &str, allow_private: bool) -> Result<Url, String> {
    let url = Url::parse(url.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme {} is not http(s)", url.scheme()));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(_)) => return Ok(url),
        None => return Err("the URL has no host".into()),
    };
    match refusal(ip).filter(|_| !allow_private) {
        Some(why) => Err(format!("{ip} is {why}; set webhooks.allow_private_networks to allow it")),
        None => Ok(url),
    }
}

/// Resolves with the system resolver and keeps only the addresses the guard allows.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                resolved.iter().copied().filter(|a| allow_private || refusal(a.ip()).is_none()).collect();
            if allowed.is_empty() {
                let why = resolved.first().and_then(|a| refusal(a.ip())).unwrap_or("unresolvable");
                return Err(format!("{host} resolves only to refused addresses ({why})").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_are_refused_and_public_ones_pass() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "::7f00:1",
            "fec0::1",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
        ] {
            assert!(refusal(internal.parse().unwrap()).is_some(), "{internal} must be refused");
        }
        for public in ["93.184.216.34", "1.1.1.1", "100.128.0.1", "2606:4700::1111"] {
            assert_eq!(refusal(public.parse().unwrap()), None, "{public} is public");
        }
    }

    #[test]
    fn ip_literals_are_checked_before_any_request_and_names_pass_to_the_resolver() {
        let err = check_url("http://169.254.169.254/latest/meta-data", false).unwrap_err();
        assert!(err.contains("link-local") && err.contains("allow_private_networks"), "{err}");
        assert!(check_url("http://[::1]:8080/hook", false).is_err());
        assert!(check_url("http://127.0.0.1:8080/hook", true).is_ok(), "allowed explicitly");
        assert!(check_url("https://hooks.example.com/in", false).is_ok());
        assert!(check_url("ftp://example.com/x", false).unwrap_err().contains("scheme"));
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_at_connect_time() {
        let refused =
            GuardedResolver { allow_private: false }.resolve("localhost".parse::<Name>().unwrap()).await;
        let error = refused.err().expect("localhost is loopback").to_string();
        assert!(error.contains("refused addresses"), "{error}");
        let allowed =
            GuardedResolver { allow_private: true }.resolve("localhost".parse::<Name>().unwrap()).await;
        assert!(allowed.expect("allowed explicitly").any(|a| a.ip().is_loopback()));
    }
}
