//! Every way a write can fail, and the server's per-line rejections parsed from its body.

use std::time::Duration;

use serde_json::Value;

/// One line the server refused, as its error body describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    /// 1-based line number within the request body that carried the line; `None` when
    /// the server's message named no line.
    pub line_number: Option<usize>,
    /// Why, as the server said it.
    pub reason: String,
    /// The line's text when the server echoed it back.
    pub text: Option<String>,
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL given to the client, or one built from it, is not usable.
    #[error("invalid url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// A point could not be encoded as line protocol.
    #[error("cannot encode point: {0}")]
    Encode(#[from] sluice_lp::EncodeError),
    /// The server refused some or all lines (HTTP 400 with a partial-write body).
    /// Lines not listed were written, unless the server wrote nothing at all.
    #[error("server rejected {} line(s): {message}", lines.len().max(1))]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The server's summary message.
        message: String,
        /// The rejected lines, with line numbers relative to the request body.
        lines: Vec<RejectedLine>,
    },
    /// A single line is larger than the server accepts in one request (HTTP 413), so
    /// it cannot be split any further.
    #[error("request body too large for the server even as a single line ({bytes} bytes)")]
    TooLarge { bytes: usize },
    /// The server answered with an error status that is not retried (such as 401, 403,
    /// 404), or with a retryable one after retries ran out.
    #[error("server answered {status}: {message}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// The error message from the body (or the body itself).
        message: String,
        /// The `Retry-After` the server asked for, if any.
        retry_after: Option<Duration>,
    },
    /// The request did not complete: the connection was refused or dropped, or timed out.
    #[error("cannot reach the server: {0}")]
    Transport(String),
    /// A retryable failure kept happening until `max_retries` or `max_retry_time` ran out.
    #[error("giving up after {attempts} attempt(s): {last}")]
    RetriesExhausted { attempts: u32, last: Box<Error> },
    /// The writer's queue is full and its policy is [`QueueFullPolicy::Error`].
    ///
    /// [`QueueFullPolicy::Error`]: crate::QueueFullPolicy::Error
    #[error("write queue full ({queued_points} points queued)")]
    QueueFull { queued_points: usize },
    /// The writer was closed.
    #[error("writer closed")]
    Closed,
    /// The spool directory could not be read or written.
    #[error("spool {path}: {source}")]
    Spool {
        path: String,
        source: std::io::Error,
    },
    /// Some points of a flush or close could not be delivered; see [`WriteFailure`].
    #[error("{0}")]
    Undelivered(Box<WriteFailure>),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True for failures worth another attempt: 429, 5xx (except 501 and 505), and
    /// transport errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Http { status, .. } => {
                *status == 429 || (*status >= 500 && *status != 501 && *status != 505)
            }
            Error::Transport(_) => true,
            _ => false,
        }
    }

    /// The `Retry-After` delay the server asked for, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The rejected lines this error carries (also through [`Error::RetriesExhausted`]).
    pub fn rejected_lines(&self) -> &[RejectedLine] {
        match self {
            Error::Rejected { lines, .. } => lines,
            Error::RetriesExhausted { last, .. } => last.rejected_lines(),
            _ => &[],
        }
    }
}

/// What a flush or close could not deliver.
#[derive(Debug)]
pub struct WriteFailure {
    /// Points the server refused, line by line (not retried).
    pub rejected_points: u64,
    /// Points that could not be delivered at all (retries exhausted, queue full with the
    /// `DropOldest` policy, or no spool to keep them in).
    pub undelivered_points: u64,
    /// The errors, one per failed batch, oldest first (at most 100 are kept).
    pub errors: Vec<Error>,
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} point(s) rejected, {} undelivered",
            self.rejected_points, self.undelivered_points
        )?;
        if let Some(first) = self.errors.first() {
            write!(f, "; first error: {first}")?;
        }
        Ok(())
    }
}

/// Turns an error response into an [`Error`], parsing the v1/v2/v3 body shapes.
pub(crate) fn from_response(status: u16, retry_after: Option<Duration>, body: &str) -> Error {
    let json: Option<Value> = serde_json::from_str(body).ok();
    let message = json
        .as_ref()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("error"))
                .and_then(Value::as_str)
        })
        .map_or_else(|| body.trim().to_owned(), str::to_owned);
    if status == 400 {
        let mut lines = json
            .as_ref()
            .and_then(|v| v.get("data"))
            .and_then(Value::as_array)
            .map(|data| data.iter().filter_map(v3_line).collect::<Vec<_>>())
            .unwrap_or_default();
        if lines.is_empty() {
            lines = message_lines(&message);
        }
        return Error::Rejected {
            status,
            message,
            lines,
        };
    }
    Error::Http {
        status,
        message,
        retry_after,
    }
}

/// One entry of a v3 `data` array.
fn v3_line(entry: &Value) -> Option<RejectedLine> {
    let reason = entry.get("error_message")?.as_str()?.to_owned();
    Some(RejectedLine {
        line_number: entry
            .get("line_number")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok()),
        reason,
        text: entry
            .get("original_line")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// The rejected lines of a v1/v2 message. Understands sluice's and InfluxDB 1.x's
/// `unable to parse 'TEXT': line N, col C: REASON` (one per `\n`-separated part, ending in
/// ` dropped=N`) and InfluxDB 2.x's `line N: REASON`.
fn message_lines(message: &str) -> Vec<RejectedLine> {
    let message = message.strip_prefix("partial write: ").unwrap_or(message);
    let message = match message.rfind(" dropped=") {
        Some(at)
            if message[at + 9..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b' ') =>
        {
            &message[..at]
        }
        _ => message,
    };
    message.split('\n').filter_map(message_line).collect()
}

fn message_line(part: &str) -> Option<RejectedLine> {
    let part = part.trim();
    for prefix in ["unable to parse '", "unable to write '"] {
        if let Some(rest) = part.strip_prefix(prefix)
            && let Some(at) = rest.rfind("': line ")
        {
            let text = rest[..at].to_owned();
            let (line_number, reason) = numbered(&rest[at + 8..])?;
            return Some(RejectedLine {
                line_number: Some(line_number),
                reason,
                text: Some(text),
            });
        }
    }
    let rest = part.strip_prefix("line ")?;
    let (line_number, reason) = numbered(rest)?;
    Some(RejectedLine {
        line_number: Some(line_number),
        reason,
        text: None,
    })
}

/// `N, col C: REASON` or `N: REASON` → (N, reason with the column folded in).
fn numbered(rest: &str) -> Option<(usize, String)> {
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let number = rest[..digits].parse().ok()?;
    let rest = &rest[digits..];
    let reason = if let Some(col) = rest.strip_prefix(", col ") {
        let digits = col.bytes().take_while(u8::is_ascii_digit).count();
        let reason = col[digits..].strip_prefix(": ")?;
        format!("{reason} (column {})", &col[..digits])
    } else {
        rest.strip_prefix(": ")?.to_owned()
    };
    Some((number, reason))
}

/// An error with its causes, which reqwest and the database drivers keep apart
/// (`error sending request: …: connection refused`); a cause already in the text is not
/// repeated.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_partial_write_body_gives_each_line_with_its_number() {
        let body = r#"{"error":"partial write of line protocol occurred","data":[
            {"original_line":"cpu","line_number":2,"error_message":"missing fields (column 4)"},
            {"original_line":"t f=1i","line_number":5,"error_message":"field type conflict"}]}"#;
        let err = from_response(400, None, body);
        let lines = err.rejected_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].line_number, Some(2));
        assert_eq!(lines[0].reason, "missing fields (column 4)");
        assert_eq!(lines[1].text.as_deref(), Some("t f=1i"));
        assert!(!err.is_retryable());
    }

    #[test]
    fn v2_partial_write_message_is_split_into_lines() {
        let body = r#"{"code":"invalid","message":"partial write: unable to parse 'cpu': line 2, col 4: missing fields\nunable to write 't f=1i': line 5: field type conflict: x dropped=2"}"#;
        let err = from_response(400, None, body);
        assert_eq!(
            err.rejected_lines(),
            &[
                RejectedLine {
                    line_number: Some(2),
                    reason: "missing fields (column 4)".into(),
                    text: Some("cpu".into()),
                },
                RejectedLine {
                    line_number: Some(5),
                    reason: "field type conflict: x".into(),
                    text: Some("t f=1i".into()),
                },
            ]
        );
    }

    #[test]
    fn influxdb2_style_line_messages_are_understood() {
        let body = r#"{"code":"invalid","message":"failed to parse line protocol:\nerrors encountered on line(s):\nline 3: invalid field format\nline 7: missing tag value"}"#;
        let err = from_response(400, None, body);
        let numbers: Vec<_> = err.rejected_lines().iter().map(|l| l.line_number).collect();
        assert_eq!(numbers, vec![Some(3), Some(7)]);
    }

    #[test]
    fn overload_statuses_are_retryable_and_client_errors_are_not() {
        for (status, retryable) in [
            (429, true),
            (500, true),
            (503, true),
            (501, false),
            (401, false),
            (404, false),
        ] {
            let err = from_response(status, None, r#"{"error":"x"}"#);
            assert_eq!(err.is_retryable(), retryable, "status {status}");
        }
    }

    #[test]
    fn non_json_bodies_become_the_message() {
        let err = from_response(502, None, "bad gateway\n");
        assert_eq!(err.to_string(), "server answered 502: bad gateway");
    }
}
