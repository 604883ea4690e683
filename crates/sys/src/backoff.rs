//! The restart pace of everything brickyard supervises (glusterd under the agent, a lab
//! host's command, the agent's wait for its config): a process that ran for a while and
//! died is started again at once (a killed glusterd costs only its own start); one that
//! keeps dying young waits 1 s, doubling to 30 s. The sequence is `backon`'s exponential
//! backoff; what is ours is the immediate restart and the reset after a healthy run.

use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};

/// The first delay.
pub const FIRST: Duration = Duration::from_secs(1);
/// The longest delay.
pub const MAX: Duration = Duration::from_secs(30);
/// A run at least this long counts as healthy: it is restarted at once, and the delay is
/// reset.
pub const HEALTHY: Duration = Duration::from_secs(10);

/// Delays between restarts.
#[derive(Debug)]
pub struct Backoff {
    delays: ExponentialBackoff,
}

fn builder() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(FIRST)
        .with_max_delay(MAX)
        .with_factor(2.0)
        .without_max_times()
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            delays: builder().build(),
        }
    }
}

impl Backoff {
    /// The delay before the next start, after a run that lasted `ran`.
    pub fn after(&mut self, ran: Duration) -> Duration {
        if ran >= HEALTHY {
            self.delays = builder().build();
            return Duration::ZERO;
        }
        self.next_delay()
    }

    /// The next delay of a retry loop that has no runs to judge (waiting for something).
    pub fn next_delay(&mut self) -> Duration {
        self.delays.next().unwrap_or(MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_limit_and_resets_after_a_healthy_run() {
        let mut b = Backoff::default();
        let s = |n| Duration::from_secs(n);
        let seen: Vec<Duration> = (0..7).map(|_| b.after(s(0))).collect();
        assert_eq!(seen, vec![s(1), s(2), s(4), s(8), s(16), s(30), s(30)]);
        assert_eq!(b.after(s(9)), s(30));
        assert_eq!(b.after(s(10)), s(0), "a healthy run is restarted at once");
        assert_eq!(b.after(s(0)), s(1), "then the delays start over");
        assert_eq!(b.next_delay(), s(2));
    }
}
