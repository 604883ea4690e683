//! A clock that does not jump, shared by every process on one machine: `CLOCK_BOOTTIME`
//! (time since boot, counting suspend). A lease measured on it lasts as long as it should
//! when the wall clock is stepped forward or back. It restarts at each boot, so a value is
//! only comparable with values of the same boot ([`boot_id`]).

/// Milliseconds since boot.
pub fn boot_ms() -> u64 {
    use nix::time::{ClockId, clock_gettime};
    clock_gettime(ClockId::CLOCK_BOOTTIME)
        .map(|t| {
            let secs = u64::try_from(t.tv_sec()).unwrap_or(0);
            let nanos = u64::try_from(t.tv_nsec()).unwrap_or(0);
            secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
        })
        .unwrap_or(0)
}

/// This boot's identity (`/proc/sys/kernel/random/boot_id`); empty when it cannot be read.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_forward_and_knows_the_boot() {
        let a = boot_ms();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(boot_ms() >= a + 20);
        assert_eq!(boot_id().len(), 36, "{}", boot_id());
    }
}
