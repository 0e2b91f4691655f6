//! The few system calls the collectors need (statfs, uname, adjtimex, local time zone,
//! page size), wrapped once so no collector holds `unsafe` code.

use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What `statfs(2)` reports about a mounted filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FsStats {
    pub block_size: u64,
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
}

// The libc field types differ between targets (32/64-bit); the casts are no-ops on some.
#[allow(clippy::unnecessary_cast)]
pub fn statfs(path: &Path) -> io::Result<FsStats> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let mut buf = MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated string and `buf` is large enough for the
    // struct statfs the kernel fills in; it is only read after success.
    let rc = unsafe { libc::statfs(c.as_ptr(), buf.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statfs returned 0, so the kernel initialised the struct.
    let s = unsafe { buf.assume_init() };
    Ok(FsStats {
        block_size: s.f_bsize as u64,
        blocks: s.f_blocks as u64,
        blocks_free: s.f_bfree as u64,
        blocks_available: s.f_bavail as u64,
        files: s.f_files as u64,
        files_free: s.f_ffree as u64,
    })
}

/// The fields of `uname(2)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Utsname {
    pub sysname: String,
    pub nodename: String,
    pub release: String,
    pub version: String,
    pub machine: String,
    pub domainname: String,
}

fn field(chars: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub fn uname() -> io::Result<Utsname> {
    let mut buf = MaybeUninit::<libc::utsname>::zeroed();
    // SAFETY: `buf` is a properly sized utsname that the kernel fills in.
    let rc = unsafe { libc::uname(buf.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: uname returned 0, so the struct is initialised.
    let u = unsafe { buf.assume_init() };
    Ok(Utsname {
        sysname: field(&u.sysname),
        nodename: field(&u.nodename),
        release: field(&u.release),
        version: field(&u.version),
        machine: field(&u.machine),
        domainname: field(&u.domainname),
    })
}

/// The kernel clock state `adjtimex(2)` reports (read-only: `modes` is 0).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Timex {
    /// The return value: the clock state, `TIME_ERROR` (5) when unsynchronised.
    pub state: i32,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub status: i32,
    pub constant: i64,
    pub precision: i64,
    pub tolerance: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i32,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i32,
}

#[allow(clippy::unnecessary_cast)]
pub fn adjtimex() -> io::Result<Timex> {
    let mut buf = MaybeUninit::<libc::timex>::zeroed();
    // SAFETY: a zeroed timex has modes == 0, which only reads the clock state.
    let rc = unsafe { libc::adjtimex(buf.as_mut_ptr()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: adjtimex succeeded and filled in the struct.
    let t = unsafe { buf.assume_init() };
    Ok(Timex {
        state: rc,
        offset: t.offset as i64,
        freq: t.freq as i64,
        maxerror: t.maxerror as i64,
        esterror: t.esterror as i64,
        status: t.status,
        constant: t.constant as i64,
        precision: t.precision as i64,
        tolerance: t.tolerance as i64,
        tick: t.tick as i64,
        ppsfreq: t.ppsfreq as i64,
        jitter: t.jitter as i64,
        shift: t.shift,
        stabil: t.stabil as i64,
        jitcnt: t.jitcnt as i64,
        calcnt: t.calcnt as i64,
        errcnt: t.errcnt as i64,
        stbcnt: t.stbcnt as i64,
        tai: t.tai,
    })
}

/// The local time zone's abbreviation and offset from UTC in seconds at `unix_seconds`.
#[allow(clippy::unnecessary_cast)]
pub fn local_zone(unix_seconds: i64) -> Option<(String, i64)> {
    let t = unix_seconds as libc::time_t;
    let mut tm = MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: `t` and `tm` are valid for the call; localtime_r is the thread-safe form.
    let r = unsafe { libc::localtime_r(&t, tm.as_mut_ptr()) };
    if r.is_null() {
        return None;
    }
    // SAFETY: localtime_r succeeded and initialised `tm`.
    let tm = unsafe { tm.assume_init() };
    let name = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: glibc points tm_zone at a static NUL-terminated abbreviation.
        unsafe { CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    Some((name, tm.tm_gmtoff as i64))
}

/// The memory page size in bytes (sockstat's `mem` counts pages).
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as u64 } else { 4096 }
}

/// An errno as Go's `syscall.Errno.Error()` words it ("permission denied"): the C
/// library's message with a lower-case first letter.
pub fn errno_text(e: &io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let full = io::Error::from_raw_os_error(code).to_string();
    let msg = full
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&full);
    let mut chars = msg.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscalls_answer_on_this_host() {
        let s = statfs(Path::new("/")).unwrap();
        assert!(s.blocks > 0 && s.block_size > 0);
        assert!(statfs(Path::new("/no/such/dir")).is_err());
        let u = uname().unwrap();
        assert_eq!(u.sysname, "Linux");
        assert!(adjtimex().unwrap().tick > 0);
        assert!(local_zone(0).is_some());
        assert!(page_size() >= 4096);
    }

    #[test]
    fn errno_words_like_go() {
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(errno_text(&e), "permission denied");
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(errno_text(&e), "no such file or directory");
    }
}
