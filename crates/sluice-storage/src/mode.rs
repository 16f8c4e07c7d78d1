//! A node's modes (`--mode`, InfluxDB 3 Enterprise's name): what it does of ingesting
//! and querying, parsed from a comma-separated list and checked once at start-up.

use std::fmt;
use std::str::FromStr;

/// What a node does. `all` (the default) is ingest and query; `compact` is refused when
/// parsed (one compactor for every node does not exist yet: each ingest node compacts
/// its own files).
///
/// - **ingest**: takes writes and changes to databases and schemas, persists its rows
///   under its node id's prefix and compacts its own files;
/// - **query**: answers queries. Without `ingest` it answers them over every node's
///   persisted files in the bucket (see `docs/scale-out.md`), and needs a cloud store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeModes {
    /// Takes writes.
    pub ingest: bool,
    /// Answers queries.
    pub query: bool,
}

impl NodeModes {
    /// Ingest and query: a node on its own.
    pub const ALL: NodeModes = NodeModes {
        ingest: true,
        query: true,
    };

    /// Whether this node reads every node's files in the bucket: a query node that does
    /// not ingest (one that ingests answers from its own data, as a lone node does).
    pub fn reads_peers(self) -> bool {
        self.query && !self.ingest
    }
}

impl Default for NodeModes {
    fn default() -> Self {
        NodeModes::ALL
    }
}

/// A `--mode` value that names no mode, names `compact`, or combines `all` with others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidNodeModes {
    /// Nothing between the commas.
    #[error("no mode given: use all, ingest, query or a comma-separated list of them")]
    Empty,
    /// A name that is not a mode.
    #[error("unknown mode {0:?}: use all, ingest, query or a comma-separated list of them")]
    Unknown(String),
    /// `compact`, which does not exist yet.
    #[error(
        "mode compact is not available yet: there is no separate compactor, each ingest \
         node compacts its own files (run it with --mode ingest or all)"
    )]
    CompactNotAvailable,
    /// `all` with another mode.
    #[error("mode all already includes every mode: give it alone")]
    AllWithOthers,
}

impl FromStr for NodeModes {
    type Err = InvalidNodeModes;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let names: Vec<String> = text
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return Err(InvalidNodeModes::Empty);
        }
        let mut modes = NodeModes {
            ingest: false,
            query: false,
        };
        for name in &names {
            match name.as_str() {
                "all" if names.len() > 1 => return Err(InvalidNodeModes::AllWithOthers),
                "all" => modes = NodeModes::ALL,
                "ingest" => modes.ingest = true,
                "query" => modes.query = true,
                "compact" => return Err(InvalidNodeModes::CompactNotAvailable),
                other => return Err(InvalidNodeModes::Unknown(other.to_owned())),
            }
        }
        Ok(modes)
    }
}

impl fmt::Display for NodeModes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.ingest, self.query) {
            (true, true) => "all",
            (true, false) => "ingest",
            (false, true) => "query",
            (false, false) => "none",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes_and_their_combinations() {
        let ingest_only = NodeModes {
            ingest: true,
            query: false,
        };
        let query_only = NodeModes {
            ingest: false,
            query: true,
        };
        for (text, modes) in [
            ("all", NodeModes::ALL),
            ("ALL", NodeModes::ALL),
            ("ingest", ingest_only),
            ("query", query_only),
            ("ingest,query", NodeModes::ALL),
            (" query , ingest ", NodeModes::ALL),
            ("query,query", query_only),
        ] {
            assert_eq!(text.parse::<NodeModes>(), Ok(modes), "{text}");
        }
        assert_eq!(NodeModes::ALL.to_string(), "all");
        assert_eq!(query_only.to_string(), "query");
        assert!(query_only.reads_peers());
        assert!(!NodeModes::ALL.reads_peers());
        assert!(!ingest_only.reads_peers());
    }

    #[test]
    fn refuses_compact_unknown_empty_and_all_with_others() {
        for (text, error) in [
            ("compact", InvalidNodeModes::CompactNotAvailable),
            ("ingest,compact", InvalidNodeModes::CompactNotAvailable),
            ("process", InvalidNodeModes::Unknown("process".into())),
            ("", InvalidNodeModes::Empty),
            (" , ", InvalidNodeModes::Empty),
            ("all,query", InvalidNodeModes::AllWithOthers),
        ] {
            assert_eq!(text.parse::<NodeModes>(), Err(error), "{text:?}");
        }
    }
}
