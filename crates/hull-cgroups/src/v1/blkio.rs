//! v1 `blkio` controller: proportional weights (global and per device) and throttling.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use crate::error::{CgroupError, Result};
use crate::fs;
use crate::resources::{check_blkio_weight, non_empty, nonzero};

const FIELD: &str = "linux.resources.blockIO";

/// Writes every blkio setting that is set. Weights go to the CFQ files (`blkio.weight`,
/// `blkio.weight_device`, `blkio.leaf_weight*`) or, when only BFQ offers them, to
/// `blkio.bfq.*`; throttles to `blkio.throttle.*_device`. A setting whose file the kernel
/// does not offer fails naming the field. Does not look up the directory when nothing is set.
pub(crate) fn set<'a>(dir: impl FnOnce() -> Result<&'a Path>, b: &LinuxBlockIo) -> Result<()> {
    let weight = nonzero(b.weight());
    let leaf = nonzero(b.leaf_weight());
    for w in weight.iter().chain(leaf.iter()) {
        check_blkio_weight(*w)?;
    }
    let devices = b.weight_device().as_deref().unwrap_or_default();
    let throttles = throttles(b);
    if weight.is_none() && leaf.is_none() && devices.is_empty() && throttles.is_empty() {
        return Ok(());
    }
    let dir = dir()?;
    if let Some(w) = weight {
        write_weight(dir, "weight", &w.to_string())?;
    }
    if let Some(w) = leaf {
        write_one(dir, "leaf_weight", "blkio.leaf_weight", &w.to_string())?;
    }
    for d in devices {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight() {
            write_weight(dir, "weight_device", &format!("{dev} {w}"))?;
        }
        if let Some(w) = d.leaf_weight() {
            let line = format!("{dev} {w}");
            write_one(
                dir,
                "weightDevice.leafWeight",
                "blkio.leaf_weight_device",
                &line,
            )?;
        }
    }
    for (file, t) in throttles {
        let line = format!("{}:{} {}", t.major(), t.minor(), t.rate());
        write_one(dir, file, file, &line)?;
    }
    Ok(())
}

/// Each throttle entry with its file, in spec order.
fn throttles(b: &LinuxBlockIo) -> Vec<(&'static str, &LinuxThrottleDevice)> {
    let lists = [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    lists
        .into_iter()
        .filter(|(l, _)| non_empty(l))
        .flat_map(|(l, f)| l.iter().flatten().map(move |t| (f, t)))
        .collect()
}

/// `blkio.<what>`, else `blkio.bfq.<what>`.
fn write_weight(dir: &Path, what: &str, line: &str) -> Result<()> {
    let cfq = format!("blkio.{what}");
    let file = if fs::exists(dir, &cfq) {
        cfq
    } else {
        format!("blkio.bfq.{what}")
    };
    write_one(dir, what, &file, line)
}

fn write_one(dir: &Path, what: &str, file: &str, line: &str) -> Result<()> {
    if !fs::exists(dir, file) {
        return Err(CgroupError::unsupported(
            &format!("{FIELD}.{what}"),
            format!(
                "no {file} in {} (I/O scheduler or kernel lacks it)",
                dir.display()
            ),
        ));
    }
    fs::write(dir, file, line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tests::TempDir;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
    };

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

    #[test]
    fn devices_and_throttles() {
        let t = TempDir::new("blkiodev");
        let d = t.files(
            "c",
            &["blkio.weight_device", "blkio.throttle.write_iops_device"],
        );
        let wd = LinuxWeightDeviceBuilder::default()
            .major(8)
            .minor(0)
            .weight(200u16)
            .build()
            .unwrap();
        let td = LinuxThrottleDeviceBuilder::default()
            .major(8)
            .minor(16)
            .rate(100u64)
            .build()
            .unwrap();
        let b = LinuxBlockIoBuilder::default()
            .weight_device(vec![wd])
            .throttle_write_iops_device(vec![td])
            .build()
            .unwrap();
        set(|| Ok(d.as_path()), &b).unwrap();
        assert_eq!(fs::read(&d, "blkio.weight_device").unwrap(), "8:0 200");
        assert_eq!(
            fs::read(&d, "blkio.throttle.write_iops_device").unwrap(),
            "8:16 100"
        );
        let b = LinuxBlockIoBuilder::default()
            .throttle_read_bps_device(vec![td])
            .build()
            .unwrap();
        let err = set(|| Ok(d.as_path()), &b).unwrap_err().to_string();
        assert!(err.contains("read_bps_device"), "{err}");
    }
}
