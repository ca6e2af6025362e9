//! `hull list`: runc's table (tab-aligned columns) or JSON (`null` when empty, as runc).

use hull_runtime::container::list::Entry;

use crate::cli::{Global, ListFormat};

/// Prints every container under `--root`: ids only with `quiet`, else a table or JSON.
pub fn run(global: &Global, format: ListFormat, quiet: bool) -> anyhow::Result<i32> {
    let listing = hull_runtime::container::list::list(&global.root)?;
    for e in &listing.unreadable {
        eprintln!("hull: list: {e}");
    }
    let states = listing.entries;
    if quiet {
        states.iter().for_each(|e| println!("{}", e.state.id));
        return Ok(0);
    }
    match format {
        ListFormat::Json if states.is_empty() => println!("null"),
        ListFormat::Json => println!("{}", serde_json::to_string(&json_rows(&states))?),
        ListFormat::Table => print!("{}", table(&states)),
    }
    Ok(0)
}

/// runc's list entries: the state with `owner` (the state directory's owner) instead of the
/// state's empty one; `annotations` as in `state`, omitted when there are none.
fn json_rows(entries: &[Entry]) -> Vec<serde_json::Value> {
    entries
        .iter()
        .map(|Entry { state: s, owner }| {
            let mut row = serde_json::json!({
                "ociVersion": s.oci_version, "id": s.id, "pid": s.pid, "status": s.status,
                "bundle": s.bundle, "rootfs": s.rootfs, "created": s.created, "owner": owner,
            });
            if !s.annotations.is_empty() {
                row["annotations"] = serde_json::json!(s.annotations);
            }
            row
        })
        .collect()
}

fn table(entries: &[Entry]) -> String {
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        .map(String::from)
        .to_vec()];
    for Entry { state: s, owner } in entries {
        rows.push(vec![
            s.id.clone(),
            s.pid.to_string(),
            s.status.to_string(),
            s.bundle.display().to_string(),
            s.created.clone(),
            owner.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}", w = (w + 3).max(12)))
            .collect();
        out.push_str(cells.concat().trim_end());
        out.push('\n');
    }
    out
}
