//! Rejected queries: each error names the token found, what was expected, and where.

use std::collections::HashMap;

use sluice_influxql::*;

#[test]
fn syntax_errors_name_the_token_what_was_expected_and_the_position() {
    let cases = [
        (
            "SELECT",
            "found EOF, expected identifier, string, number, bool at line 1, char 8",
        ),
        ("SELECT x", "found EOF, expected FROM at line 1, char 10"),
        (
            "SELECT x FROM",
            "found EOF, expected identifier at line 1, char 15",
        ),
        (
            "SELECT FROM cpu",
            "found FROM, expected identifier, string, number, bool at line 1, char 8",
        ),
        (
            "SELECT x FROM cpu WHERE",
            "found EOF, expected identifier, string, number, bool at line 1, char 25",
        ),
        (
            "SELECT x FROM cpu WHERE host =~ 'a'",
            "found 'a', expected regex at line 1, char 33",
        ),
        (
            "SELECT x FROM cpu GROUP host",
            "found host, expected BY at line 1, char 25",
        ),
        (
            "SELECT x FROM cpu GROUP BY time(5)",
            "found 5, expected duration at line 1, char 33",
        ),
        (
            "SELECT x FROM cpu fill(sometimes)",
            "found sometimes, expected null, none, previous, linear, number at line 1, char 24",
        ),
        (
            "SELECT x FROM cpu LIMIT -1",
            "found -, expected integer at line 1, char 25",
        ),
        (
            "SELECT x FROM cpu LIMIT 5 junk",
            "found junk, expected EOF at line 1, char 27",
        ),
        (
            "SELECT x::bogus FROM cpu",
            "found bogus, expected float, integer, unsigned, string, boolean, field, tag at line 1, char 11",
        ),
        (
            "SELECT *::float FROM cpu",
            "found float, expected field, tag at line 1, char 11",
        ),
        (
            "SELECT mean(x FROM cpu",
            "found FROM, expected ) at line 1, char 15",
        ),
        (
            "SELECT x FROM cpu WHERE (a = 1",
            "found EOF, expected ) at line 1, char 31",
        ),
        (
            "SELECT x AS FROM cpu",
            "found FROM, expected identifier at line 1, char 13",
        ),
        (
            "SELECT x FROM cpu tz(UTC)",
            "found UTC, expected string at line 1, char 22",
        ),
        (
            "SELECT x\nFROM cpu\nWHERE",
            "found EOF, expected identifier, string, number, bool at line 3, char 7",
        ),
        (
            "UPDATE cpu",
            "found UPDATE, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1",
        ),
        (
            "SHOW",
            "found EOF, expected CONTINUOUS, DATABASES, DIAGNOSTICS, FIELD, GRANTS, MEASUREMENT, MEASUREMENTS, QUERIES, RETENTION, SERIES, SHARD, SHARDS, STATS, SUBSCRIPTIONS, TAG, USERS at line 1, char 6",
        ),
        (
            "SHOW TAG",
            "found EOF, expected KEY, KEYS, VALUES at line 1, char 10",
        ),
        (
            "SHOW TAG VALUES FROM cpu",
            "found EOF, expected WITH at line 1, char 26",
        ),
        (
            "SHOW TAG VALUES WITH KEY host",
            "found host, expected =, !=, =~, !~, IN at line 1, char 26",
        ),
        (
            "SHOW MEASUREMENTS WITH MEASUREMENT < x",
            "found <, expected =, =~ at line 1, char 36",
        ),
        (
            "SHOW RETENTION POLICIES ON",
            "found EOF, expected identifier at line 1, char 28",
        ),
        (
            "CREATE DATABASE",
            "found EOF, expected identifier at line 1, char 17",
        ),
        (
            "CREATE DATABASE x WITH",
            "found EOF, expected DURATION, NAME, REPLICATION, SHARD at line 1, char 24",
        ),
        (
            "CREATE TABLE x",
            "found TABLE, expected DATABASE, RETENTION, CONTINUOUS, USER, SUBSCRIPTION at line 1, char 8",
        ),
        (
            "CREATE RETENTION POLICY rp ON db DURATION 1d",
            "found EOF, expected REPLICATION at line 1, char 45",
        ),
        (
            "CREATE RETENTION POLICY rp ON db DURATION forever REPLICATION 1",
            "found forever, expected duration, INF at line 1, char 43",
        ),
        (
            "ALTER RETENTION POLICY rp ON db",
            "found EOF, expected DURATION, REPLICATION, SHARD, DEFAULT at line 1, char 33",
        ),
        (
            "DROP SERIES",
            "found EOF, expected FROM, WHERE at line 1, char 13",
        ),
        (
            "DELETE",
            "found EOF, expected FROM, WHERE at line 1, char 8",
        ),
        (
            "DROP TABLE x",
            "found TABLE, expected DATABASE, MEASUREMENT, SERIES, RETENTION, CONTINUOUS, USER, SUBSCRIPTION, SHARD at line 1, char 6",
        ),
        (
            "SHOW DATABASES SELECT",
            "found SELECT, expected EOF at line 1, char 16",
        ),
    ];
    for (input, message) in cases {
        let err = parse_statement(input).expect_err(input);
        assert!(matches!(err, Error::Unexpected { .. }), "{input}: {err:?}");
        assert_eq!(
            err.to_string(),
            format!("error parsing query: {message}"),
            "{input}"
        );
    }
}

#[test]
fn bad_values_are_reported_with_their_position() {
    let cases = [
        (
            "SELECT x FROM m WHERE s = 'abc",
            "unterminated string at line 1, char 27",
        ),
        (
            "SELECT \"x FROM m",
            "unterminated quoted identifier at line 1, char 8",
        ),
        (
            "SELECT x FROM m WHERE h =~ /abc",
            "unterminated regex at line 1, char 28",
        ),
        (
            "SELECT x FROM m WHERE s = 'a\\tb'",
            "bad escape \\t at line 1, char 29",
        ),
        (
            "SELECT x FROM m WHERE time > now() - 5x",
            "invalid duration \"5x\" at line 1, char 38",
        ),
        (
            "SELECT x FROM m WHERE v = 99999999999999999999",
            "integer out of range: 99999999999999999999 at line 1, char 27",
        ),
        (
            "SELECT x FROM m WHERE v = -9223372036854775809",
            "integer out of range: -9223372036854775809 at line 1, char 28",
        ),
        (
            "SELECT x FROM m LIMIT 99999999999999999999",
            "integer out of range: 99999999999999999999 at line 1, char 23",
        ),
        (
            "SELECT x FROM m ORDER BY host",
            "only ORDER BY time supported at this time at line 1, char 26",
        ),
        (
            "SELECT x FROM m WHERE a = $a",
            "missing parameter: a at line 1, char 27",
        ),
        (
            "SELECT x FROM m WHERE a = 1 # 2",
            "unexpected character '#' at line 1, char 29",
        ),
        (
            "CREATE RETENTION POLICY rp ON db DURATION 1d REPLICATION 0",
            "invalid replication factor 0: must be at least 1 at line 1, char 58",
        ),
    ];
    for (input, message) in cases {
        let err = parse(input).expect_err(input);
        assert!(matches!(err, Error::Invalid { .. }), "{input}: {err:?}");
        assert_eq!(
            err.to_string(),
            format!("error parsing query: {message}"),
            "{input}"
        );
    }
}

#[test]
fn errors_count_characters_not_bytes() {
    let err = parse("SELECT \"µs\" FROM m WHERE").unwrap_err();
    assert_eq!(
        err,
        Error::Unexpected {
            found: "EOF".into(),
            expected: "identifier, string, number, bool".into(),
            line: 1,
            // 24 characters (26 bytes), and one past the bare word at the end, as
            // InfluxDB places the end of the input.
            column: 26,
        }
    );
}

#[test]
fn an_error_in_a_later_statement_fails_the_whole_query() {
    let err = parse("SHOW DATABASES; SELECT x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "error parsing query: found EOF, expected FROM at line 1, char 26"
    );
    let err = parse("SHOW DATABASES junk; SELECT x FROM m").unwrap_err();
    assert_eq!(
        err.to_string(),
        "error parsing query: found junk, expected ; at line 1, char 16"
    );
}

#[test]
fn parameters_of_the_wrong_kind_are_rejected() {
    let params = HashMap::from([
        ("f".to_owned(), ParamValue::Float(1.5)),
        ("n".to_owned(), ParamValue::Integer(-1)),
        ("s".to_owned(), ParamValue::String("x".into())),
    ]);
    let cases = [
        (
            "SELECT x FROM $f",
            "parameter $f is not a name at line 1, char 15",
        ),
        (
            "SELECT x FROM m LIMIT $n",
            "parameter $n is not a non-negative integer at line 1, char 23",
        ),
        (
            "SELECT mean(x) FROM m GROUP BY time($s)",
            "invalid duration \"x\" at line 1, char 37",
        ),
        (
            "SELECT mean(x) FROM m GROUP BY time($n)",
            "parameter $n is not a duration at line 1, char 37",
        ),
    ];
    for (input, message) in cases {
        let err = parse_with_params(input, &params).expect_err(input);
        assert_eq!(
            err.to_string(),
            format!("error parsing query: {message}"),
            "{input}"
        );
    }
}
