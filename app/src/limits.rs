//! Rate limits (server only), with the `governor` crate (GCRA, one state per key):
//! - per client IP on sign-up, log-in and token (`auth`), before any password hashing;
//! - per customer on purchases (`purchase`).
//!
//! A refused request is `AppError::TooManyRequests` (429 + `Retry-After`).
//!
//! The client IP is the socket peer, unless the peer is a trusted proxy
//! (`COUPAN_TRUSTED_PROXIES`): then it is the nearest `X-Forwarded-For` hop that is not a
//! trusted proxy, read from the right, where our own proxies append. Entries further left
//! were written by the client and prove nothing.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;
use uuid::Uuid;

use crate::error::AppError;

/// Addresses (single IPs or CIDR blocks) of the reverse proxies in front of the app.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// `"127.0.0.1, 10.0.0.0/8, ::1"`; an empty string trusts nobody.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => return Err(format!("{item:?} is not an IP address or CIDR block")),
                },
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// The limits' settings (from the server's configuration).
#[derive(Clone, Debug)]
pub struct LimitSettings {
    /// Sign-up, log-in and token requests per client IP per minute (also the burst).
    pub auth_per_min: u32,
    /// Purchases per customer per minute (also the burst).
    pub purchase_per_min: u32,
    pub trusted_proxies: TrustedProxies,
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// Forget idle keys after this many checks (keeps memory bounded under many clients).
const SWEEP_EVERY: u64 = 4096;

pub struct Limits {
    auth: Keyed<IpAddr>,
    purchase: Keyed<Uuid>,
    trusted_proxies: TrustedProxies,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Limits {
        Limits {
            auth: RateLimiter::keyed(per_minute(settings.auth_per_min)),
            purchase: RateLimiter::keyed(per_minute(settings.purchase_per_min)),
            trusted_proxies: settings.trusted_proxies.clone(),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// One sign-up, log-in or token request from `ip`.
    pub fn auth(&self, ip: IpAddr) -> Result<(), AppError> {
        self.sweep();
        let key = client_key(ip);
        self.auth.check_key(&key).map_err(|not_until| {
            tracing::info!(client_ip = %ip, "auth rate limit reached");
            self.refusal(not_until.wait_time_from(self.clock.now()))
        })
    }

    /// One purchase by `customer_id`.
    pub fn purchase(&self, customer_id: Uuid) -> Result<(), AppError> {
        self.sweep();
        self.purchase.check_key(&customer_id).map_err(|not_until| {
            tracing::info!(user_id = %customer_id, "purchase rate limit reached");
            self.refusal(not_until.wait_time_from(self.clock.now()))
        })
    }

    /// The client's address for a request (see the module notes).
    pub fn client_ip(&self, parts: &Parts) -> IpAddr {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| canonical(c.0.ip()))
            // Served without connect info (never in the server binary): one shared key.
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        client_ip(peer, &parts.headers, &self.trusted_proxies)
    }

    fn refusal(&self, wait: std::time::Duration) -> AppError {
        // Whole seconds, rounded up, at least 1.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        AppError::TooManyRequests {
            retry_after_secs: secs.max(1),
        }
    }

    fn sweep(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.auth.retain_recent();
            self.auth.shrink_to_fit();
            self.purchase.retain_recent();
            self.purchase.shrink_to_fit();
        }
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The key of a client address for limits and the failed-log-in throttle: IPv6 clients
/// usually hold a whole /64, so they share one key per /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The client of a request that reached us from `peer`.
pub fn client_ip(peer: IpAddr, headers: &http::HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    if !trusted.contains(peer) {
        return peer;
    }
    // All X-Forwarded-For lines, in order, as one list of hops (client first).
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if trusted.contains(ip) => client = ip,
            Some(ip) => return ip,
            // Garbage in the chain: stop at the last address we can vouch for.
            None => return client,
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<SocketAddr>().ok().map(|s| canonical(s.ip()))
}

/// Checks the per-IP auth limit before an API handler runs (a handler argument); holds the
/// client's address.
pub struct AuthRateLimit(pub IpAddr);

impl<S> FromRequestParts<S> for AuthRateLimit
where
    Arc<Limits>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let limits = Arc::<Limits>::from_ref(state);
        let ip = limits.client_ip(parts);
        limits.auth(ip)?;
        Ok(AuthRateLimit(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_proxy_lists() {
        let t = TrustedProxies::parse(" 127.0.0.1, 10.0.0.0/8 ,::1,").unwrap();
        assert!(t.contains(ip("127.0.0.1")));
        assert!(t.contains(ip("10.1.2.3")));
        assert!(t.contains(ip("::1")));
        assert!(t.contains(ip("::ffff:10.9.9.9")));
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("localhost").is_err());
    }

    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let none = TrustedProxies::default();
        let local = TrustedProxies::parse("127.0.0.1,10.0.0.0/8").unwrap();
        let h = headers(&["203.0.113.9"]);
        // Untrusted peer: the header is ignored.
        assert_eq!(
            client_ip(ip("198.51.100.1"), &h, &local),
            ip("198.51.100.1")
        );
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &none), ip("127.0.0.1"));
        // Trusted peer: the hop it reports.
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &local), ip("203.0.113.9"));
        // A client-forged entry on the left does not win over what our proxy appended.
        let forged = headers(&["1.1.1.1, 203.0.113.9"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &forged, &local),
            ip("203.0.113.9")
        );
        // Two proxies (ingress 10.0.0.5 then nginx on loopback), several header lines.
        let chain = headers(&["1.1.1.1", "203.0.113.9, 10.0.0.5"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &chain, &local),
            ip("203.0.113.9")
        );
        // Ports and brackets.
        let ported = headers(&["[2001:db8::7]:443"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &ported, &local),
            ip("2001:db8::7")
        );
        // Garbage stops the walk at the last trusted hop.
        let junk = headers(&["nonsense, 10.0.0.5"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &junk, &local), ip("10.0.0.5"));
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("127.0.0.1"), &http::HeaderMap::new(), &local),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn limits_per_key_with_retry_after() {
        let limits = Limits::new(&LimitSettings {
            auth_per_min: 3,
            purchase_per_min: 2,
            trusted_proxies: TrustedProxies::default(),
        });
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            limits.auth(a).unwrap();
        }
        match limits.auth(a) {
            Err(AppError::TooManyRequests { retry_after_secs }) => {
                // One request comes back every 20 s.
                assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        limits.auth(ip("192.0.2.2")).unwrap();
        // One IPv6 /64 is one client.
        let v6 = Limits::new(&LimitSettings {
            auth_per_min: 1,
            purchase_per_min: 1,
            trusted_proxies: TrustedProxies::default(),
        });
        v6.auth(ip("2001:db8:1:2::1")).unwrap();
        assert!(v6.auth(ip("2001:db8:1:2::ffff")).is_err());
        v6.auth(ip("2001:db8:1:3::1")).unwrap();

        let (c1, c2) = (Uuid::new_v4(), Uuid::new_v4());
        limits.purchase(c1).unwrap();
        limits.purchase(c1).unwrap();
        assert!(matches!(
            limits.purchase(c1),
            Err(AppError::TooManyRequests { .. })
        ));
        limits.purchase(c2).unwrap();
    }
}
