//! Differential tests of the outbound checks, against references:
//! [`is_public`] against the IANA special-purpose address registries
//! written as `ipnet` networks (an address is public when no block of
//! them, nor multicast, holds it; an IPv4-mapped or NAT64 address is judged
//! by its IPv4 address), and the host rules ([`HostRule`]) against the
//! `url` crate's reading of the same scheme, host and port.
//!
//! 256 cases each by default; `PROPTEST_CASES=N` runs more. A disagreement
//! found is kept as a named regression test at the end of this file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

use super::address::is_public;
use super::grant::{HostRule, OutboundGrant};

/// The IPv4 blocks that are not public: IANA's IPv4 special-purpose
/// registry (every entry, globally reachable or not: Weir is stricter than
/// the registry about the few anycast exceptions inside them), multicast
/// and the limited broadcast address.
const NOT_PUBLIC_V4: &[&str] = &[
    "0.0.0.0/8",       // "this network"
    "10.0.0.0/8",      // private
    "100.64.0.0/10",   // shared address space (CGNAT)
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link-local
    "172.16.0.0/12",   // private
    "192.0.0.0/24",    // IETF protocol assignments
    "192.0.2.0/24",    // documentation (TEST-NET-1)
    "192.88.99.0/24",  // 6to4 relay anycast (deprecated)
    "192.168.0.0/16",  // private
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // documentation (TEST-NET-2)
    "203.0.113.0/24",  // documentation (TEST-NET-3)
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
];

/// The IPv6 blocks that are not public (IANA's IPv6 special-purpose
/// registry, multicast, the deprecated site-local and IPv4-compatible
/// forms). `::ffff:0:0/96` and `64:ff9b::/96` are judged by the IPv4
/// address they carry, apart.
const NOT_PUBLIC_V6: &[&str] = &[
    "::/96",          // unspecified, loopback, IPv4-compatible (deprecated)
    "64:ff9b:1::/48", // local-use IPv4/IPv6 translation
    "100::/64",       // discard-only
    "2001::/23",      // IETF protocol assignments (Teredo, benchmarking, ORCHID…)
    "2001:db8::/32",  // documentation
    "2002::/16",      // 6to4 (carries an IPv4 address; deprecated)
    "3fff::/20",      // documentation
    "5f00::/16",      // segment routing (SRv6) SIDs
    "fc00::/7",       // unique local
    "fe80::/10",      // link-local
    "fec0::/10",      // site-local (deprecated)
    "ff00::/8",       // multicast
];

fn blocks<N: std::str::FromStr>(texts: &[&str]) -> Vec<N>
where
    N::Err: std::fmt::Debug,
{
    texts
        .iter()
        .map(|text| text.parse().expect("a network of the table"))
        .collect()
}

/// The reference: whether `ip` is public by the tables above.
fn public_by_table(ip: IpAddr) -> bool {
    let v4: Vec<Ipv4Net> = blocks(NOT_PUBLIC_V4);
    let v6: Vec<Ipv6Net> = blocks(NOT_PUBLIC_V6);
    let public_v4 = |v4_ip: Ipv4Addr| !v4.iter().any(|net| net.contains(&v4_ip));
    match ip {
        IpAddr::V4(ip) => public_v4(ip),
        IpAddr::V6(ip) => {
            let mapped: Ipv6Net = "::ffff:0:0/96".parse().expect("a network");
            let nat64: Ipv6Net = "64:ff9b::/96".parse().expect("a network");
            if mapped.contains(&ip) || nat64.contains(&ip) {
                let [.., a, b, c, d] = ip.octets();
                return public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !v6.iter().any(|net| net.contains(&ip))
        }
    }
}

/// Addresses near the edges of every block of the tables (and of the
/// mapped and NAT64 prefixes), and anywhere at all.
fn address() -> impl Strategy<Value = IpAddr> {
    let mut edges: Vec<IpNet> = blocks::<IpNet>(NOT_PUBLIC_V4);
    edges.extend(blocks::<IpNet>(NOT_PUBLIC_V6));
    edges.extend(blocks::<IpNet>(&["::ffff:0:0/96", "64:ff9b::/96"]));
    let near_edge = (proptest::sample::select(edges), any::<bool>(), 0u8..=255).prop_map(
        |(net, below, step)| match net {
            IpNet::V4(net) => {
                let edge = if below {
                    u32::from(net.network()).wrapping_sub(u32::from(step))
                } else {
                    u32::from(net.broadcast()).wrapping_add(u32::from(step))
                };
                IpAddr::V4(Ipv4Addr::from(edge))
            }
            IpNet::V6(net) => {
                let edge = if below {
                    u128::from(net.network()).wrapping_sub(u128::from(step))
                } else {
                    u128::from(net.broadcast()).wrapping_add(u128::from(step))
                };
                IpAddr::V6(Ipv6Addr::from(edge))
            }
        },
    );
    let mapped = any::<u32>().prop_map(|v4| IpAddr::V6(Ipv4Addr::from(v4).to_ipv6_mapped()));
    let nat64 = any::<u32>()
        .prop_map(|v4| IpAddr::V6(Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(v4))));
    prop_oneof![
        3 => near_edge,
        2 => any::<u32>().prop_map(|v4| IpAddr::V4(Ipv4Addr::from(v4))),
        2 => any::<u128>().prop_map(|v6| IpAddr::V6(Ipv6Addr::from(v6))),
        1 => mapped,
        1 => nat64,
    ]
}

/// A host name as an operator or a URL may write it.
fn host_name() -> impl Strategy<Value = String> {
    prop_oneof![
        // Labels start with a letter: a name of digits alone ("123.45",
        // "0x7f.1") is an IPv4 address to the url crate and to the
        // resolver, and is judged by `is_public` once resolved.
        4 => proptest::collection::vec("[a-zA-Z][a-zA-Z0-9-]{0,6}", 1..4)
            .prop_map(|labels| labels.join(".")),
        1 => any::<u32>().prop_map(|v4| Ipv4Addr::from(v4).to_string()),
        1 => proptest::sample::select(vec!["example.com", "a.example.com", "b.a.example.com", "xample.com"])
            .prop_map(str::to_owned),
    ]
}

/// The reference reading of a request or a rule: the `url` crate's host
/// (lower case, normalised) and port (or the scheme's default).
fn url_target(scheme: &str, host: &str, port: Option<u16>) -> Option<(String, u16)> {
    let authority = match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let url = url::Url::parse(&format!("{scheme}://{authority}/")).ok()?;
    Some((url.host_str()?.to_owned(), url.port_or_known_default()?))
}

proptest! {
    #[test]
    fn is_public_agrees_with_the_special_purpose_registries(ip in address()) {
        prop_assert_eq!(is_public(ip), public_by_table(ip), "{}", ip);
    }

    #[test]
    fn host_rules_match_as_the_url_crate_reads_them(
        rule_host in host_name(),
        rule_port in proptest::option::of(prop_oneof![Just(443u16), Just(80), Just(8443), any::<u16>()]),
        rule_scheme in proptest::option::of(proptest::sample::select(vec!["http", "https"])),
        wildcard in proptest::bool::weighted(0.2),
        request_host in host_name(),
        request_port in prop_oneof![Just(443u16), Just(80), Just(8443), any::<u16>()],
        request_scheme in proptest::sample::select(vec!["http", "https"]),
    ) {
        let written = format!(
            "{}{}{}{}",
            rule_scheme.map(|s| format!("{s}://")).unwrap_or_default(),
            if wildcard { "*." } else { "" },
            rule_host,
            rule_port.map(|p| format!(":{p}")).unwrap_or_default(),
        );
        let Ok(rule) = HostRule::parse(&written) else {
            // A wildcard over an IP address is refused; nothing else here is.
            prop_assert!(wildcard && rule_host.parse::<IpAddr>().is_ok(), "{} refused", written);
            return Ok(());
        };
        let reparsed = HostRule::parse(&rule.to_string());
        prop_assert_eq!(reparsed.as_ref(), Ok(&rule), "{}", written);
        let Some((host, port)) = url_target(request_scheme, &request_host, Some(request_port)) else {
            return Ok(());
        };
        let grant = OutboundGrant { hosts: vec![rule], ..OutboundGrant::default() };
        let ours = grant.allows(request_scheme, &host, port);
        let scheme_ok = rule_scheme.is_none_or(|scheme| scheme == request_scheme);
        let (rule_name, rule_port) =
            url_target(request_scheme, &rule_host, rule_port).expect("a rule's host is a URL host");
        let host_ok = if wildcard {
            host.strip_suffix(&rule_name).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
        } else {
            host == rule_name
        };
        prop_assert_eq!(ours, scheme_ok && host_ok && port == rule_port, "rule {} request {}://{}:{}", written, request_scheme, host, port);
    }
}

/// Found by the differential test: addresses inside 6to4, Teredo and the
/// other IETF protocol blocks, local-use NAT64, discard-only, the new
/// documentation block and SRv6 were judged public (a 6to4 address carries
/// any IPv4 address, `2002:7f00:1::` is 127.0.0.1's; 192.88.99.0/24 is the
/// deprecated 6to4 relay).
#[test]
fn special_purpose_blocks_found_public_are_not() {
    for ip in [
        "2002:7f00:1::1",
        "2002:a00:1::",
        "2001::1",
        "2001:2::1",
        "64:ff9b:1::a00:1",
        "100::1",
        "3fff::1",
        "5f00::1",
        "192.88.99.1",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        assert!(!is_public(ip), "{ip}");
        assert!(!public_by_table(ip), "{ip}");
    }
}

/// Found by the differential test: the documentation block `3fff::/20` ends
/// at `3fff:fff:ffff:…`; `3fff:1000::` is past it, and public.
#[test]
fn the_documentation_block_3fff_is_twenty_bits() {
    for (ip, public) in [
        ("3fff::1", false),
        ("3fff:fff:ffff::1", false),
        ("3fff:1000::", true),
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(is_public(ip), public, "{ip}");
        assert_eq!(public_by_table(ip), public, "{ip}");
    }
}
