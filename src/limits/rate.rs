//! The request rate limits, per signed-in user and per client address: GCRA (governor),
//! where a client may spend ten seconds' worth of requests at once and then the set rate.
//! A client refused is told when its next request would pass.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::UserId;
use crate::error::ApiError;

/// How many seconds' worth of requests may come at once: a page load that opens several
/// tabs' joins, lists and streams together must pass.
const BURST_SECONDS: NonZeroU32 = NonZeroU32::new(10).unwrap();
/// How often clients back at their full burst are forgotten, which bounds the memory the
/// limits take by the clients seen in that time.
pub const FORGET_IDLE_EVERY: Duration = Duration::from_secs(60);

pub struct RateLimits {
    per_user: Option<DefaultKeyedRateLimiter<UserId>>,
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl RateLimits {
    /// Limits of so many requests a second on average; 0 turns a limit off.
    pub fn new(per_user: u32, per_address: u32) -> Self {
        Self { per_user: limiter(per_user), per_address: limiter(per_address) }
    }

    pub fn check_user(&self, user: &UserId) -> Result<(), ApiError> {
        check(self.per_user.as_ref(), user)
    }

    pub fn check_address(&self, address: IpAddr) -> Result<(), ApiError> {
        check(self.per_address.as_ref(), &client_network(address))
    }

    /// Forgets the clients back at their full burst (call every [`FORGET_IDLE_EVERY`]).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.per_user {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_address {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_second: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = rate.saturating_mul(BURST_SECONDS);
    Some(RateLimiter::dashmap(Quota::per_second(rate).allow_burst(burst)))
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), ApiError> {
    let Some(limiter) = limiter else { return Ok(()) };
    limiter
        .check_key(key)
        .map_err(|not_until| ApiError::RateLimited { retry_after: not_until.wait_time_from(limiter.clock().now()) })
}

/// The address a limit is kept for: an IPv6 client's /64, which is what one subscriber
/// usually holds, so a client cannot escape its limit by changing addresses within it.
fn client_network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_says_when_to_retry() {
        let limits = RateLimits::new(2, 0);
        let alice = UserId::parse("alice").unwrap();
        for _ in 0..2 * BURST_SECONDS.get() {
            limits.check_user(&alice).unwrap();
        }
        match limits.check_user(&alice) {
            Err(ApiError::RateLimited { retry_after }) => assert!(retry_after <= Duration::from_millis(500)),
            other => panic!("expected a refusal, got {other:?}"),
        }
        limits.check_user(&UserId::parse("bob").unwrap()).expect("each user has a limit of their own");
        limits.check_address("10.0.0.1".parse().unwrap()).expect("0 is no limit");
    }

    #[test]
    fn an_ipv6_client_is_limited_by_its_64() {
        let network = |address: &str| client_network(address.parse().unwrap());
        assert_eq!(network("2001:db8:1:2:aaaa::1"), network("2001:db8:1:2:ffff::9"));
        assert_ne!(network("2001:db8:1:2::1"), network("2001:db8:1:3::1"));
        assert_eq!(network("::ffff:10.0.0.1"), network("10.0.0.1"));
        assert_eq!(network("10.0.0.1").to_string(), "10.0.0.1");
    }
}
