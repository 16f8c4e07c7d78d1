//! `inputs.exec`: runs commands and reads each one's standard output with the configured
//! data format (`influx`, `json`, `value`).

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Deserialize;

use crate::config::ConfigDuration;
use crate::error::{Error, Result};
use crate::parsers::DataParser;
use crate::plugins::{Accumulator, Input};

/// `[[inputs.exec]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecConfig {
    /// Commands to run, split into words with shell-like quoting (no shell is involved).
    /// Default: `[]`.
    pub commands: Vec<String>,
    /// A command still running after this is killed. Default: `"5s"`.
    pub timeout: ConfigDuration,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            commands: Vec::new(),
            timeout: ConfigDuration::secs(5),
        }
    }
}

/// Splits a command line into words: whitespace separates, `'…'` and `"…"` quote,
/// backslash escapes outside single quotes.
pub fn split_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The `exec` input.
#[derive(Debug)]
pub struct Exec {
    config: ExecConfig,
    parser: DataParser,
}

impl Exec {
    /// An exec input reading command output with `parser`.
    pub fn new(config: ExecConfig, parser: DataParser) -> Exec {
        Exec { config, parser }
    }

    fn run(&self, command: &str) -> std::result::Result<Vec<u8>, String> {
        let words = split_words(command);
        let (program, args) = words.split_first().ok_or("empty command")?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {program:?}: {e}"))?;
        let mut stdout = child.stdout.take().ok_or("no stdout")?;
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = stdout.read_to_end(&mut out);
            out
        });
        let deadline = Instant::now() + self.config.timeout.0;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "command timed out after {:?}",
                    self.config.timeout.0
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        let out = reader.join().unwrap_or_default();
        if !status.success() {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut err);
            }
            return Err(format!("{status}: {}", err.trim()));
        }
        Ok(out)
    }
}

impl Input for Exec {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        for command in &self.config.commands {
            match self.run(command).and_then(|out| {
                self.parser
                    .parse(&out, acc.time())
                    .map_err(|e| e.to_string())
            }) {
                Ok(metrics) => metrics.into_iter().for_each(|m| acc.add(m)),
                Err(message) => acc.add_error(format!("exec {command:?}: {message}")),
            }
        }
        if acc.errors().is_empty() {
            Ok(())
        } else {
            Err(Error::Gather {
                plugin: "exec".to_owned(),
                message: format!("{} command(s) failed", acc.errors().len()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words(r#"sh -c 'echo "a b"' x\ y "q\"t""#),
            vec!["sh", "-c", "echo \"a b\"", "x y", "q\"t"]
        );
    }

    #[test]
    fn command_output_is_read_as_line_protocol() {
        let config = ExecConfig {
            commands: vec!["sh -c 'echo \"m,t=a f=1i\"; echo \"n g=2 7\"'".into()],
            ..ExecConfig::default()
        };
        let mut acc = Accumulator::new(100);
        Exec::new(config, DataParser::Influx)
            .gather(&mut acc)
            .unwrap();
        let names: Vec<(&str, i64)> = acc
            .metrics()
            .iter()
            .map(|m| (m.name.as_str(), m.time))
            .collect();
        assert_eq!(names, vec![("m", 100), ("n", 7)]);
    }

    #[test]
    fn failing_and_slow_commands_are_errors() {
        let config = ExecConfig {
            commands: vec!["false".into(), "sleep 5".into()],
            timeout: ConfigDuration(std::time::Duration::from_millis(100)),
        };
        let mut acc = Accumulator::new(1);
        assert!(
            Exec::new(config, DataParser::Influx)
                .gather(&mut acc)
                .is_err()
        );
        assert_eq!(acc.errors().len(), 2);
        assert!(acc.errors()[1].contains("timed out"));
    }

    #[test]
    fn json_and_value_output_is_read_with_the_data_format() {
        use crate::parsers::ParserConfig;
        let json = DataParser::new(
            &ParserConfig {
                data_format: "json".into(),
                tag_keys: vec!["host".into()],
                ..ParserConfig::default()
            },
            "exec",
        )
        .unwrap();
        let config = ExecConfig {
            commands: vec![r#"echo '{"host": "a", "load": {"1m": 0.5}}'"#.into()],
            ..ExecConfig::default()
        };
        let mut acc = Accumulator::new(1);
        Exec::new(config, json).gather(&mut acc).unwrap();
        let m = &acc.metrics()[0];
        assert_eq!((m.name.as_str(), m.tags["host"].as_str()), ("exec", "a"));
        assert_eq!(m.fields, vec![("load_1m".into(), 0.5.into())]);

        let value = DataParser::new(
            &ParserConfig {
                data_format: "value".into(),
                data_type: "integer".into(),
                ..ParserConfig::default()
            },
            "exec",
        )
        .unwrap();
        let config = ExecConfig {
            commands: vec!["echo 42".into(), "echo oops".into()],
            ..ExecConfig::default()
        };
        let mut acc = Accumulator::new(1);
        let _ = Exec::new(config, value).gather(&mut acc);
        assert_eq!(
            acc.metrics()[0].fields,
            vec![("value".into(), 42i64.into())]
        );
        assert!(acc.errors()[0].contains("oops"), "{:?}", acc.errors());
    }
}
