//! The C allocator's hold on memory the process freed.
//!
//! A long-running agent parses gluster's answers about every volume now and then (a few MB
//! of XML at a thousand volumes) and frees them again; glibc keeps such freed memory for
//! reuse, in one arena per thread that allocated it, so the resident size settles at the
//! peaks of every thread together. Fewer arenas and a trim after a large answer keep it
//! near what is in use.

/// Limits glibc's malloc to `arenas` arenas for the rest of the process (threads share
/// them, with a little more lock contention); call it before the threads start.
#[allow(unsafe_code)]
pub fn limit_arenas(arenas: i32) {
    // SAFETY: mallopt(3) only sets a parameter of the allocator; any value is accepted or
    // refused by its return value, which changes nothing we rely on.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

/// Gives the memory the process freed back to the system, where the allocator can
/// (`malloc_trim(0)`); costs about as much as walking the free lists once.
#[allow(unsafe_code)]
pub fn trim() {
    // SAFETY: malloc_trim(3) takes the allocator's own locks and touches only free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn trim_after_a_large_free_keeps_the_process_working() {
        super::limit_arenas(2);
        let big: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 * 1024]).collect();
        drop(big);
        super::trim();
        let again = vec![7u8; 1 << 20];
        assert_eq!(again.iter().map(|&b| u64::from(b)).sum::<u64>(), 7 << 20);
    }
}
