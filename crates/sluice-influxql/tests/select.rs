//! SELECT statements: each form parses to the expected tree and prints canonically.

use sluice_influxql::*;

fn select(query: &str) -> SelectStatement {
    match parse_statement(query) {
        Ok(Statement::Select(s)) => *s,
        other => panic!("{query}: {other:?}"),
    }
}

fn lit_str(s: &str) -> Expr {
    Expr::Literal(Literal::String(s.to_owned()))
}

/// Each input and the canonical text it prints as; the canonical text parses to the same
/// tree.
#[test]
fn select_forms_print_canonically_and_reparse_to_the_same_tree() {
    let cases = [
        ("select * from cpu", "SELECT * FROM cpu"),
        (
            "SELECT usage_user,usage_system FROM cpu",
            "SELECT usage_user, usage_system FROM cpu",
        ),
        (
            "SELECT \"usage user\" FROM \"my cpu\"",
            "SELECT \"usage user\" FROM \"my cpu\"",
        ),
        (
            "SELECT \"from\" FROM \"select\"",
            "SELECT \"from\" FROM \"select\"",
        ),
        (
            "SELECT x::float, y::integer, z::tag, w::FIELD FROM m",
            "SELECT x::float, y::integer, z::tag, w::field FROM m",
        ),
        ("SELECT *::field FROM m", "SELECT *::field FROM m"),
        (
            "SELECT (a + b) * c, a + b * c, a - (b - c), (a - b) - c FROM m",
            "SELECT (a + b) * c, a + b * c, a - (b - c), a - b - c FROM m",
        ),
        (
            "SELECT a % 2, a / 2, a & 1, a | 1, a ^ 1 FROM m",
            "SELECT a % 2, a / 2, a & 1, a | 1, a ^ 1 FROM m",
        ),
        (
            "SELECT -a, -1.5, - 3 FROM m",
            "SELECT -1 * a, -1.5, -3 FROM m",
        ),
        (
            "SELECT mean(x) AS avg, MAX(y) as \"Max Y\" FROM m",
            "SELECT mean(x) AS avg, max(y) AS \"Max Y\" FROM m",
        ),
        (
            "SELECT count(distinct(host)) FROM m",
            "SELECT count(distinct(host)) FROM m",
        ),
        (
            "SELECT DISTINCT host FROM m",
            "SELECT distinct(host) FROM m",
        ),
        (
            "SELECT percentile(x, 95), top(x, host, 3), bottom(x,2) FROM m",
            "SELECT percentile(x, 95), top(x, host, 3), bottom(x, 2) FROM m",
        ),
        (
            "SELECT derivative(mean(x), 1s) FROM m GROUP BY time(1m)",
            "SELECT derivative(mean(x), 1s) FROM m GROUP BY time(1m)",
        ),
        ("SELECT /usage_.*/ FROM cpu", "SELECT /usage_.*/ FROM cpu"),
        (
            "SELECT mean(/a\\/b/) FROM cpu",
            "SELECT mean(/a\\/b/) FROM cpu",
        ),
        (
            "SELECT last(*) FROM cpu GROUP BY *",
            "SELECT last(*) FROM cpu GROUP BY *",
        ),
        (
            "SELECT x FROM db.rp.m, db..m, rp.m, /^c/, db.rp./re/",
            "SELECT x FROM db.rp.m, db..m, rp.m, /^c/, db.rp./re/",
        ),
        (
            "SELECT x FROM \"my db\".\"autogen\".\"m.x\"",
            "SELECT x FROM \"my db\".autogen.\"m.x\"",
        ),
        (
            "SELECT mean(x) FROM (SELECT max(x) AS x FROM m GROUP BY time(1m)) WHERE time > 0",
            "SELECT mean(x) FROM (SELECT max(x) AS x FROM m GROUP BY time(1m)) WHERE time > 0",
        ),
        (
            "SELECT x INTO db.rp.n FROM m",
            "SELECT x INTO db.rp.n FROM m",
        ),
        (
            "SELECT x FROM m WHERE a = 1 AND b = 2 OR c = 3",
            "SELECT x FROM m WHERE a = 1 AND b = 2 OR c = 3",
        ),
        (
            "SELECT x FROM m WHERE a = 1 AND (b = 2 OR c = 3)",
            "SELECT x FROM m WHERE a = 1 AND (b = 2 OR c = 3)",
        ),
        (
            "SELECT x FROM m WHERE ((a = 1))",
            "SELECT x FROM m WHERE a = 1",
        ),
        (
            "SELECT x FROM m WHERE a <> 'x' and b != 'y' or c<3 and d<=4 and e>5 and f>=6",
            "SELECT x FROM m WHERE a != 'x' AND b != 'y' OR c < 3 AND d <= 4 AND e > 5 AND f >= 6",
        ),
        (
            "SELECT x FROM m WHERE host =~ /^web-\\d+$/ AND dc !~ /a\\/b/",
            "SELECT x FROM m WHERE host =~ /^web-\\d+$/ AND dc !~ /a\\/b/",
        ),
        (
            "SELECT x FROM m WHERE s = 'it\\'s' AND t = 'a\\\\b'",
            "SELECT x FROM m WHERE s = 'it\\'s' AND t = 'a\\\\b'",
        ),
        (
            "SELECT x FROM m WHERE b = true AND c = FALSE",
            "SELECT x FROM m WHERE b = true AND c = false",
        ),
        (
            "SELECT x FROM m WHERE time > now() - 1h AND time < now()",
            "SELECT x FROM m WHERE time > now() - 1h AND time < now()",
        ),
        (
            "SELECT x FROM m WHERE time >= '2016-01-01T00:00:00Z' AND time < 1451610000000000000",
            "SELECT x FROM m WHERE time >= '2016-01-01T00:00:00Z' AND time < 1451610000000000000",
        ),
        (
            "SELECT x FROM m WHERE time > now() - 90m",
            "SELECT x FROM m WHERE time > now() - 90m",
        ),
        (
            "SELECT x FROM m WHERE time > now() - 60m",
            "SELECT x FROM m WHERE time > now() - 1h",
        ),
        (
            "SELECT x FROM m WHERE time > now() - 1h30m",
            "SELECT x FROM m WHERE time > now() - 90m",
        ),
        (
            "SELECT x FROM m WHERE v > 1.0 AND w < 18446744073709551615",
            "SELECT x FROM m WHERE v > 1.0 AND w < 18446744073709551615",
        ),
        (
            "SELECT mean(x) FROM m GROUP BY time(10m, 5m), host, \"data center\"",
            "SELECT mean(x) FROM m GROUP BY time(10m, 5m), host, \"data center\"",
        ),
        (
            "SELECT mean(x) FROM m GROUP BY time(1h,-15m)",
            "SELECT mean(x) FROM m GROUP BY time(1h, -15m)",
        ),
        (
            "SELECT mean(x) FROM m GROUP BY /^h/",
            "SELECT mean(x) FROM m GROUP BY /^h/",
        ),
        (
            "SELECT mean(x) FROM m GROUP BY time(1m) fill(none)",
            "SELECT mean(x) FROM m GROUP BY time(1m) fill(none)",
        ),
        (
            "SELECT mean(x) FROM m GROUP BY time(1m) FILL(Previous)",
            "SELECT mean(x) FROM m GROUP BY time(1m) fill(previous)",
        ),
        (
            "SELECT mean(x) FROM m GROUP BY time(1m) fill(linear)",
            "SELECT mean(x) FROM m GROUP BY time(1m) fill(linear)",
        ),
        (
            "SELECT mean(x) FROM m GROUP BY time(1m) fill(null)",
            "SELECT mean(x) FROM m GROUP BY time(1m) fill(null)",
        ),
        (
            "SELECT mean(x) FROM m GROUP BY time(1m) fill(-1)",
            "SELECT mean(x) FROM m GROUP BY time(1m) fill(-1)",
        ),
        (
            "SELECT mean(x) FROM m GROUP BY time(1m) fill(0.5)",
            "SELECT mean(x) FROM m GROUP BY time(1m) fill(0.5)",
        ),
        (
            "SELECT x FROM m ORDER BY time desc",
            "SELECT x FROM m ORDER BY time DESC",
        ),
        (
            "SELECT x FROM m ORDER BY time",
            "SELECT x FROM m ORDER BY time ASC",
        ),
        (
            "SELECT x FROM m ORDER BY DESC",
            "SELECT x FROM m ORDER BY time DESC",
        ),
        (
            "SELECT x FROM m LIMIT 10 OFFSET 5 SLIMIT 2 SOFFSET 1",
            "SELECT x FROM m LIMIT 10 OFFSET 5 SLIMIT 2 SOFFSET 1",
        ),
        (
            "SELECT x FROM m tz('America/Chicago')",
            "SELECT x FROM m tz('America/Chicago')",
        ),
        (
            "SELECT x -- trailing comment\nFROM /* inline */ m",
            "SELECT x FROM m",
        ),
    ];
    for (input, canonical) in cases {
        let parsed = parse_statement(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(parsed.to_string(), canonical, "{input}");
        assert_eq!(parse_statement(canonical), Ok(parsed), "{canonical}");
    }
}

#[test]
fn a_full_select_parses_to_the_expected_tree() {
    let s = select(
        "SELECT max(usage_user) AS m FROM telegraf.autogen.cpu WHERE hostname = 'host_1' \
         AND time >= '2016-01-01T00:00:00Z' GROUP BY time(1m, 30s), region fill(0) \
         ORDER BY time DESC LIMIT 5 OFFSET 2 SLIMIT 3 SOFFSET 1 tz('UTC')",
    );
    let mut want = SelectStatement::new(
        vec![Field {
            expr: Expr::Call(Call {
                name: "max".into(),
                args: vec![Expr::var("usage_user")],
            }),
            alias: Some("m".into()),
        }],
        vec![Source::Measurement(MeasurementRef {
            database: Some("telegraf".into()),
            retention_policy: Some("autogen".into()),
            name: MeasurementName::Name("cpu".into()),
        })],
    );
    want.condition = Some(Expr::binary(
        Expr::binary(Expr::var("hostname"), BinaryOp::Eq, lit_str("host_1")),
        BinaryOp::And,
        Expr::binary(
            Expr::var("time"),
            BinaryOp::GtEq,
            lit_str("2016-01-01T00:00:00Z"),
        ),
    ));
    want.group_by = vec![
        Dimension::Time {
            interval: 60_000_000_000,
            offset: Some(30_000_000_000),
        },
        Dimension::Tag("region".into()),
    ];
    want.fill = Some(Fill::Integer(0));
    want.order_by = Some(SortOrder::Descending);
    want.limit = Some(5);
    want.offset = Some(2);
    want.slimit = Some(3);
    want.soffset = Some(1);
    want.timezone = Some("UTC".into());
    assert_eq!(s, want);
    assert!(s.is_descending());
    assert!(s.has_calls());
    assert_eq!(s.group_by_time(), Some((60_000_000_000, 30_000_000_000)));
    assert_eq!(s.fields[0].column_name(), "m");
}

#[test]
fn literals_parse_to_their_typed_values() {
    let s = select(
        "SELECT x FROM m WHERE a = 42 AND b = -7 AND c = 0.25 AND d = 'str' AND e = true \
         AND f = 10s AND g = 9223372036854775808 AND h = -9223372036854775808",
    );
    let mut values = Vec::new();
    s.condition.unwrap().walk(&mut |e| {
        if let Expr::Literal(l) = e {
            values.push(l.clone());
        }
    });
    assert_eq!(
        values,
        vec![
            Literal::Integer(42),
            Literal::Integer(-7),
            Literal::Float(0.25),
            Literal::String("str".into()),
            Literal::Boolean(true),
            Literal::Duration(10_000_000_000),
            Literal::Unsigned(9_223_372_036_854_775_808),
            Literal::Integer(i64::MIN),
        ]
    );
}

#[test]
fn every_duration_unit_is_read_as_nanoseconds() {
    let cases = [
        ("1ns", 1),
        ("1u", 1_000),
        ("1µ", 1_000),
        ("1ms", 1_000_000),
        ("1s", 1_000_000_000),
        ("1m", 60_000_000_000),
        ("1h", 3_600_000_000_000),
        ("1d", 86_400_000_000_000),
        ("1w", 604_800_000_000_000),
    ];
    for (text, nanos) in cases {
        let s = select(&format!("SELECT x FROM m WHERE time > now() - {text}"));
        let Some(Expr::Binary { rhs, .. }) = s.condition else {
            panic!("{text}")
        };
        assert_eq!(
            *rhs,
            Expr::binary(
                Expr::Call(Call {
                    name: "now".into(),
                    args: vec![]
                }),
                BinaryOp::Sub,
                Expr::Literal(Literal::Duration(nanos))
            ),
            "{text}"
        );
    }
}

#[test]
fn casts_wildcards_and_regexes_keep_their_kinds() {
    let s = select("SELECT usage::float, *::tag, /^u/ FROM m");
    assert_eq!(
        s.fields.iter().map(|f| f.expr.clone()).collect::<Vec<_>>(),
        vec![
            Expr::VarRef(VarRef {
                name: "usage".into(),
                data_type: Some(DataType::Float)
            }),
            Expr::Wildcard(Some(DataType::Tag)),
            Expr::Regex(Regex("^u".into())),
        ]
    );
    assert!(!s.has_calls());
}

#[test]
fn keywords_are_case_insensitive() {
    assert_eq!(
        parse_statement("sElEcT mean(x) FrOm m wHeRe a = 1 GrOuP bY time(1m) LiMiT 1"),
        parse_statement("SELECT mean(x) FROM m WHERE a = 1 GROUP BY time(1m) LIMIT 1")
    );
}

#[test]
fn subqueries_parse_to_a_nested_statement() {
    let s = select("SELECT max(m) FROM (SELECT mean(x) AS m FROM cpu GROUP BY time(1m)), cpu");
    let Source::Subquery(inner) = &s.from[0] else {
        panic!("{:?}", s.from)
    };
    assert_eq!(inner.fields[0].column_name(), "m");
    assert_eq!(inner.group_by_time(), Some((60_000_000_000, 0)));
    assert_eq!(s.from[1], Source::Measurement(MeasurementRef::named("cpu")));
}

#[test]
fn column_names_follow_influxdb() {
    let s = select(
        "SELECT mean(x), x + 1, 1 + y, max(x) AS top, 5, a * b, mean(a) + mean(b), abs(x) + 1 FROM m",
    );
    let names: Vec<_> = s.fields.iter().map(Field::column_name).collect();
    assert_eq!(
        names,
        ["mean", "x", "y", "top", "", "a_b", "mean_mean", "abs"]
    );
}

#[test]
fn a_time_zone_the_database_does_not_have_is_refused_in_influxdbs_words() {
    let err = parse_statement("SELECT v FROM m tz('Foo/Bar')").unwrap_err();
    assert_eq!(
        err.to_string(),
        "error parsing query: unable to find time zone Foo/Bar"
    );
    // Empty is UTC, as in InfluxDB; names are case-sensitive.
    assert!(parse_statement("SELECT v FROM m tz('')").is_ok());
    assert!(parse_statement("SELECT v FROM m tz('europe/berlin')").is_err());
}
