//! Where a granted request may go: the host name resolved here, on the
//! host, and each address judged public or not ([`is_public`]), so that a
//! DNS answer cannot open the internal network.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use wasmtime_wasi_http::Error as HttpError;

/// Whether an address is on the public internet. Loopback, private
/// (RFC 1918, unique-local), link-local, shared (CGNAT), unspecified,
/// broadcast, multicast, documentation, benchmarking, reserved and the other
/// IANA special-purpose ranges (6to4, Teredo, discard-only, SRv6…) are not;
/// an IPv4-mapped or NAT64 IPv6 address is judged by its IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let segments = v6.segments();
            // 64:ff9b::/96, NAT64 of an IPv4 address.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = segments[6].to_be_bytes();
                let [c, d] = segments[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            let [first, second, third, fourth, ..] = segments;
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (first == 0x2001 && second == 0x0db8) // documentation 2001:db8::/32
                || (first == 0x2001 && second < 0x0200) // IETF protocol assignments 2001::/23 (Teredo, ORCHID…)
                || first == 0x2002 // 6to4 2002::/16: carries any IPv4 address
                || (first == 0x0064 && second == 0xff9b && third == 0x0001) // local-use NAT64 64:ff9b:1::/48
                || (first == 0x0100 && second == 0 && third == 0 && fourth == 0) // discard-only 100::/64
                || (first == 0x3fff && second < 0x1000) // documentation 3fff::/20
                || first == 0x5f00 // SRv6 segment identifiers 5f00::/16
                || segments[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// Every address of the target (an IP literal is its own answer).
pub(super) async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, HttpError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let lookup = tokio::net::lookup_host((host, port));
    let addresses: Vec<SocketAddr> = match tokio::time::timeout(DNS_TIMEOUT, lookup).await {
        Ok(Ok(addresses)) => addresses.collect(),
        Ok(Err(error)) => {
            return Err(HttpError::DnsError {
                rcode: Some(error.to_string()),
                info_code: None,
            });
        }
        Err(_) => return Err(HttpError::DnsTimeout),
    };
    if addresses.is_empty() {
        return Err(HttpError::DestinationNotFound);
    }
    Ok(addresses)
}

const DNS_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "140.82.112.6",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
