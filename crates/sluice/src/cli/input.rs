//! Reading line protocol input: files, `-` for standard input, gzip by file extension.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::Context as _;
use flate2::read::MultiGzDecoder;

/// Reads all of `source` (`-` is standard input); a name ending in `.gz` is gunzipped.
pub(crate) fn read_source(source: &str) -> anyhow::Result<Vec<u8>> {
    let mut raw: Box<dyn Read> = if source == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(source).with_context(|| format!("cannot open {source}"))?)
    };
    let mut out = Vec::new();
    if Path::new(source).extension().is_some_and(|ext| ext == "gz") {
        MultiGzDecoder::new(raw)
            .read_to_end(&mut out)
            .with_context(|| format!("cannot gunzip {source}"))?;
    } else {
        raw.read_to_end(&mut out)
            .with_context(|| format!("cannot read {source}"))?;
    }
    Ok(out)
}
