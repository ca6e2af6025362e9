//! v1 `blkio` controller: the proportional weight.

use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::error::{CgroupError, Result};
use crate::fs;
use crate::resources::{check_blkio_weight, nonzero};

const FIELD: &str = "linux.resources.blockIO.weight";

/// Writes the weight (10..=1000) to `blkio.weight`, or `blkio.bfq.weight` when only BFQ
/// offers one. Fails naming the field if the kernel offers neither.
pub(crate) fn set<'a>(dir: impl FnOnce() -> Result<&'a Path>, b: &LinuxBlockIo) -> Result<()> {
    let Some(w) = nonzero(b.weight()) else {
        return Ok(());
    };
    check_blkio_weight(w)?;
    let dir = dir()?;
    let file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| fs::exists(dir, f))
        .ok_or_else(|| {
            CgroupError::unsupported(
                FIELD,
                format!(
                    "no blkio.weight or blkio.bfq.weight in {} (no CFQ/BFQ I/O scheduler)",
                    dir.display()
                ),
            )
        })?;
    fs::write(dir, file, &w.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tests::TempDir;
    use oci_spec::runtime::LinuxBlockIoBuilder;

    #[test]
    fn weight_goes_to_whichever_file_exists() {
        let t = TempDir::new("blkio");
        let d = t.files("c", &["blkio.bfq.weight"]);
        let b = LinuxBlockIoBuilder::default()
            .weight(300u16)
            .build()
            .unwrap();
        set(|| Ok(d.as_path()), &b).unwrap();
        assert_eq!(fs::read(&d, "blkio.bfq.weight").unwrap(), "300");
        let e = t.files("none", &[]);
        let err = set(|| Ok(e.as_path()), &b).unwrap_err();
        assert!(err.to_string().contains(FIELD), "{err}");
    }
}
