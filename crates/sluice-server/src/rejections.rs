//! The recent rejected lines: a bounded ring buffer filled only when a write rejects lines,
//! and `GET /api/v3/rejections` to read it (filtered by database, reason and token).
//!
//! ```text
//! write.rs: PartialWrite ─► Rejections::record (only on rejection) ─► ring of 1,000
//!                                                                        │
//! GET /api/v3/rejections?db=&reason=&limit= ◄── entries the token may read ┘
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;

use crate::auth::Action;
use crate::error::{Error, RejectedLine};
use crate::extract::{Caller, Reply, V3};
use crate::state::AppState;
use crate::time::now_nanos;

/// Entries the ring keeps; older ones are dropped.
pub(crate) const CAPACITY: usize = 1000;
/// Longest line text kept, in bytes (cut at a character boundary, `…` appended).
pub(crate) const MAX_TEXT_BYTES: usize = 4096;
/// Most rejections kept from one request, so that one bad file does not flush the ring.
pub(crate) const MAX_PER_REQUEST: usize = 100;

/// Who sent a write: the peer address (or the first `X-Forwarded-For` hop) and the
/// `User-Agent`. Never fails.
#[derive(Debug, Clone, Default)]
pub(crate) struct Client {
    address: Option<String>,
    user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let forwarded = header("x-forwarded-for")
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Client {
            address: forwarded.or(peer),
            user_agent: header(header::USER_AGENT.as_str()).map(|v| truncate(v, 256)),
        })
    }
}

/// One rejected line as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Rejection {
    /// Increases by one per recorded line; clients ask for `after=ID` to get only new ones.
    id: u64,
    /// When it was rejected, nanoseconds since the epoch.
    time_ns: i64,
    database: String,
    client_address: Option<String>,
    user_agent: Option<String>,
    line_number: usize,
    column: Option<usize>,
    reason: String,
    /// The rule broken, without details (`field type conflict`, `missing fields`).
    kind: &'static str,
    text: String,
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Rejection>,
    next_id: u64,
}

/// The ring buffer of recent rejections.
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    ring: Mutex<Ring>,
}

impl Rejections {
    /// Keeps up to [`MAX_PER_REQUEST`] of `lines` rejected from one write to `database`.
    pub(crate) fn record(&self, database: &str, client: &Client, lines: &[RejectedLine]) {
        if lines.is_empty() {
            return;
        }
        let time_ns = now_nanos();
        let mut ring = self.ring.lock().expect("rejections lock poisoned");
        for line in lines.iter().take(MAX_PER_REQUEST) {
            let id = ring.next_id;
            ring.next_id += 1;
            if ring.entries.len() == CAPACITY {
                ring.entries.pop_front();
            }
            ring.entries.push_back(Rejection {
                id,
                time_ns,
                database: database.to_owned(),
                client_address: client.address.clone(),
                user_agent: client.user_agent.clone(),
                line_number: line.line_number,
                column: line.column,
                kind: line.reason.kind(),
                reason: truncate(&line.reason.to_string(), MAX_TEXT_BYTES),
                text: truncate(&line.text, MAX_TEXT_BYTES),
            });
        }
    }

    /// The newest entries first, at most `limit`, that pass `keep`; and how many entries of
    /// each kind pass `visible` (the filter without the reason).
    fn read(
        &self,
        limit: usize,
        after: Option<u64>,
        visible: impl Fn(&Rejection) -> bool,
        keep: impl Fn(&Rejection) -> bool,
    ) -> (Vec<Rejection>, BTreeMap<&'static str, u64>, u64) {
        let ring = self.ring.lock().expect("rejections lock poisoned");
        let mut kinds = BTreeMap::new();
        for entry in ring.entries.iter().filter(|e| visible(e)) {
            *kinds.entry(entry.kind).or_default() += 1;
        }
        let entries = ring
            .entries
            .iter()
            .rev()
            .filter(|e| after.is_none_or(|a| e.id > a))
            .filter(|e| visible(e) && keep(e))
            .take(limit)
            .cloned()
            .collect();
        (entries, kinds, ring.next_id)
    }
}

/// The reason's kind: the text before its first `:` or ` (`.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// `GET /api/v3/rejections?db=&reason=&after=&limit=`: the newest rejected lines the token
/// may read (`read` on their database), newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller {
        params, principal, ..
    }: Caller<V3>,
) -> Reply<V3> {
    let db = params.non_empty("db");
    if let Some(db) = db {
        principal.require(db, Action::Read)?;
    }
    let reason = params.non_empty("reason").map(str::to_lowercase);
    let limit =
        match params.non_empty("limit") {
            None => CAPACITY,
            Some(v) => v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                Error::InvalidParameter {
                    name: "limit",
                    reason: format!("expected a positive integer, got {v:?}"),
                }
            })?,
        };
    let after = match params.non_empty("after") {
        None => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| Error::InvalidParameter {
            name: "after",
            reason: format!("expected an entry id, got {v:?}"),
        })?),
    };
    let (entries, kinds, next_id) = state.inner.rejections.read(
        limit,
        after,
        |e| db.is_none_or(|d| e.database == d) && principal.can(&e.database, Action::Read),
        |e| {
            reason
                .as_deref()
                .is_none_or(|r| e.kind.to_lowercase() == r || e.reason.to_lowercase().contains(r))
        },
    );
    Ok(Json(json!({
        "rejections": entries,
        "kinds": kinds,
        "next_id": next_id,
        "capacity": CAPACITY,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Reason;
    use sluice_lp::ErrorKind;

    fn line(number: usize, reason: ErrorKind) -> RejectedLine {
        RejectedLine {
            line_number: number,
            column: None,
            reason: Reason::Parse(reason),
            text: format!("line {number}"),
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_entries_up_to_its_capacity() {
        let rejections = Rejections::default();
        for i in 0..(CAPACITY + 5) {
            rejections.record(
                "db",
                &Client::default(),
                &[line(i, ErrorKind::MissingFields)],
            );
        }
        let (entries, kinds, next_id) = rejections.read(usize::MAX, None, |_| true, |_| true);
        assert_eq!(entries.len(), CAPACITY);
        assert_eq!(entries[0].line_number, CAPACITY + 4);
        assert_eq!(entries.last().unwrap().line_number, 5);
        assert_eq!(kinds["missing fields"], CAPACITY as u64);
        assert_eq!(next_id, (CAPACITY + 5) as u64);
    }

    #[test]
    fn one_request_keeps_at_most_its_share_and_long_text_is_cut() {
        let rejections = Rejections::default();
        let mut lines: Vec<_> = (0..500)
            .map(|i| line(i, ErrorKind::MissingFields))
            .collect();
        lines[0].text = "é".repeat(MAX_TEXT_BYTES);
        rejections.record("db", &Client::default(), &lines);
        let (entries, _, _) = rejections.read(usize::MAX, None, |_| true, |_| true);
        assert_eq!(entries.len(), MAX_PER_REQUEST);
        let first = entries.last().unwrap();
        assert!(first.text.len() <= MAX_TEXT_BYTES + '…'.len_utf8());
        assert!(first.text.ends_with('…'));
    }

    #[test]
    fn after_returns_only_newer_entries() {
        let rejections = Rejections::default();
        rejections.record(
            "a",
            &Client::default(),
            &[
                line(1, ErrorKind::MissingFields),
                line(2, ErrorKind::EmptyTagKey),
            ],
        );
        rejections.record(
            "b",
            &Client::default(),
            &[line(3, ErrorKind::MissingFields)],
        );
        let (entries, _, _) = rejections.read(10, Some(0), |_| true, |_| true);
        assert_eq!(
            entries.iter().map(|e| e.line_number).collect::<Vec<_>>(),
            [3, 2]
        );
        let (entries, kinds, _) = rejections.read(10, None, |e| e.database == "a", |_| true);
        assert_eq!(entries.len(), 2);
        assert_eq!(kinds.len(), 2);
    }
}
