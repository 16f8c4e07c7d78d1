//! `outputs.file`: line protocol to standard output or files.

use std::io::Write as _;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::plugins::{BoxFuture, Output};

/// `[[outputs.file]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Where to write: paths, or `"stdout"`. Default: `["stdout"]`.
    pub files: Vec<String>,
    /// The format; only `"influx"` (line protocol). Default: `"influx"`.
    pub data_format: String,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            files: vec!["stdout".to_owned()],
            data_format: "influx".to_owned(),
        }
    }
}

/// The `file` output.
#[derive(Debug)]
pub struct File {
    config: FileConfig,
    name: String,
}

impl File {
    /// A file output.
    ///
    /// # Errors
    /// A `data_format` other than `influx`, the only one outputs write (refused here so
    /// that it is a configuration error at startup, not a failure of every flush).
    pub fn new(config: FileConfig, name: String) -> Result<File, String> {
        if config.data_format != "influx" {
            return Err(format!(
                "`data_format` {:?} is not supported: outputs write only \"influx\"",
                config.data_format
            ));
        }
        Ok(File { config, name })
    }
}

impl Output for File {
    fn write<'a>(&'a mut self, metrics: &'a [Metric]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let text = super::encode(metrics, &self.name);
            for target in &self.config.files {
                if target == "stdout" {
                    let mut out = std::io::stdout().lock();
                    out.write_all(text.as_bytes())
                        .and_then(|()| out.flush())
                        .map_err(|e| Error::io("stdout", e))?;
                } else {
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(target)
                        .map_err(|e| Error::io(target, e))?;
                    f.write_all(text.as_bytes())
                        .map_err(|e| Error::io(target, e))?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn metrics_are_appended_as_line_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.lp");
        let config = FileConfig {
            files: vec![path.display().to_string()],
            ..FileConfig::default()
        };
        let mut file = File::new(config, "file".into()).unwrap();
        let m = Metric::new("m", 5).with_tag("t", "x").with_field("f", 1.5);
        file.write(std::slice::from_ref(&m)).await.unwrap();
        file.write(&[m]).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            "m,t=x f=1.5 5\nm,t=x f=1.5 5\n"
        );
    }

    #[test]
    fn a_data_format_other_than_influx_is_refused_when_built() {
        for format in ["json", "csv"] {
            let config = FileConfig {
                data_format: format.to_owned(),
                ..FileConfig::default()
            };
            let err = File::new(config, "file".into()).unwrap_err();
            assert!(
                err.contains("`data_format`") && err.contains(format),
                "{err}"
            );
        }
    }
}
