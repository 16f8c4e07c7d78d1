//! Reading line protocol input: files, `-` for standard input, gzip by file extension.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::Context as _;
use flate2::read::MultiGzDecoder;

/// Opens `source` for reading (`-` is standard input); a name ending in `.gz` is
/// gunzipped as it is read.
pub(crate) fn open_source(source: &str) -> anyhow::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = if source == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(source).with_context(|| format!("cannot open {source}"))?)
    };
    Ok(
        if Path::new(source).extension().is_some_and(|ext| ext == "gz") {
            Box::new(MultiGzDecoder::new(raw))
        } else {
            raw
        },
    )
}

/// Reads all of `source` (`-` is standard input); a name ending in `.gz` is gunzipped.
pub(crate) fn read_source(source: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    open_source(source)?
        .read_to_end(&mut out)
        .with_context(|| format!("cannot read {source}"))?;
    Ok(out)
}

/// Expands the command line's sources: `-` and files stay as they are; a directory
/// becomes the files under it, recursively, in sorted path order, keeping only names
/// ending in `.lp`, `.txt` or `.gz` (so `x.lp.gz` too).
pub(crate) fn expand_sources(sources: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for source in sources {
        let path = Path::new(source);
        if source != "-" && path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            out.extend(found.into_iter().map(|p| p.display().to_string()));
        } else {
            out.push(source.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, found: &mut Vec<std::path::PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if path
            .extension()
            .is_some_and(|ext| ext == "lp" || ext == "txt" || ext == "gz")
        {
            found.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_expand_recursively_in_sorted_order_keeping_line_protocol_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        for name in ["b/c/z.lp", "b/a.txt", "a.lp.gz", "notes.md", "b/c/y.bin"] {
            std::fs::write(root.join(name), "").unwrap();
        }
        let expanded = expand_sources(&[root.display().to_string(), "-".into()]).unwrap();
        let names: Vec<String> = expanded
            .iter()
            .map(|p| {
                p.strip_prefix(&format!("{}/", root.display()))
                    .unwrap_or(p)
                    .to_owned()
            })
            .collect();
        assert_eq!(names, vec!["a.lp.gz", "b/a.txt", "b/c/z.lp", "-"]);
    }
}
