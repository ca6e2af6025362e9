//! Reading the kernel's text files (procfs). They report a size of 0, so
//! `std::fs::read_to_string` asks for their size (statx, lseek) and then reads into a buffer
//! that starts at 32 bytes and doubles, one read(2) each time (eight for a mountinfo). Here a
//! buffer of a few pages takes the whole file in one read, and the empty read that ends it.

use std::io::Read;
use std::path::Path;

/// Bytes asked for at first: more than a process's `status` or a host's usual mountinfo.
const AT_ONCE: usize = 8 * 1024;

/// The whole text of the file at `path`, as `std::fs::read_to_string` gives it.
pub fn read(path: impl AsRef<Path>) -> std::io::Result<String> {
    read_all(std::fs::File::open(path)?)
}

/// The whole text `file` gives until its end, as [`read`] reads it.
pub fn read_all(mut file: impl Read) -> std::io::Result<String> {
    let mut buf = vec![0u8; AT_ONCE];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(2 * len, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_procfs_file_whole() {
        let ours = super::read("/proc/self/mountinfo").unwrap();
        assert!(ours.ends_with('\n') && ours.lines().count() > 1, "{ours}");
        let big = "x".repeat(3 * super::AT_ONCE + 5);
        assert_eq!(super::read_all(big.as_bytes()).unwrap(), big);
    }
}
