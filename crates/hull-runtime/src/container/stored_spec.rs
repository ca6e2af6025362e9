//! The spec inside a container's record (`state.json`'s `spec`), kept as the JSON text it was
//! written as. Loading a record parses none of it: each command parses only the part it uses
//! (`state` the annotations, `start` and `delete` the hooks), and the whole spec only where it
//! needs it (exec, update, checkpoint). Under emulation every spec type's parser that runs is
//! machine code translated anew by each command.

use std::collections::HashMap;

use oci_spec::runtime::{Hooks, LinuxNamespace, LinuxNetDevice, Process, Spec};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{Error, Result};

/// A container's spec as its record holds it: valid JSON, written back exactly as it was read
/// or made (so `state.json` keeps its format, and a record saved again is unchanged). Each
/// accessor parses only its own part, skipping every other member unread, and fails with
/// [`Error::Corrupt`] naming the container when that part is not what a spec holds there.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoredSpec(Box<RawValue>);

/// What `delete` needs of a stored spec to move network devices back to the host.
#[derive(Debug, Default)]
pub struct Network {
    /// `linux.netDevices`: the devices moved into the container, by their name on the host.
    pub devices: HashMap<String, LinuxNetDevice>,
    /// `linux.namespaces` (read only when there are devices).
    pub namespaces: Vec<LinuxNamespace>,
}

impl StoredSpec {
    /// The stored form of `spec` (the same JSON as `spec` serialised).
    pub fn new(spec: &Spec) -> Result<StoredSpec> {
        serde_json::value::to_raw_value(spec)
            .map(StoredSpec)
            .map_err(|e| Error::Msg(format!("encode spec: {e}")))
    }

    /// An empty spec (`{}`): no hooks, annotations or network devices (a salvaged record's).
    pub fn empty() -> StoredSpec {
        StoredSpec(RawValue::from_string("{}".into()).expect("{} is JSON"))
    }

    /// The whole spec of container `id`.
    pub fn full(&self, id: &str) -> Result<Spec> {
        self.part(id)
    }

    /// `hooks` of container `id`'s spec.
    pub fn hooks(&self, id: &str) -> Result<Option<Hooks>> {
        #[derive(Deserialize)]
        struct View {
            hooks: Option<Hooks>,
        }
        Ok(self.part::<View>(id)?.hooks)
    }

    /// `annotations` of container `id`'s spec (empty when it has none).
    pub fn annotations(&self, id: &str) -> Result<HashMap<String, String>> {
        #[derive(Deserialize)]
        struct View {
            annotations: Option<HashMap<String, String>>,
        }
        Ok(self.part::<View>(id)?.annotations.unwrap_or_default())
    }

    /// `process` of container `id`'s spec.
    pub fn process(&self, id: &str) -> Result<Option<Process>> {
        #[derive(Deserialize)]
        struct View {
            process: Option<Process>,
        }
        Ok(self.part::<View>(id)?.process)
    }

    /// `linux.netDevices` of container `id`'s spec and, when there are any, its namespaces.
    pub fn network(&self, id: &str) -> Result<Network> {
        #[derive(Deserialize)]
        struct View<T> {
            linux: Option<T>,
        }
        #[derive(Deserialize)]
        struct Devices {
            #[serde(rename = "netDevices")]
            net_devices: Option<HashMap<String, LinuxNetDevice>>,
        }
        #[derive(Deserialize)]
        struct Namespaces {
            namespaces: Option<Vec<LinuxNamespace>>,
        }
        let linux = self.part::<View<Devices>>(id)?.linux;
        let devices = linux.and_then(|l| l.net_devices).unwrap_or_default();
        let namespaces = match devices.is_empty() {
            true => None,
            false => self.part::<View<Namespaces>>(id)?.linux,
        };
        Ok(Network {
            devices,
            namespaces: namespaces.and_then(|l| l.namespaces).unwrap_or_default(),
        })
    }

    fn part<T: DeserializeOwned>(&self, id: &str) -> Result<T> {
        // From bytes, as the record is read: the same parser code, not a second one for &str.
        serde_json::from_slice(self.0.get().as_bytes()).map_err(|e| Error::Corrupt {
            id: id.into(),
            why: format!("spec: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(text: &str) -> StoredSpec {
        StoredSpec(RawValue::from_string(text.into()).unwrap())
    }

    #[test]
    fn a_part_is_read_without_the_rest() {
        // `process` is no process, `linux.namespaces` no list: the views asking for neither
        // do not look at them.
        let s = stored(
            r#"{"process":7,"annotations":{"a":"1"},"hooks":{"poststop":[{"path":"/x"}]},
                "linux":{"netDevices":{"eth1":{"name":"in1"}},"resources":"bad"},"future":[1]}"#,
        );
        assert_eq!(s.annotations("c").unwrap()["a"], "1");
        let hooks = s.hooks("c").unwrap().unwrap();
        assert_eq!(
            hooks.poststop().as_ref().unwrap()[0].path().to_str(),
            Some("/x")
        );
        let net = s.network("c").unwrap();
        assert_eq!(net.devices["eth1"].name().as_deref(), Some("in1"));
        assert!(net.namespaces.is_empty());
        let s = stored(r#"{"linux":{"netDevices":{"eth1":{}},"namespaces":[{"type":"network"}]}}"#);
        assert_eq!(s.network("c").unwrap().namespaces.len(), 1);
        let s = stored(r#"{"linux":{"netDevices":{"eth1":{}},"namespaces":{}}}"#);
        assert!(s.network("c").is_err(), "namespaces are read with devices");
    }

    #[test]
    fn a_damaged_part_is_a_corrupt_record_naming_the_container() {
        let s = stored(r#"{"process":7,"hooks":{"poststop":"no list"},"annotations":[1]}"#);
        for err in [
            s.full("c1").map(|_| ()).unwrap_err(),
            s.hooks("c1").map(|_| ()).unwrap_err(),
            s.annotations("c1").map(|_| ()).unwrap_err(),
            s.process("c1").map(|_| ()).unwrap_err(),
        ] {
            assert!(
                matches!(&err, Error::Corrupt { id, .. } if id == "c1"),
                "{err}"
            );
            assert!(err
                .to_string()
                .contains("state of container \"c1\" is corrupt: spec:"));
        }
        assert!(stored("[]").network("c1").is_err(), "a spec is an object");
    }

    #[test]
    fn a_spec_is_written_back_as_serde_writes_it() {
        let spec = Spec::default();
        let text = serde_json::to_string(&StoredSpec::new(&spec).unwrap()).unwrap();
        assert_eq!(text, serde_json::to_string(&spec).unwrap());
        let again: StoredSpec = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&again).unwrap(), text);
        assert_eq!(again.full("c").unwrap(), spec);
        assert!(StoredSpec::empty().hooks("c").unwrap().is_none());
    }
}
