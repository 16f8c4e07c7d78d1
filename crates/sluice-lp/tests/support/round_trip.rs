//! The fuzz check, shared by the cargo-fuzz target and the seed-corpus test: parsing any
//! bytes never panics, and every accepted line encodes to text that parses back to it.

use sluice_lp::{ParseOptions, Parser};

/// Parses `data` and checks every accepted line and every error; panics on a violation.
pub(crate) fn check(data: &[u8]) {
    let physical_lines = 1 + data.iter().filter(|&&b| b == b'\n').count();
    let mut last_line = 0;
    for result in Parser::new(data, ParseOptions::default()) {
        let line_number = match &result {
            Ok(line) => line.line_number,
            Err(e) => e.line,
        };
        assert!(
            line_number > last_line && line_number <= physical_lines,
            "line numbers must rise within 1..={physical_lines}: {last_line} then {line_number}"
        );
        last_line = line_number;
        let line = match result {
            Ok(line) => line,
            Err(e) => {
                assert!(e.column >= 1, "columns are 1-based: {e:?}");
                assert!(!e.text.contains('\n') || e.text.contains('"'), "{e:?}");
                continue;
            }
        };
        let text = line.to_line_protocol();
        let mut again = Parser::new(text.as_bytes(), ParseOptions::default());
        let reparsed = match again.next() {
            Some(Ok(reparsed)) => reparsed,
            other => panic!("{text:?}, the encoding of {line:?}, parses as {other:?}"),
        };
        assert!(again.next().is_none(), "{text:?} holds more than one point");
        assert_eq!(reparsed.measurement, line.measurement, "{text:?}");
        assert_eq!(reparsed.tags, line.tags, "{text:?}");
        assert_eq!(reparsed.fields, line.fields, "{text:?}");
        assert_eq!(reparsed.timestamp, line.timestamp, "{text:?}");
        // Equal text also tells -0.0 from 0.0, which `==` on floats does not.
        assert_eq!(reparsed.to_line_protocol(), text);
    }
}
