//! Admission of cold starts: which requests for a tenant that is not cached may reach the
//! tenant directory.
//!
//! A flood of random keys (`x7f3k.example.com`, a hundred thousand times) must not become a
//! hundred thousand directory lookups, nor a hundred thousand connects to databases that do
//! not exist. Two mechanisms stand in front of the directory:
//!
//! - **the list**: when the directory can list its tenants ([`TenantDirectory::list`]), keys
//!   not on the list are unknown without a lookup. The list is refreshed on a miss at most once
//!   per `backoff.directory_refresh`, so a tenant added to the directory is seen within that
//!   interval, and a flood costs one list call per interval;
//! - **a rate limit**: when it cannot list, starts are admitted by a token bucket
//!   (`backoff.unlisted_starts_per_second`); over it, requests get
//!   [`Error::Throttled`](crate::Error::Throttled) (HTTP 503 with `Retry-After`).
//!
//! Keys that failed are remembered in the registry's bounded negative cache, so repeated
//! unknown keys never reach either mechanism.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::lock::lock;
use crate::stats::Counters;
use crate::{TenantDirectory, TenantId};

/// What the directory's list says about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// On the list: look it up.
    Listed,
    /// Not on a fresh list: unknown, without a lookup.
    NotListed,
    /// The directory cannot list (or listing failed): only a lookup can tell.
    Unlisted,
}

const LISTING_UNKNOWN: u8 = 0;
const LISTING_SUPPORTED: u8 = 1;
const LISTING_UNSUPPORTED: u8 = 2;

struct Known {
    tenants: HashSet<TenantId>,
    loaded: Instant,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

pub(crate) struct Admission {
    known: RwLock<Option<Known>>,
    refresh: tokio::sync::Mutex<()>,
    refresh_every: Duration,
    listing: AtomicU8,
    rate: f64,
    bucket: Mutex<Bucket>,
}

impl Admission {
    pub(crate) fn new(refresh_every: Duration, starts_per_second: u32) -> Self {
        let rate = f64::from(starts_per_second.max(1));
        Self {
            known: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            refresh_every,
            listing: AtomicU8::new(LISTING_UNKNOWN),
            rate,
            bucket: Mutex::new(Bucket {
                tokens: rate,
                last: Instant::now(),
            }),
        }
    }

    fn check_known(&self, tenant: &TenantId) -> Option<Verdict> {
        let known = self
            .known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let known = known.as_ref()?;
        if known.tenants.contains(tenant) {
            Some(Verdict::Listed)
        } else if known.loaded.elapsed() < self.refresh_every {
            Some(Verdict::NotListed)
        } else {
            None
        }
    }

    /// Drops the list: the next key not in the cache reads it again.
    pub(crate) fn forget_list(&self) {
        *self
            .known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// What the directory's list says about `tenant`, refreshing a stale list first.
    pub(crate) async fn verdict(
        &self,
        directory: &dyn TenantDirectory,
        tenant: &TenantId,
        counters: &Counters,
    ) -> Verdict {
        if self.listing.load(Ordering::Acquire) == LISTING_UNSUPPORTED {
            return Verdict::Unlisted;
        }
        if let Some(v) = self.check_known(tenant) {
            return v;
        }
        let _refreshing = self.refresh.lock().await;
        if let Some(v) = self.check_known(tenant) {
            return v;
        }
        Counters::bump(&counters.directory_lists);
        match directory.list().await {
            Ok(Some(list)) => {
                let listed = list.contains(tenant);
                *self
                    .known
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Known {
                    tenants: list.into_iter().collect(),
                    loaded: Instant::now(),
                });
                self.listing.store(LISTING_SUPPORTED, Ordering::Release);
                if listed {
                    Verdict::Listed
                } else {
                    Verdict::NotListed
                }
            }
            Ok(None) => {
                self.listing.store(LISTING_UNSUPPORTED, Ordering::Release);
                Verdict::Unlisted
            }
            Err(e) => {
                tracing::warn!(error = %e, "tenant directory failed to list; falling back to lookups");
                Verdict::Unlisted
            }
        }
    }

    /// Takes a token for a start the list could not vouch for; when none is left, says how
    /// long until one is.
    pub(crate) fn admit(&self) -> Result<(), Duration> {
        let mut bucket = lock(&self.bucket);
        let now = Instant::now();
        let refill = now.saturating_duration_since(bucket.last).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.rate);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DatabaseUrl, StaticDirectory, TemplateDirectory, TenantTarget};

    fn t(k: &str) -> TenantId {
        TenantId::parse(k).unwrap()
    }

    #[tokio::test]
    async fn a_listing_directory_answers_unknown_keys_without_lookups_and_refreshes_rarely() {
        let url = DatabaseUrl::parse("sqlite://x/acme.db").unwrap();
        let dir = StaticDirectory::new().with(t("acme"), TenantTarget::database(url));
        let counters = Counters::default();
        let admission = Admission::new(Duration::from_secs(60), 10);
        assert_eq!(
            admission.verdict(&dir, &t("acme"), &counters).await,
            Verdict::Listed
        );
        for i in 0..1000 {
            let key = t(&format!("random{i}"));
            assert_eq!(
                admission.verdict(&dir, &key, &counters).await,
                Verdict::NotListed
            );
        }
        assert_eq!(counters.directory_lists.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_directory_that_cannot_list_is_rate_limited() {
        let dir = TemplateDirectory::database("sqlite://x/{tenant}.db").unwrap();
        let counters = Counters::default();
        let admission = Admission::new(Duration::from_secs(1), 5);
        assert_eq!(
            admission.verdict(&dir, &t("a"), &counters).await,
            Verdict::Unlisted
        );
        let admitted = (0..100).filter(|_| admission.admit().is_ok()).count();
        assert_eq!(admitted, 5, "the burst is the per-second rate");
        let wait = admission.admit().unwrap_err();
        assert!(wait <= Duration::from_millis(200), "{wait:?}");
    }
}
