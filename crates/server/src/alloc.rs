//! Allocator settings for the process. glibc serves big blocks from its heaps and keeps them
//! after `free`, per thread arena: a burst of password checks (argon2, ~19 MiB each, on blocking
//! threads) would leave the process hundreds of megabytes larger for good. Blocks from 512 KiB
//! up are mapped on their own instead and go back to the system when freed.

/// Blocks at least this big get their own mapping.
pub const MMAP_THRESHOLD: i32 = 512 * 1024;

/// Call once at start, before the runtime's threads exist. Elsewhere than glibc, nothing to do.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's parameters; called before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
