//! `inputs.tail`: follows files, reading the complete lines appended since the last gather
//! (a truncated file is read again from its start); each line is one payload of the
//! configured data format (`influx`, `json`, `value`), and a bad line is reported without
//! losing the others.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom};

use serde::Deserialize;

use crate::error::Result;
use crate::parsers::DataParser;
use crate::plugins::{Accumulator, Input};

/// `[[inputs.tail]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailConfig {
    /// Files to follow. Default: `[]`.
    pub files: Vec<String>,
    /// Read files from their start instead of their current end. Default: false.
    pub from_beginning: bool,
}

/// The `tail` input.
#[derive(Debug)]
pub struct Tail {
    config: TailConfig,
    parser: DataParser,
    offsets: BTreeMap<String, u64>,
}

impl Tail {
    /// A tail input reading each new line with `parser`.
    pub fn new(config: TailConfig, parser: DataParser) -> Tail {
        Tail {
            config,
            parser,
            offsets: BTreeMap::new(),
        }
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
            let bytes = match self.read_new(&path) {
                Ok(bytes) => bytes,
                Err(err) => {
                    acc.add_error(format!("{path}: {err}"));
                    continue;
                }
            };
            for (index, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match self.parser.parse(line, acc.time()) {
                    Ok(metrics) => metrics
                        .into_iter()
                        .for_each(|m| acc.add(m.with_tag("path", path.clone()))),
                    Err(err) => acc.add_error(format!("{path}: new line {}: {err}", index + 1)),
                }
            }
        }
        Ok(())
    }

    fn is_service(&self) -> bool {
        true
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
        let mut tail = Tail::new(
            TailConfig {
                files: vec![name.clone()],
                ..TailConfig::default()
            },
            DataParser::Influx,
        );
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

    #[test]
    fn each_json_line_is_a_document_and_a_bad_line_loses_only_itself() {
        use crate::parsers::ParserConfig;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, "{\"a\": 1}\n{\"a\": \n{\"a\": 3}\n").unwrap();
        let parser = DataParser::new(
            &ParserConfig {
                data_format: "json".into(),
                ..ParserConfig::default()
            },
            "tail",
        )
        .unwrap();
        let mut tail = Tail::new(
            TailConfig {
                files: vec![path.display().to_string()],
                from_beginning: true,
            },
            parser,
        );
        let mut acc = Accumulator::new(1);
        tail.gather(&mut acc).unwrap();
        let values: Vec<_> = acc
            .metrics()
            .iter()
            .map(|m| m.fields[0].1.clone())
            .collect();
        assert_eq!(values, vec![1.0.into(), 3.0.into()]);
        assert_eq!(acc.errors().len(), 1);
        assert!(acc.errors()[0].contains("new line 2"), "{:?}", acc.errors());
    }
}
