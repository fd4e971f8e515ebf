//! A coarse monotonic clock for the hot path's bookkeeping.
//!
//! Every checkout and return notes the time (when a connection went back idle, whether it
//! idled past the validation threshold, whether a front slot is due for a refresh). These
//! thresholds are hundreds of milliseconds to minutes, but `Instant::now` reads the hardware
//! clock, which on a virtual machine costs as much as a tenth of a whole checkout. On Linux
//! this reads `CLOCK_MONOTONIC_COARSE` instead (the kernel's tick, a few milliseconds of
//! resolution, no hardware read) and maps it onto `Instant`, so that coarse and exact
//! instants compare with an error of at most one tick. Elsewhere it is `Instant::now`.

use std::time::Instant;

/// Now, to within one kernel tick (a few milliseconds). Compare with `saturating_*`: a coarse
/// instant may be up to a tick ahead of an exact one taken at the same moment.
#[inline]
pub(crate) fn now() -> Instant {
    imp::now()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    /// An exact instant and the coarse clock's reading at about the same moment.
    struct Base {
        instant: Instant,
        coarse: Duration,
    }

    static BASE: OnceLock<Base> = OnceLock::new();

    fn coarse() -> Option<Duration> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable `timespec`; `clock_gettime` only writes to it.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        let secs = u64::try_from(ts.tv_sec).ok()?;
        let nanos = u32::try_from(ts.tv_nsec).ok()?;
        (rc == 0).then(|| Duration::new(secs, nanos))
    }

    pub(super) fn now() -> Instant {
        let base = BASE.get_or_init(|| Base {
            coarse: coarse().unwrap_or_default(),
            instant: Instant::now(),
        });
        match coarse() {
            Some(c) if c >= base.coarse => base.instant + (c - base.coarse),
            _ => Instant::now(),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::time::Instant;

    pub(super) fn now() -> Instant {
        Instant::now()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    #[test]
    fn coarse_time_follows_exact_time_within_a_tick() {
        let tick = Duration::from_millis(20); // generous: HZ is 100 at the lowest
        for _ in 0..5 {
            let exact = Instant::now();
            let coarse = super::now();
            let gap = if coarse > exact {
                coarse - exact
            } else {
                exact - coarse
            };
            assert!(gap <= tick, "coarse clock off by {gap:?}");
            std::thread::sleep(Duration::from_millis(7));
        }
        let a = super::now();
        std::thread::sleep(Duration::from_millis(50));
        let b = super::now();
        assert!(b.saturating_duration_since(a) >= Duration::from_millis(30));
    }
}
