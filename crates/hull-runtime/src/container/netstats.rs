//! The network part of `events --stats`: counters of the interfaces in the container's own
//! network namespace, read from `/proc/<init>/net/dev`, in runc's `NetworkInterface` shape.

use std::os::unix::fs::MetadataExt;

use serde::Serialize;

/// runc's `types.NetworkInterface` (its fields carry no JSON tags, hence the capitals).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInterface {
    /// Interface name inside the container.
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Packets dropped on sending.
    pub tx_dropped: u64,
}

/// The interfaces (loopback left out) of the network namespace of process `pid`, or None
/// when it has none, cannot be read, or is hull's own namespace (a container without a
/// network namespace: the host's interfaces are not its to report). runc prints `null` then.
pub fn of_process(pid: i32) -> Option<Vec<NetworkInterface>> {
    let ns = |p: &str| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let theirs = ns(&format!("/proc/{pid}/ns/net"))?;
    if ns("/proc/self/ns/net") == Some(theirs) {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    let list: Vec<NetworkInterface> = parse_net_dev(&text)
        .into_iter()
        .filter(|i| i.name != "lo")
        .collect();
    (!list.is_empty()).then_some(list)
}

/// `/proc/net/dev`: two header lines, then `name: <8 receive counters> <8 transmit counters>`.
fn parse_net_dev(text: &str) -> Vec<NetworkInterface> {
    text.lines()
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            let n: Vec<u64> = counters
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            (n.len() >= 12).then(|| NetworkInterface {
                name: name.trim().to_string(),
                rx_bytes: n[0],
                rx_packets: n[1],
                rx_errors: n[2],
                rx_dropped: n[3],
                tx_bytes: n[8],
                tx_packets: n[9],
                tx_errors: n[10],
                tx_dropped: n[11],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0: 1500 10 1 2 0 0 0 0 3000 20 3 4 0 0 0 0
";
        let list = parse_net_dev(text);
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[1],
            NetworkInterface {
                name: "eth0".into(),
                rx_bytes: 1500,
                rx_packets: 10,
                rx_errors: 1,
                rx_dropped: 2,
                tx_bytes: 3000,
                tx_packets: 20,
                tx_errors: 3,
                tx_dropped: 4,
            }
        );
    }
}
