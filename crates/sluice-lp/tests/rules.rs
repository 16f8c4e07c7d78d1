//! One table-driven test per rule of line protocol as sluice reads it: escaping, field
//! types, timestamps and precision, line structure, and every way a line is rejected.

use sluice_lp::{ErrorKind, FieldValue, Line, ParseError, ParseOptions, Parser, Precision};

/// A parsed point with owned data, so tables can hold expected values.
#[derive(Debug, Clone, PartialEq)]
struct Owned {
    line: usize,
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, FieldValue<'static>)>,
    timestamp: Option<i64>,
}

fn owned(line: &Line<'_>) -> Owned {
    Owned {
        line: line.line_number,
        measurement: line.measurement.to_string(),
        tags: line
            .tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        fields: line
            .fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone().into_owned()))
            .collect(),
        timestamp: line.timestamp,
    }
}

fn parse_with(input: &str, options: ParseOptions) -> Vec<Result<Owned, ParseError>> {
    Parser::new(input.as_bytes(), options)
        .map(|r| r.map(|l| owned(&l)))
        .collect()
}

fn parse(input: &str) -> Vec<Result<Owned, ParseError>> {
    parse_with(input, ParseOptions::default())
}

/// The only point of `input`, which must be accepted.
fn accept(input: &str) -> Owned {
    let mut got = parse(input);
    assert_eq!(got.len(), 1, "{input:?} gave {got:?}");
    got.remove(0)
        .unwrap_or_else(|e| panic!("{input:?} rejected: {e}"))
}

/// The only point of `input`, which must be rejected.
fn reject(input: &str) -> ParseError {
    reject_with(input, ParseOptions::default())
}

fn reject_with(input: &str, options: ParseOptions) -> ParseError {
    let mut got = parse_with(input, options);
    assert_eq!(got.len(), 1, "{input:?} gave {got:?}");
    match got.remove(0) {
        Ok(line) => panic!("{input:?} accepted as {line:?}"),
        Err(e) => e,
    }
}

fn s(v: &str) -> FieldValue<'static> {
    FieldValue::String(v.to_owned().into())
}

#[test]
fn escapes_in_names_decode_as_documented() {
    /// (input, measurement, tags, field key)
    type Case = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
    );
    let cases: &[Case] = &[
        (r"a\ b f=1", "a b", &[], "f"),
        (r"a\,b f=1", "a,b", &[], "f"),
        // `=` does not end a measurement, so its backslash stays.
        (r"a\=b f=1", r"a\=b", &[], "f"),
        (r"a=b f=1", "a=b", &[], "f"),
        // A backslash before an ordinary character is kept.
        (r"a\b f=1", r"a\b", &[], "f"),
        (r"a\\b f=1", r"a\\b", &[], "f"),
        // A run of backslashes before a special character loses one backslash.
        (r"a\\ b f=1", r"a\ b", &[], "f"),
        (r"a\\\,b f=1", r"a\\,b", &[], "f"),
        (r"m,k\ 1=v\ 1 f=1", "m", &[("k 1", "v 1")], "f"),
        (r"m,k\,1=v\,1 f=1", "m", &[("k,1", "v,1")], "f"),
        (r"m,k\=1=v\=1 f=1", "m", &[("k=1", "v=1")], "f"),
        (r"m,k\x=v\\y f=1", "m", &[(r"k\x", r"v\\y")], "f"),
        (r"m f\ 1=1", "m", &[], "f 1"),
        (r"m f\,1=1", "m", &[], "f,1"),
        (r"m f\=1=1", "m", &[], "f=1"),
        (r"m f\n=1", "m", &[], r"f\n"),
        // Quotes in names are ordinary characters.
        (
            r#"m"x,t"="v" f"=1"#,
            r#"m"x"#,
            &[(r#"t""#, r#""v""#)],
            r#"f""#,
        ),
        ("mé,clé=vàl fé=1", "mé", &[("clé", "vàl")], "fé"),
        // An escaped multi-byte character is itself.
        (r"m\é f=1", r"m\é", &[], "f"),
    ];
    for &(input, measurement, tags, field) in cases {
        let got = accept(input);
        assert_eq!(got.measurement, measurement, "{input}");
        let tags: Vec<(String, String)> = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got.tags, tags, "{input}");
        assert_eq!(got.fields.len(), 1, "{input}");
        assert_eq!(got.fields[0].0, field, "{input}");
    }
}

#[test]
fn quoted_strings_unescape_only_quote_and_backslash() {
    let cases = [
        (r#"m f="""#, ""),
        (r#"m f="a""#, "a"),
        (r#"m f="say \"hi\"""#, r#"say "hi""#),
        (r#"m f="back\\slash""#, r"back\slash"),
        (r#"m f="\\""#, r"\"),
        (r#"m f="\\\"""#, r#"\""#),
        (r#"m f="a\nb""#, r"a\nb"),
        (r#"m f="a\tb\q""#, r"a\tb\q"),
        // Separators and `=` inside a string are ordinary.
        (r#"m f="a, b=c d""#, "a, b=c d"),
        (r#"m f="日本""#, "日本"),
    ];
    for (input, want) in cases {
        assert_eq!(accept(input).fields[0].1, s(want), "{input}");
    }
}

#[test]
fn raw_newlines_in_strings_belong_to_the_point_and_count_as_lines() {
    let input = "m f=\"one\ntwo\r\nthree\" 1\nm g=2i\n\nm h=\"\n\" 3\nm k=4i\n";
    let got: Vec<Owned> = parse(input).into_iter().map(Result::unwrap).collect();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].fields[0].1, s("one\ntwo\r\nthree"));
    assert_eq!(got[0].line, 1);
    assert_eq!(got[0].timestamp, Some(1));
    assert_eq!(got[1].line, 4);
    assert_eq!(got[2].line, 6);
    assert_eq!(got[2].fields[0].1, s("\n"));
    assert_eq!(got[3].line, 8);
}

#[test]
fn numbers_parse_by_their_suffix() {
    let cases = [
        ("1", FieldValue::Float(1.0)),
        ("-1.5", FieldValue::Float(-1.5)),
        ("1.", FieldValue::Float(1.0)),
        (".5", FieldValue::Float(0.5)),
        ("-.5", FieldValue::Float(-0.5)),
        ("-0", FieldValue::Float(-0.0)),
        ("0.0", FieldValue::Float(0.0)),
        ("1e3", FieldValue::Float(1000.0)),
        ("1E3", FieldValue::Float(1000.0)),
        ("1e+3", FieldValue::Float(1000.0)),
        ("1.5e-3", FieldValue::Float(0.0015)),
        ("-2.5E+2", FieldValue::Float(-250.0)),
        (".5e1", FieldValue::Float(5.0)),
        ("1.e1", FieldValue::Float(10.0)),
        ("007", FieldValue::Float(7.0)),
        ("1e-400", FieldValue::Float(0.0)),
        ("1.7976931348623157e308", FieldValue::Float(f64::MAX)),
        ("0i", FieldValue::Integer(0)),
        ("-0i", FieldValue::Integer(0)),
        ("42i", FieldValue::Integer(42)),
        ("-42i", FieldValue::Integer(-42)),
        ("9223372036854775807i", FieldValue::Integer(i64::MAX)),
        ("-9223372036854775808i", FieldValue::Integer(i64::MIN)),
        ("0u", FieldValue::UInteger(0)),
        ("42u", FieldValue::UInteger(42)),
        ("18446744073709551615u", FieldValue::UInteger(u64::MAX)),
    ];
    for (text, want) in cases {
        let got = accept(&format!("m f={text}"));
        assert_eq!(got.fields[0].1, want, "{text}");
        if let (FieldValue::Float(a), FieldValue::Float(b)) = (&got.fields[0].1, &want) {
            assert_eq!(a.to_bits(), b.to_bits(), "{text}: sign of zero");
        }
    }
}

#[test]
fn every_boolean_spelling_is_accepted_and_others_are_not() {
    for text in ["t", "T", "true", "True", "TRUE"] {
        assert_eq!(
            accept(&format!("m f={text}")).fields[0].1,
            FieldValue::Boolean(true),
            "{text}"
        );
    }
    for text in ["f", "F", "false", "False", "FALSE"] {
        assert_eq!(
            accept(&format!("m f={text}")).fields[0].1,
            FieldValue::Boolean(false),
            "{text}"
        );
    }
    for text in ["tRUE", "yes", "tru", "falsey", "fALSE", "on"] {
        let err = reject(&format!("m f={text}"));
        assert_eq!(
            err.kind,
            ErrorKind::InvalidFieldValue {
                key: "f".into(),
                value: text.into()
            },
            "{text}"
        );
    }
}

#[test]
fn the_timestamp_is_optional() {
    let cases = [
        ("m f=1", None),
        ("m f=1 ", None),
        ("m f=1 0", Some(0)),
        ("m f=1 -1", Some(-1)),
        ("m f=1 1700000000000000000", Some(1_700_000_000_000_000_000)),
        ("m f=1   42  ", Some(42)),
        ("m f=1 9223372036854775807", Some(i64::MAX)),
        ("m f=1 -9223372036854775808", Some(i64::MIN)),
    ];
    for (input, want) in cases {
        assert_eq!(accept(input).timestamp, want, "{input:?}");
    }
}

#[test]
fn comments_and_blank_lines_are_skipped_but_counted() {
    let input = "# a comment\n\n   \nm f=1\n  # indented comment\n#\nm f=2\n\n";
    let got: Vec<Owned> = parse(input).into_iter().map(Result::unwrap).collect();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].line, got[1].line), (4, 7));
    assert!(parse("").is_empty());
    assert!(parse("\n\n# only comments\r\n").is_empty());
}

#[test]
fn lines_end_with_lf_or_crlf_and_the_last_needs_no_ending() {
    let cases = [
        "m f=1\nm f=2",
        "m f=1\nm f=2\n",
        "m f=1\r\nm f=2\r\n",
        "m f=1\r\nm f=2",
        "m f=1 5\r\nm f=2\r",
    ];
    for input in cases {
        let got: Vec<Owned> = parse(input)
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("{input:?}: {e}")))
            .collect();
        assert_eq!(got.len(), 2, "{input:?}");
        assert_eq!(got[1].fields[0].1, FieldValue::Float(2.0), "{input:?}");
        assert_eq!(got[1].line, 2, "{input:?}");
    }
}

#[test]
fn a_repeated_field_key_keeps_the_last_value() {
    let got = accept("m a=1,b=2i,a=\"x\",c=t,b=3i");
    assert_eq!(
        got.fields,
        vec![
            ("a".to_string(), s("x")),
            ("c".to_string(), FieldValue::Boolean(true)),
            ("b".to_string(), FieldValue::Integer(3)),
        ]
    );
}

#[test]
fn tags_come_back_sorted_by_key() {
    let got = accept("m,z=1,a=2,m=3 f=1");
    let keys: Vec<&str> = got.tags.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "m", "z"]);
}

/// (input, column, kind); each input is one rejected line.
fn error_cases() -> Vec<(&'static str, usize, ErrorKind)> {
    let key = |k: &str| k.to_string();
    vec![
        ("m", 2, ErrorKind::MissingFields),
        ("m ", 3, ErrorKind::MissingFields),
        ("m,t=1", 6, ErrorKind::MissingFields),
        ("m,t=1  ", 8, ErrorKind::MissingFields),
        (",t=1 f=1", 1, ErrorKind::MissingMeasurement),
        (
            "m,t=1,t=2 f=1",
            2,
            ErrorKind::DuplicateTagKey { key: key("t") },
        ),
        (
            "m,b=1,a=2,b=3 f=1",
            2,
            ErrorKind::DuplicateTagKey { key: key("b") },
        ),
        ("m,t= f=1", 5, ErrorKind::EmptyTagValue { key: key("t") }),
        (
            "m,t=,u=1 f=1",
            5,
            ErrorKind::EmptyTagValue { key: key("t") },
        ),
        ("m,=1 f=1", 3, ErrorKind::EmptyTagKey),
        ("m,t f=1", 4, ErrorKind::MissingTagValue { key: key("t") }),
        ("m =1", 3, ErrorKind::EmptyFieldKey),
        ("m f=1,=2", 7, ErrorKind::EmptyFieldKey),
        ("m f=1,", 7, ErrorKind::EmptyFieldKey),
        ("m f", 4, ErrorKind::MissingFieldValue { key: key("f") }),
        ("m f=", 5, ErrorKind::MissingFieldValue { key: key("f") }),
        (
            "m f=,g=1",
            5,
            ErrorKind::MissingFieldValue { key: key("f") },
        ),
        (
            "m f=1.2.3",
            5,
            ErrorKind::InvalidNumber {
                key: key("f"),
                value: "1.2.3".into(),
            },
        ),
        (
            "m f=1e",
            5,
            ErrorKind::InvalidNumber {
                key: key("f"),
                value: "1e".into(),
            },
        ),
        (
            "m f=.",
            5,
            ErrorKind::InvalidNumber {
                key: key("f"),
                value: ".".into(),
            },
        ),
        (
            "m f=-",
            5,
            ErrorKind::InvalidNumber {
                key: key("f"),
                value: "-".into(),
            },
        ),
        (
            "m f=1.5i",
            5,
            ErrorKind::InvalidNumber {
                key: key("f"),
                value: "1.5i".into(),
            },
        ),
        (
            "m f=-1u",
            5,
            ErrorKind::InvalidNumber {
                key: key("f"),
                value: "-1u".into(),
            },
        ),
        (
            "m f=1x",
            5,
            ErrorKind::InvalidNumber {
                key: key("f"),
                value: "1x".into(),
            },
        ),
        (
            "m f=+1",
            5,
            ErrorKind::InvalidFieldValue {
                key: key("f"),
                value: "+1".into(),
            },
        ),
        (
            "m f=abc",
            5,
            ErrorKind::InvalidFieldValue {
                key: key("f"),
                value: "abc".into(),
            },
        ),
        ("m f=NaN", 5, ErrorKind::NonFiniteFloat { key: key("f") }),
        ("m f=nan", 5, ErrorKind::NonFiniteFloat { key: key("f") }),
        ("m f=-NaN", 5, ErrorKind::NonFiniteFloat { key: key("f") }),
        ("m f=Inf", 5, ErrorKind::NonFiniteFloat { key: key("f") }),
        ("m f=+inf", 5, ErrorKind::NonFiniteFloat { key: key("f") }),
        ("m f=-Inf", 5, ErrorKind::NonFiniteFloat { key: key("f") }),
        (
            "m f=Infinity",
            5,
            ErrorKind::NonFiniteFloat { key: key("f") },
        ),
        (
            "m f=9223372036854775808i",
            5,
            ErrorKind::NumberOutOfRange {
                key: key("f"),
                value: "9223372036854775808i".into(),
            },
        ),
        (
            "m f=-9223372036854775809i",
            5,
            ErrorKind::NumberOutOfRange {
                key: key("f"),
                value: "-9223372036854775809i".into(),
            },
        ),
        (
            "m f=18446744073709551616u",
            5,
            ErrorKind::NumberOutOfRange {
                key: key("f"),
                value: "18446744073709551616u".into(),
            },
        ),
        (
            "m f=1e309",
            5,
            ErrorKind::NumberOutOfRange {
                key: key("f"),
                value: "1e309".into(),
            },
        ),
        (
            "m f=\"abc",
            5,
            ErrorKind::UnterminatedString {
                key: key("f"),
                lines: 0,
            },
        ),
        (
            "m f=\"abc\\\"",
            5,
            ErrorKind::UnterminatedString {
                key: key("f"),
                lines: 0,
            },
        ),
        ("m\\", 3, ErrorKind::BadEscape),
        ("m,t=a\\", 7, ErrorKind::BadEscape),
        ("m f\\", 5, ErrorKind::BadEscape),
        (
            "m f=1 12a",
            7,
            ErrorKind::InvalidTimestamp {
                value: "12a".into(),
            },
        ),
        (
            "m f=1 1.5",
            7,
            ErrorKind::InvalidTimestamp {
                value: "1.5".into(),
            },
        ),
        (
            "m f=1 9223372036854775808",
            7,
            ErrorKind::TimestampOutOfRange {
                value: "9223372036854775808".into(),
            },
        ),
        ("m f=1 1 2", 9, ErrorKind::TrailingText),
        (
            "m,t=a=b f=1",
            6,
            ErrorKind::UnexpectedCharacter {
                found: b'=',
                context: "in tag value (escape it as \\=)",
            },
        ),
        (
            "m f=\"a\"b",
            8,
            ErrorKind::UnexpectedCharacter {
                found: b'b',
                context: "after field value",
            },
        ),
        (
            "\tm f=1",
            1,
            ErrorKind::UnexpectedCharacter {
                found: b'\t',
                context: "at start of measurement",
            },
        ),
    ]
}

#[test]
fn each_malformed_line_is_rejected_with_its_reason_and_column() {
    for (input, column, kind) in error_cases() {
        let err = reject(input);
        assert_eq!(err.kind, kind, "{input:?}");
        assert_eq!(err.column, column, "{input:?}: {err}");
        assert_eq!(err.line, 1, "{input:?}");
        assert_eq!(err.text, input, "{input:?}");
    }
}

#[test]
fn a_rejected_line_does_not_stop_the_lines_after_it() {
    for (bad, _, kind) in error_cases() {
        if matches!(kind, ErrorKind::UnterminatedString { .. }) {
            // An open string runs on over the lines after it, by design.
            continue;
        }
        let input = format!("m ok=1i\n{bad}\nm ok=2i\r\n{bad}\r\nm ok=3i");
        let got = parse(&input);
        assert_eq!(got.len(), 5, "{bad:?}: {got:?}");
        for (i, want) in [(0, 1), (2, 2), (4, 3)] {
            let line = got[i].as_ref().unwrap_or_else(|e| panic!("{bad:?}: {e}"));
            assert_eq!(line.fields[0].1, FieldValue::Integer(want), "{bad:?}");
            assert_eq!(line.line, i + 1, "{bad:?}");
        }
        for i in [1, 3] {
            let err = got[i].as_ref().unwrap_err();
            assert_eq!(err.line, i + 1, "{bad:?}");
            assert_eq!(err.text, bad, "{bad:?}");
        }
    }
}

#[test]
fn errors_after_a_multi_line_string_report_the_right_line_and_column() {
    let input = "m s=\"a\nb\" 1\n  m,t=1,t=2 f=1\nm s=\"x\ny\",f=bad\nm ok=1i\n";
    let got = parse(input);
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0].as_ref().unwrap().line, 1);
    let dup = got[1].as_ref().unwrap_err();
    assert_eq!(dup.line, 3);
    // Columns count from the start of the physical line, leading spaces included.
    assert_eq!(dup.column, 4);
    assert_eq!(dup.text, "  m,t=1,t=2 f=1");
    let bad = got[2].as_ref().unwrap_err();
    assert_eq!(bad.line, 4);
    assert_eq!(bad.column, "m s=\"x\ny\",f=".len() + 1);
    assert_eq!(bad.text, "m s=\"x\ny\",f=bad");
    assert_eq!(got[3].as_ref().unwrap().line, 6);
    assert_eq!(
        dup.to_string(),
        "line 3, col 4: duplicate tag key \"t\"",
        "display"
    );
}

#[test]
fn a_string_left_open_takes_the_rest_of_the_input_and_says_how_many_lines() {
    let got = parse("ok v=1 1\nbad,t=x s=\"open\r\nok v=2 2\nok v=3 3\n");
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].is_ok());
    let err = got[1].as_ref().unwrap_err();
    assert_eq!(err.line, 2);
    // Only the first physical line is quoted: the rest of a large body is not.
    assert_eq!(err.text, "bad,t=x s=\"open");
    assert_eq!(
        err.to_string(),
        "line 2, col 11: unterminated string for field \"s\": it runs to the end of the body, taking the 2 lines after it"
    );
    // Another error first on the line: still only its first line.
    let got = parse("m,t=1,t=2 s=\"open\nnext v=1\n");
    let err = got[0].as_ref().unwrap_err();
    assert_eq!(err.text, "m,t=1,t=2 s=\"open");
    assert!(err.to_string().contains("duplicate tag key"), "{err}");
    // On one line, nothing more is said.
    assert_eq!(
        reject("m s=\"open").kind.to_string(),
        "unterminated string for field \"s\""
    );
}

#[test]
fn error_columns_count_bytes_not_characters() {
    let err = reject("mé f=x");
    assert_eq!(err.column, 7);
}

#[test]
fn invalid_utf8_is_rejected_where_it_starts() {
    let input = b"m\xff f=1\nm f=\"a\xc3\"\nm ok=1i";
    let got: Vec<_> = Parser::new(input, ParseOptions::default()).collect();
    assert_eq!(got.len(), 3);
    let first = got[0].as_ref().unwrap_err();
    assert_eq!(
        (first.kind.clone(), first.column),
        (ErrorKind::InvalidUtf8, 2)
    );
    assert_eq!(first.text, "m\u{fffd} f=1");
    let second = got[1].as_ref().unwrap_err();
    assert_eq!(
        (second.kind.clone(), second.column),
        (ErrorKind::InvalidUtf8, 7)
    );
    assert!(got[2].is_ok());
}

#[test]
fn timestamps_scale_by_precision() {
    let cases = [
        (Precision::Nanosecond, "7", Some(7)),
        (Precision::Microsecond, "7", Some(7_000)),
        (Precision::Millisecond, "7", Some(7_000_000)),
        (Precision::Second, "7", Some(7_000_000_000)),
        (Precision::Minute, "7", Some(420_000_000_000)),
        (Precision::Hour, "7", Some(25_200_000_000_000)),
        (Precision::Second, "-2", Some(-2_000_000_000)),
        (
            Precision::Auto,
            "1700000000",
            Some(1_700_000_000_000_000_000),
        ),
        (
            Precision::Auto,
            "1700000000000",
            Some(1_700_000_000_000_000_000),
        ),
        (
            Precision::Auto,
            "1700000000000000",
            Some(1_700_000_000_000_000_000),
        ),
        (
            Precision::Auto,
            "1700000000000000000",
            Some(1_700_000_000_000_000_000),
        ),
        (
            Precision::Second,
            "9223372036",
            Some(9_223_372_036_000_000_000),
        ),
    ];
    for (precision, ts, want) in cases {
        let options = ParseOptions {
            precision,
            ..ParseOptions::default()
        };
        let got = parse_with(&format!("m f=1 {ts}"), options);
        assert_eq!(got[0].as_ref().unwrap().timestamp, want, "{precision} {ts}");
    }
}

#[test]
fn timestamps_beyond_int64_nanoseconds_after_scaling_are_rejected() {
    let cases = [
        (Precision::Second, "9223372036854775807"),
        (Precision::Second, "9223372037"),
        (Precision::Millisecond, "-9223372036855"),
        (Precision::Microsecond, "9223372036854776"),
        (Precision::Hour, "2562048"),
        (Precision::Nanosecond, "9223372036854775808"),
        (Precision::Nanosecond, "-9223372036854775809"),
        (Precision::Auto, "99999999999999999999"),
    ];
    for (precision, ts) in cases {
        let options = ParseOptions {
            precision,
            ..ParseOptions::default()
        };
        let err = reject_with(&format!("m f=1 {ts}"), options);
        assert_eq!(
            err.kind,
            ErrorKind::TimestampOutOfRange { value: ts.into() },
            "{precision} {ts}"
        );
        assert_eq!(err.column, 7);
    }
}

#[test]
fn lines_without_time_get_the_default_time_truncated_to_the_precision() {
    let now = 1_700_000_123_456_789_012;
    let cases = [
        (Precision::Nanosecond, now),
        (Precision::Microsecond, 1_700_000_123_456_789_000),
        (Precision::Millisecond, 1_700_000_123_456_000_000),
        (Precision::Second, 1_700_000_123_000_000_000),
        (Precision::Auto, now),
    ];
    for (precision, want) in cases {
        let options = ParseOptions {
            precision,
            default_time: Some(now),
            ..ParseOptions::default()
        };
        let got = parse_with("m f=1\nm f=1 5", options);
        assert_eq!(
            got[0].as_ref().unwrap().timestamp,
            Some(want),
            "{precision}"
        );
        // A written timestamp is never replaced.
        assert_ne!(
            got[1].as_ref().unwrap().timestamp,
            Some(want),
            "{precision}"
        );
    }
}

#[test]
fn a_default_time_at_the_edge_of_int64_does_not_overflow() {
    for precision in [Precision::Microsecond, Precision::Hour] {
        let options = ParseOptions {
            precision,
            default_time: Some(i64::MIN),
            ..ParseOptions::default()
        };
        let got = parse_with("m f=1", options);
        let ts = got[0].as_ref().unwrap().timestamp.unwrap();
        let unit = precision.nanos_per_unit().unwrap();
        assert_eq!(ts % unit, 0, "{precision}: {ts}");
        assert!(ts - i64::MIN < unit, "{precision}: {ts}");
    }
}

#[test]
fn line_and_name_limits_are_configurable() {
    let options = ParseOptions {
        max_line_bytes: 13,
        max_name_bytes: 4,
        ..ParseOptions::default()
    };
    let cases = [
        ("m f=1 1234567", None),
        (
            "m f=1 12345678",
            Some((ErrorKind::LineTooLong { limit: 13 }, 1)),
        ),
        ("mmmm f=1", None),
        ("mmmmm f=1", Some((ErrorKind::NameTooLong { limit: 4 }, 1))),
        (
            "m,kkkkk=v f=1",
            Some((ErrorKind::NameTooLong { limit: 4 }, 3)),
        ),
        (
            "m,k=vvvvv f=1",
            Some((ErrorKind::NameTooLong { limit: 4 }, 5)),
        ),
        ("m fffff=1", Some((ErrorKind::NameTooLong { limit: 4 }, 3))),
        // The name limit counts bytes after unescaping.
        (r"m,k=a\ bc f=1", None),
        // A string value is no name.
        ("m f=\"sssss\"", None),
    ];
    for (input, want) in cases {
        let got = parse_with(input, options);
        match want {
            None => assert!(got[0].is_ok(), "{input}: {got:?}"),
            Some((kind, column)) => {
                let err = got[0].as_ref().unwrap_err();
                assert_eq!((&err.kind, err.column), (&kind, column), "{input}");
            }
        }
    }
    // The defaults: a line of 1 MiB and names of 65,535 bytes pass, one byte more does not.
    let name = "n".repeat(65_535);
    assert!(parse(&format!("{name} f=1"))[0].is_ok());
    assert_eq!(
        reject(&format!("{name}n f=1")).kind,
        ErrorKind::NameTooLong { limit: 65_535 }
    );
    let pad = "x".repeat((1 << 20) - "m s=\"\"".len());
    assert!(parse(&format!("m s=\"{pad}\""))[0].is_ok());
    assert_eq!(
        reject(&format!("m s=\"{pad}x\"")).kind,
        ErrorKind::LineTooLong { limit: 1 << 20 }
    );
}

#[test]
fn a_rejected_line_ends_at_the_first_newline_outside_a_string() {
    // (input, line number of `m ok=1i`)
    let cases = [
        // A string opened in the field set of a rejected line runs over its newline.
        ("m s=\"a\nb\",f=bad\nm ok=1i", 3),
        // An escaped newline inside a string still starts a new physical line.
        ("m s=\"a\\\nb\",f=bad\nm ok=1i", 3),
        // A quote after an escaped `=` opens no string: it is part of the field key.
        ("m a\\=\"x\nm ok=1i", 2),
        // A quote in the tag set opens no string.
        ("m,t=\"x f\nm ok=1i", 2),
        // A quote that does not follow `=` opens no string.
        ("m f=1\"x\nm ok=1i", 2),
    ];
    for (input, line) in cases {
        let got = parse(input);
        assert_eq!(got.len(), 2, "{input:?}: {got:?}");
        assert!(got[0].is_err(), "{input:?}");
        let ok = got[1].as_ref().unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(ok.line, line, "{input:?}");
        assert_eq!(ok.fields[0].1, FieldValue::Integer(1), "{input:?}");
    }
}

#[test]
fn next_into_reads_what_the_iterator_reads_and_keeps_its_buffers() {
    let input = "m,b=2,a=1 x=1i,y=2i 5\nbad\n# c\nm,z=9 f=\"s\\\"\" 6\nm g=t\n";
    let want: Vec<_> = Parser::new(input.as_bytes(), ParseOptions::default())
        .map(|r| r.map(|l| owned(&l)))
        .collect();
    let mut parser = Parser::new(input.as_bytes(), ParseOptions::default());
    let mut line = Line {
        line_number: 0,
        measurement: "".into(),
        tags: Vec::with_capacity(8),
        fields: Vec::with_capacity(8),
        timestamp: None,
    };
    let (tags_at, fields_at) = (line.tags.as_ptr(), line.fields.as_ptr());
    let mut got = Vec::new();
    while let Some(result) = parser.next_into(&mut line) {
        got.push(result.map(|()| owned(&line)));
        assert_eq!(
            line.tags.as_ptr(),
            tags_at,
            "the tag vector was reallocated"
        );
        assert_eq!(
            line.fields.as_ptr(),
            fields_at,
            "the field vector was reallocated"
        );
    }
    assert_eq!(got, want);
    assert_eq!(got.len(), 4);
}
