//! The process's allocator: mimalloc, with one setting changed. Included by the `hoptrail`
//! binary and by the benches (`#[path]`), so both sides of every comparison run the same way.

use std::os::raw::{c_int, c_long};

// Ingest allocates and frees a few dozen small strings per event on one thread while tantivy's
// indexing threads do the same: mimalloc's per-thread heaps measured faster than the system
// allocator for both (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the bundled mimalloc v3's `include/mimalloc.h` (libmimalloc-sys
/// names no constant for it); a test checks it is the option whose default is 1000 ms.
const MI_OPTION_PURGE_DELAY: c_int = 15;

/// How long freed memory stays mapped before mimalloc gives it back to the OS. Ingest frees a
/// commit's worth of documents at once, on tantivy's threads, and allocates as much again right
/// after; at mimalloc's default of 1 s those pages went back to the OS and were faulted in again
/// every commit, which was a fifth of the collector thread's time spent in the kernel zeroing
/// pages (and a twentieth of tantivy's). Ten seconds keeps them through a busy ingest and still
/// returns memory after an idle spell.
const PURGE_DELAY_MS: c_long = 10_000;

/// Applies the setting; call first thing in `main`. `MIMALLOC_PURGE_DELAY` in the environment
/// still wins, for experiments.
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores an integer in mimalloc's option table; any option
        // index below `_mi_option_last` and any value are valid.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_set_is_mimallocs_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads an integer from mimalloc's option table.
        let value = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        // Only the purge delay defaults to 1000 in mimalloc v3; tune() may already have run.
        assert!(
            value == 1000 || value == super::PURGE_DELAY_MS,
            "option {} reads {value}: not the purge delay",
            super::MI_OPTION_PURGE_DELAY
        );
    }
}
