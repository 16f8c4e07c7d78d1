//! A node's modes (`--mode`, InfluxDB 3 Enterprise's name): what it does of ingesting,
//! querying and compacting, parsed from a comma-separated list and checked once at
//! start-up.

use std::fmt;
use std::str::FromStr;

/// What a node does. `all` (the default) is ingest and query, the node compacting its
/// own files.
///
/// - **ingest**: takes writes and changes to databases and schemas, persists its rows
///   under its node id's prefix and compacts its own files, unless a compactor is
///   running in the bucket (then it adopts the compactor's outputs instead);
/// - **query**: answers queries. Without `ingest` it answers them over every node's
///   persisted files in the bucket (see `docs/scale-out.md`), and needs a cloud store;
/// - **compact**: merges the small files of every ingest node in the bucket into large
///   ones, which each ingest node adopts (see `engine/compactor.rs`); needs a cloud
///   store, and goes with `query` or alone (an ingest node compacts its own files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeModes {
    /// Takes writes.
    pub ingest: bool,
    /// Answers queries.
    pub query: bool,
    /// Compacts the files of every ingest node in the bucket.
    pub compact: bool,
}

impl NodeModes {
    /// Ingest and query: a node on its own.
    pub const ALL: NodeModes = NodeModes {
        ingest: true,
        query: true,
        compact: false,
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

/// A `--mode` value that names no mode, combines `compact` with `ingest`, or `all` with
/// others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidNodeModes {
    /// Nothing between the commas.
    #[error("no mode given: use all, ingest, query, compact or a comma-separated list of them")]
    Empty,
    /// A name that is not a mode.
    #[error(
        "unknown mode {0:?}: use all, ingest, query, compact or a comma-separated list of them"
    )]
    Unknown(String),
    /// `compact` with `ingest`.
    #[error(
        "mode compact goes alone or with query: an ingest node compacts its own files \
         already, and the compactor must be a node id of its own (run it with --mode compact)"
    )]
    CompactWithIngest,
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
            compact: false,
        };
        for name in &names {
            match name.as_str() {
                "all" if names.len() > 1 => return Err(InvalidNodeModes::AllWithOthers),
                "all" => modes = NodeModes::ALL,
                "ingest" => modes.ingest = true,
                "query" => modes.query = true,
                "compact" => modes.compact = true,
                other => return Err(InvalidNodeModes::Unknown(other.to_owned())),
            }
        }
        if modes.compact && modes.ingest {
            return Err(InvalidNodeModes::CompactWithIngest);
        }
        Ok(modes)
    }
}

impl fmt::Display for NodeModes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == NodeModes::ALL {
            return f.write_str("all");
        }
        let names: Vec<&str> = [
            (self.ingest, "ingest"),
            (self.query, "query"),
            (self.compact, "compact"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes_and_their_combinations() {
        let none = NodeModes {
            ingest: false,
            query: false,
            compact: false,
        };
        let ingest_only = NodeModes {
            ingest: true,
            ..none
        };
        let query_only = NodeModes {
            query: true,
            ..none
        };
        let compact_only = NodeModes {
            compact: true,
            ..none
        };
        let query_compact = NodeModes {
            query: true,
            compact: true,
            ..none
        };
        for (text, modes) in [
            ("all", NodeModes::ALL),
            ("ALL", NodeModes::ALL),
            ("ingest", ingest_only),
            ("query", query_only),
            ("ingest,query", NodeModes::ALL),
            (" query , ingest ", NodeModes::ALL),
            ("query,query", query_only),
            ("compact", compact_only),
            ("compact,query", query_compact),
        ] {
            assert_eq!(text.parse::<NodeModes>(), Ok(modes), "{text}");
        }
        assert_eq!(NodeModes::ALL.to_string(), "all");
        assert_eq!(query_only.to_string(), "query");
        assert_eq!(compact_only.to_string(), "compact");
        assert_eq!(query_compact.to_string(), "query,compact");
        assert!(query_compact.reads_peers());
        assert!(!compact_only.reads_peers());
        assert!(query_only.reads_peers());
        assert!(!NodeModes::ALL.reads_peers());
        assert!(!ingest_only.reads_peers());
    }

    #[test]
    fn refuses_compact_with_ingest_unknown_empty_and_all_with_others() {
        for (text, error) in [
            ("ingest,compact", InvalidNodeModes::CompactWithIngest),
            ("all,compact", InvalidNodeModes::AllWithOthers),
            ("process", InvalidNodeModes::Unknown("process".into())),
            ("", InvalidNodeModes::Empty),
            (" , ", InvalidNodeModes::Empty),
            ("all,query", InvalidNodeModes::AllWithOthers),
        ] {
            assert_eq!(text.parse::<NodeModes>(), Err(error), "{text:?}");
        }
    }
}
