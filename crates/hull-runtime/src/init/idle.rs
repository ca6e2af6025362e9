//! What init gives back while it waits for `start`.
//!
//! A created container's init may wait for `start` for long (`create` now, `start` when the
//! engine says). Until then it needs none of the code it ran to get there: its page-table
//! entries for hull's read-only segments (code, read-only data) are dropped, so they count in
//! no one's memory, and the free parts of its heap go back to the kernel. The pages stay in the
//! page cache, shared with every other hull: after `start`, the little code init still runs
//! is mapped again from there (minor faults, no I/O). Writable segments are never touched:
//! dropping them would lose their contents.
//!
//! The parent hull of `create` and `run` does the same between its phases (after the command
//! line's parsing, after the config's, before init is cloned and before `run` waits for the
//! container): its peak memory is then that of its largest phase, not of all of them, and a
//! foreground `run` waits as long as the container runs holding almost nothing.

use std::ffi::CStr;

/// Drops the mappings of every read-only loaded segment (main program and shared libraries,
/// not the vDSO) and trims the heap. Never fails: a refused `madvise` only keeps the pages.
pub fn release_memory() {
    // SAFETY: dl_iterate_phdr calls `segments` with valid headers of each loaded object; the
    // callback reads only them and its null data pointer is unused.
    unsafe { libc::dl_iterate_phdr(Some(segments), std::ptr::null_mut()) };
    // SAFETY: malloc_trim only returns free heap memory; hull is single-threaded here.
    unsafe { libc::malloc_trim(0) };
}

/// `dl_iterate_phdr` callback: `MADV_DONTNEED` on each `PT_LOAD` segment without `PF_W`.
unsafe extern "C" fn segments(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    _data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the loader passes a valid dl_phdr_info for the duration of the call.
    let info = unsafe { &*info };
    // SAFETY: dlpi_name is a NUL-terminated string (empty for the main program).
    let name = unsafe { CStr::from_ptr(info.dlpi_name) };
    if name.to_bytes().starts_with(b"linux-vdso") || info.dlpi_phdr.is_null() {
        return 0;
    }
    // SAFETY: dlpi_phdr points to dlpi_phnum program headers of this object.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()) };
    let page = 4096u64;
    for h in headers {
        if h.p_type != libc::PT_LOAD || h.p_flags & libc::PF_W != 0 || h.p_memsz == 0 {
            continue;
        }
        let start = (info.dlpi_addr + h.p_vaddr) & !(page - 1);
        let end = (info.dlpi_addr + h.p_vaddr + h.p_memsz).div_ceil(page) * page;
        // SAFETY: the range is this object's own read-only, file-backed segment; dropping
        // its page-table entries loses nothing (it refaults from the file).
        unsafe {
            libc::madvise(
                start as *mut libc::c_void,
                (end - start) as usize,
                libc::MADV_DONTNEED,
            )
        };
    }
    0
}
