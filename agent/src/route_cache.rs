//! A short-lived cache of the kernel FIB's answers on the upcall path.
//!
//! Every NOCACHE upcall needs the route toward its source for the RPF decision. A burst of new
//! flows usually comes from few sources (one source, many groups), and an rtnetlink round trip
//! per upcall dominated the first-packet latency (`scripts/bench-first-packet.sh`). Answers,
//! including "no route", are kept for [`RouteCache::TTL`]: a routing change reaches new flows
//! within that time (existing MFEs keep their incoming interface until they expire, as before).
//! Lookup failures are not cached.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use mgm_core::Route;
use netlink::link::Rtnl;
use tracing::debug;

/// The kernel FIB's route toward `addr`; a failed lookup is logged and counts as no route.
pub(crate) async fn fib_route(rtnl: &Rtnl, addr: IpAddr) -> Option<Route> {
    match rtnl.route_to(addr).await {
        Ok(route) => route,
        Err(e) => {
            debug!(%addr, "route lookup failed: {e}");
            None
        }
    }
}

/// Cached FIB answers by destination address.
pub(crate) struct RouteCache {
    entries: HashMap<IpAddr, (Instant, Option<Route>)>,
    max_entries: usize,
}

impl RouteCache {
    /// How long an answer is reused.
    pub(crate) const TTL: Duration = Duration::from_secs(1);

    /// An empty cache holding at most `max_entries` answers.
    pub(crate) fn new(max_entries: usize) -> RouteCache {
        RouteCache {
            entries: HashMap::new(),
            max_entries: max_entries.max(1),
        }
    }

    /// The answer for `addr` if it is younger than [`RouteCache::TTL`] at `now`.
    pub(crate) fn get(&self, now: Instant, addr: IpAddr) -> Option<Option<Route>> {
        match self.entries.get(&addr) {
            Some((at, route)) if now.saturating_duration_since(*at) < Self::TTL => {
                Some(route.clone())
            }
            _ => None,
        }
    }

    /// The route toward `addr`: the cached answer, or a FIB lookup remembered when it succeeds.
    pub(crate) async fn lookup(
        &mut self,
        rtnl: &Rtnl,
        now: Instant,
        addr: IpAddr,
    ) -> Option<Route> {
        if let Some(route) = self.get(now, addr) {
            return route;
        }
        match rtnl.route_to(addr).await {
            Ok(route) => {
                self.insert(now, addr, route.clone());
                route
            }
            Err(e) => {
                debug!(%addr, "route lookup failed: {e}");
                None
            }
        }
    }

    /// Remember the answer for `addr` obtained at `now`. When full, expired answers are dropped
    /// first, then everything (a burst of distinct sources must not grow memory without bound).
    pub(crate) fn insert(&mut self, now: Instant, addr: IpAddr, route: Option<Route>) {
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(&addr) {
            self.entries
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < Self::TTL);
            if self.entries.len() >= self.max_entries {
                self.entries.clear();
            }
        }
        self.entries.insert(addr, (now, route));
    }

    /// Number of cached answers.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use mgm_core::IfIndex;

    use super::*;

    fn route(ifindex: u32) -> Option<Route> {
        Some(Route {
            ifindex: IfIndex(ifindex),
            gateway: None,
            prefix: "10.1.1.0".parse().unwrap(),
            prefix_len: 24,
            protocol: 2,
        })
    }

    #[test]
    fn answers_are_reused_within_the_ttl_only() {
        let t0 = Instant::now();
        let a: IpAddr = "10.1.1.2".parse().unwrap();
        let mut cache = RouteCache::new(16);
        assert_eq!(cache.get(t0, a), None);
        cache.insert(t0, a, route(2));
        assert_eq!(
            cache.get(t0 + Duration::from_millis(999), a),
            Some(route(2))
        );
        assert_eq!(cache.get(t0 + RouteCache::TTL, a), None);
        // "No route" is an answer too.
        let b: IpAddr = "192.0.2.1".parse().unwrap();
        cache.insert(t0, b, None);
        assert_eq!(cache.get(t0, b), Some(None));
    }

    #[test]
    fn a_full_cache_drops_expired_answers_then_everything() {
        let t0 = Instant::now();
        let mut cache = RouteCache::new(2);
        cache.insert(t0, "10.0.0.1".parse().unwrap(), route(1));
        cache.insert(
            t0 + Duration::from_secs(2),
            "10.0.0.2".parse().unwrap(),
            route(2),
        );
        // The first is expired at t0 + 2 s + 1 ms: only it goes.
        let t1 = t0 + Duration::from_millis(2001);
        cache.insert(t1, "10.0.0.3".parse().unwrap(), route(3));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(t1, "10.0.0.2".parse().unwrap()), Some(route(2)));
        // Nothing expired: everything goes.
        cache.insert(t1, "10.0.0.4".parse().unwrap(), route(4));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(t1, "10.0.0.4".parse().unwrap()), Some(route(4)));
    }
}
