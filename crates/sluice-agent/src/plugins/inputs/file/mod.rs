//! `inputs.file`: reads whole files at every gather, each parsed as one document of the
//! configured data format (`influx`, `json`, `value`).

use serde::Deserialize;

use crate::error::Result;
use crate::parsers::DataParser;
use crate::plugins::{Accumulator, Input};

/// `[[inputs.file]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Files to read. Default: `[]`.
    pub files: Vec<String>,
    /// When set, a tag of this name holds the file's base name. Default: `""`.
    pub file_tag: String,
}

/// The `file` input.
#[derive(Debug)]
pub struct File {
    config: FileConfig,
    parser: DataParser,
}

impl File {
    /// A file input reading files with `parser`.
    pub fn new(config: FileConfig, parser: DataParser) -> File {
        File { config, parser }
    }
}

impl Input for File {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        for path in &self.config.files {
            let parsed = std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    self.parser
                        .parse(&bytes, acc.time())
                        .map_err(|e| e.to_string())
                });
            match parsed {
                Ok(metrics) => {
                    for mut m in metrics {
                        if !self.config.file_tag.is_empty() {
                            let base = std::path::Path::new(path)
                                .file_name()
                                .map(|f| f.to_string_lossy().into_owned())
                                .unwrap_or_default();
                            m.tags.insert(self.config.file_tag.clone(), base);
                        }
                        acc.add(m);
                    }
                }
                Err(message) => acc.add_error(format!("{path}: {message}")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gather_reads_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.lp");
        std::fs::write(&path, "a x=1\nb y=2 5\n").unwrap();
        let mut input = File::new(
            FileConfig {
                files: vec![path.display().to_string()],
                file_tag: "src".into(),
            },
            DataParser::Influx,
        );
        for _ in 0..2 {
            let mut acc = Accumulator::new(9);
            input.gather(&mut acc).unwrap();
            assert_eq!(acc.metrics().len(), 2);
            assert_eq!(acc.metrics()[0].tags["src"], "m.lp");
            assert_eq!(acc.metrics()[0].time, 9);
        }
    }
}
