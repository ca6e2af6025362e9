//! The `access` of a `linux.resources.devices` entry, read as runc reads it: the letters
//! `r`, `w` and `m` count, in any order and number, anything else is ignored (`rwa` is
//! `rw`); no access at all means all three. An access that has letters but none of these is
//! refused, naming the field.

use crate::error::{CgroupError, Result};

/// The access letters of `text` in `rwm` order, each once.
pub(crate) fn read(text: Option<&str>, field: &str) -> Result<String> {
    let text = text.unwrap_or("");
    if text.is_empty() {
        return Ok("rwm".into());
    }
    let known: String = "rwm".chars().filter(|c| text.contains(*c)).collect();
    if known.is_empty() {
        return Err(CgroupError::invalid(
            field,
            format!("{text:?} has none of r, w, m"),
        ));
    }
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_as_runc_reads_them() {
        assert_eq!(read(None, "f").unwrap(), "rwm");
        assert_eq!(read(Some(""), "f").unwrap(), "rwm");
        assert_eq!(read(Some("rwa"), "f").unwrap(), "rw");
        assert_eq!(read(Some("mmwr"), "f").unwrap(), "rwm");
        let e = read(Some("xa"), "linux.resources.devices[0].access").unwrap_err();
        assert!(e.to_string().contains("devices[0].access"), "{e}");
    }
}
