//! The restart pace of everything brickyard supervises (glusterd under the agent, a lab
//! host's command, the agent's wait for its config): 1 s, doubling to 30 s, and back to 1 s
//! after a run that lasted a minute. The sequence is `backon`'s exponential backoff; what is
//! ours is the reset after a healthy run.

use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};

/// The first delay.
pub const FIRST: Duration = Duration::from_secs(1);
/// The longest delay.
pub const MAX: Duration = Duration::from_secs(30);
/// A run at least this long counts as healthy and resets the delay.
pub const HEALTHY: Duration = Duration::from_secs(60);

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
        assert_eq!(b.after(s(59)), s(30));
        assert_eq!(b.after(s(60)), s(1));
        assert_eq!(b.next_delay(), s(2));
    }
}
