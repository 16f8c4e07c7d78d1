//! `inputs.tail`: follows files of line protocol, reading the complete lines appended
//! since the last gather (a truncated file is read again from its start).

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom};

use serde::Deserialize;

use crate::error::Result;
use crate::metric::parse_line_protocol;
use crate::plugins::{Accumulator, Input};

/// `[[inputs.tail]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailConfig {
    /// Files to follow. Default: `[]`.
    pub files: Vec<String>,
    /// Read files from their start instead of their current end. Default: false.
    pub from_beginning: bool,
    /// The format; only `"influx"`. Default: `"influx"`.
    pub data_format: String,
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig {
            files: Vec::new(),
            from_beginning: false,
            data_format: "influx".to_owned(),
        }
    }
}

/// The `tail` input.
#[derive(Debug)]
pub struct Tail {
    config: TailConfig,
    offsets: BTreeMap<String, u64>,
}

impl Tail {
    /// A tail input.
    ///
    /// # Errors
    /// A message about an unsupported data format.
    pub fn new(config: TailConfig) -> std::result::Result<Tail, String> {
        if config.data_format != "influx" {
            return Err(format!(
                "`data_format`: only \"influx\" is supported, not {:?}",
                config.data_format
            ));
        }
        Ok(Tail {
            config,
            offsets: BTreeMap::new(),
        })
    }

    fn read_new(&mut self, path: &str) -> std::io::Result<Vec<u8>> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        let from_beginning = self.config.from_beginning;
        let offset = self
            .offsets
            .entry(path.to_owned())
            .or_insert(if from_beginning { 0 } else { len });
        if len < *offset {
            *offset = 0;
        }
        file.seek(SeekFrom::Start(*offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(complete);
        *offset += complete as u64;
        Ok(bytes)
    }
}

impl Input for Tail {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        for path in self.config.files.clone() {
            match self
                .read_new(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| parse_line_protocol(&b, acc.time()))
            {
                Ok(metrics) => metrics
                    .into_iter()
                    .for_each(|m| acc.add(m.with_tag("path", path.clone()))),
                Err(message) => acc.add_error(format!("{path}: {message}")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn only_complete_new_lines_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.lp");
        std::fs::write(&path, "old x=1\n").unwrap();
        let name = path.display().to_string();
        let mut tail = Tail::new(TailConfig {
            files: vec![name.clone()],
            ..TailConfig::default()
        })
        .unwrap();
        let mut gather = || {
            let mut acc = Accumulator::new(1);
            tail.gather(&mut acc).unwrap();
            acc.metrics()
                .iter()
                .map(|m| m.name.clone())
                .collect::<Vec<_>>()
        };
        assert!(gather().is_empty());
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"a x=1\nb x=2\nc x=").unwrap();
        assert_eq!(gather(), vec!["a", "b"]);
        f.write_all(b"3\n").unwrap();
        assert_eq!(gather(), vec!["c"]);
        std::fs::write(&path, "d x=1\n").unwrap();
        assert_eq!(gather(), vec!["d"]);
    }
}
