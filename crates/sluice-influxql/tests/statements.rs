//! SHOW, CREATE, DROP, DELETE and ALTER statements, unsupported statements, and queries of
//! several statements.

use sluice_influxql::*;

fn parsed(query: &str) -> Statement {
    parse_statement(query).unwrap_or_else(|e| panic!("{query}: {e}"))
}

const HOUR: i64 = 3_600_000_000_000;
const DAY: i64 = 24 * HOUR;

#[test]
fn statements_print_canonically_and_reparse_to_the_same_tree() {
    let cases = [
        ("show databases", "SHOW DATABASES"),
        ("SHOW MEASUREMENTS", "SHOW MEASUREMENTS"),
        (
            "SHOW MEASUREMENTS ON db WITH MEASUREMENT =~ /^h2o/ WHERE host = 'a' LIMIT 2 OFFSET 1",
            "SHOW MEASUREMENTS ON db WITH MEASUREMENT =~ /^h2o/ WHERE host = 'a' LIMIT 2 OFFSET 1",
        ),
        (
            "SHOW MEASUREMENTS WITH MEASUREMENT = cpu",
            "SHOW MEASUREMENTS WITH MEASUREMENT = cpu",
        ),
        ("SHOW TAG KEYS", "SHOW TAG KEYS"),
        (
            "SHOW TAG KEYS ON \"my db\" FROM cpu, mem WHERE host = 'a' LIMIT 1 OFFSET 1",
            "SHOW TAG KEYS ON \"my db\" FROM cpu, mem WHERE host = 'a' LIMIT 1 OFFSET 1",
        ),
        (
            "SHOW TAG VALUES WITH KEY = host",
            "SHOW TAG VALUES WITH KEY = host",
        ),
        (
            "SHOW TAG VALUES ON db FROM cpu WITH KEY IN (host, region) WHERE region = 'eu' LIMIT 5",
            "SHOW TAG VALUES ON db FROM cpu WITH KEY IN (host, region) WHERE region = 'eu' LIMIT 5",
        ),
        (
            "SHOW TAG VALUES WITH KEY =~ /^h/",
            "SHOW TAG VALUES WITH KEY =~ /^h/",
        ),
        (
            "SHOW TAG VALUES WITH KEY !~ /^h/",
            "SHOW TAG VALUES WITH KEY !~ /^h/",
        ),
        (
            "SHOW TAG VALUES WITH KEY <> host",
            "SHOW TAG VALUES WITH KEY != host",
        ),
        (
            "SHOW TAG VALUES FROM db.rp./cp/ WITH KEY = \"key\"",
            "SHOW TAG VALUES FROM db.rp./cp/ WITH KEY = \"key\"",
        ),
        ("SHOW FIELD KEYS", "SHOW FIELD KEYS"),
        (
            "SHOW FIELD KEYS ON db FROM cpu LIMIT 3 OFFSET 2",
            "SHOW FIELD KEYS ON db FROM cpu LIMIT 3 OFFSET 2",
        ),
        ("SHOW SERIES", "SHOW SERIES"),
        (
            "SHOW SERIES ON db FROM cpu WHERE host = 'a' LIMIT 10 OFFSET 20",
            "SHOW SERIES ON db FROM cpu WHERE host = 'a' LIMIT 10 OFFSET 20",
        ),
        ("SHOW RETENTION POLICIES", "SHOW RETENTION POLICIES"),
        (
            "SHOW RETENTION POLICIES ON db",
            "SHOW RETENTION POLICIES ON db",
        ),
        ("SHOW SERIES CARDINALITY", "SHOW SERIES CARDINALITY"),
        (
            "SHOW SERIES EXACT CARDINALITY ON db FROM cpu WHERE host = 'a'",
            "SHOW SERIES EXACT CARDINALITY ON db FROM cpu WHERE host = 'a'",
        ),
        (
            "SHOW MEASUREMENT CARDINALITY",
            "SHOW MEASUREMENT CARDINALITY",
        ),
        (
            "SHOW TAG KEY EXACT CARDINALITY FROM cpu",
            "SHOW TAG KEY EXACT CARDINALITY FROM cpu",
        ),
        (
            "SHOW FIELD KEY CARDINALITY ON db",
            "SHOW FIELD KEY CARDINALITY ON db",
        ),
        (
            "SHOW TAG VALUES CARDINALITY FROM cpu WITH KEY = host",
            "SHOW TAG VALUES CARDINALITY FROM cpu WITH KEY = host",
        ),
        ("CREATE DATABASE telegraf", "CREATE DATABASE telegraf"),
        (
            "CREATE DATABASE \"my-db\" WITH DURATION 3d REPLICATION 1 SHARD DURATION 1h NAME liquid",
            "CREATE DATABASE \"my-db\" WITH DURATION 3d REPLICATION 1 SHARD DURATION 1h NAME liquid",
        ),
        (
            "CREATE DATABASE x WITH DURATION inf",
            "CREATE DATABASE x WITH DURATION INF",
        ),
        (
            "CREATE DATABASE x WITH NAME rp",
            "CREATE DATABASE x WITH NAME rp",
        ),
        ("DROP DATABASE telegraf", "DROP DATABASE telegraf"),
        (
            "DROP MEASUREMENT \"h2o feet\"",
            "DROP MEASUREMENT \"h2o feet\"",
        ),
        (
            "DROP SERIES FROM cpu WHERE host = 'a'",
            "DROP SERIES FROM cpu WHERE host = 'a'",
        ),
        (
            "DROP SERIES WHERE host = 'a'",
            "DROP SERIES WHERE host = 'a'",
        ),
        ("DROP SERIES FROM cpu", "DROP SERIES FROM cpu"),
        (
            "DELETE FROM cpu WHERE time < '2020-01-01T00:00:00Z'",
            "DELETE FROM cpu WHERE time < '2020-01-01T00:00:00Z'",
        ),
        (
            "DELETE WHERE time < '2020-01-01'",
            "DELETE WHERE time < '2020-01-01'",
        ),
        ("DELETE FROM cpu", "DELETE FROM cpu"),
        (
            "CREATE RETENTION POLICY one_day ON db DURATION 1d REPLICATION 1",
            "CREATE RETENTION POLICY one_day ON db DURATION 1d REPLICATION 1",
        ),
        (
            "CREATE RETENTION POLICY \"a\" ON db DURATION 52w REPLICATION 2 SHARD DURATION 1w DEFAULT",
            "CREATE RETENTION POLICY a ON db DURATION 52w REPLICATION 2 SHARD DURATION 1w DEFAULT",
        ),
        (
            "ALTER RETENTION POLICY rp ON db DEFAULT DURATION INF",
            "ALTER RETENTION POLICY rp ON db DURATION INF DEFAULT",
        ),
        (
            "ALTER RETENTION POLICY rp ON db SHARD DURATION 2h",
            "ALTER RETENTION POLICY rp ON db SHARD DURATION 2h",
        ),
        (
            "DROP RETENTION POLICY rp ON db",
            "DROP RETENTION POLICY rp ON db",
        ),
    ];
    for (input, canonical) in cases {
        let statement = parsed(input);
        assert_eq!(statement.to_string(), canonical, "{input}");
        assert_eq!(parse_statement(canonical), Ok(statement), "{canonical}");
    }
}

#[test]
fn show_tag_values_keeps_database_sources_key_and_condition() {
    assert_eq!(
        parsed(
            "SHOW TAG VALUES ON db FROM cpu WITH KEY IN (host, \"region\") WHERE x = 'y' LIMIT 5 OFFSET 1"
        ),
        Statement::ShowTagValues(ShowTagValues {
            database: Some("db".into()),
            from: vec![MeasurementRef::named("cpu")],
            key: TagKeyFilter::In(vec!["host".into(), "region".into()]),
            condition: Some(Expr::binary(
                Expr::var("x"),
                BinaryOp::Eq,
                Expr::Literal(Literal::String("y".into()))
            )),
            limit: Some(5),
            offset: Some(1),
        })
    );
}

#[test]
fn show_measurements_with_a_regex_keeps_the_pattern() {
    assert_eq!(
        parsed("SHOW MEASUREMENTS WITH MEASUREMENT =~ /h2o.*/ LIMIT 3"),
        Statement::ShowMeasurements(ShowMeasurements {
            with_measurement: Some(MeasurementName::Regex(Regex("h2o.*".into()))),
            limit: Some(3),
            ..Default::default()
        })
    );
}

#[test]
fn create_database_reads_retention_settings_in_nanoseconds() {
    assert_eq!(
        parsed("CREATE DATABASE db WITH DURATION 30d REPLICATION 1 SHARD DURATION 1d NAME month"),
        Statement::CreateDatabase(CreateDatabase {
            name: "db".into(),
            retention: Some(RetentionPolicySettings {
                duration: Some(30 * DAY),
                replication: Some(1),
                shard_duration: Some(DAY),
                name: Some("month".into()),
            }),
        })
    );
    assert_eq!(
        parsed("CREATE RETENTION POLICY rp ON db DURATION INF REPLICATION 1 DEFAULT"),
        Statement::CreateRetentionPolicy(CreateRetentionPolicy {
            name: "rp".into(),
            database: "db".into(),
            duration: 0,
            replication: 1,
            shard_duration: None,
            default: true,
        })
    );
    assert_eq!(
        parsed("ALTER RETENTION POLICY rp ON db DURATION 1h REPLICATION 3"),
        Statement::AlterRetentionPolicy(AlterRetentionPolicy {
            name: "rp".into(),
            database: "db".into(),
            duration: Some(HOUR),
            replication: Some(3),
            shard_duration: None,
            default: false,
        })
    );
}

#[test]
fn delete_and_drop_series_keep_sources_and_conditions() {
    let time_bound = Expr::binary(
        Expr::var("time"),
        BinaryOp::Lt,
        Expr::Literal(Literal::String("2020-01-01".into())),
    );
    assert_eq!(
        parsed("DELETE WHERE time < '2020-01-01'"),
        Statement::Delete(Delete {
            from: vec![],
            condition: Some(time_bound.clone()),
        })
    );
    assert_eq!(
        parsed("DROP SERIES FROM cpu, mem WHERE time < '2020-01-01'"),
        Statement::DropSeries(DropSeries {
            from: vec![MeasurementRef::named("cpu"), MeasurementRef::named("mem")],
            condition: Some(time_bound),
        })
    );
    assert_eq!(
        parsed("DROP MEASUREMENT cpu"),
        Statement::DropMeasurement(DropMeasurement { name: "cpu".into() })
    );
    assert_eq!(
        parsed("drop database \"x y\""),
        Statement::DropDatabase(DropDatabase { name: "x y".into() })
    );
}

#[test]
fn statements_sluice_does_not_run_parse_to_unsupported_nodes_naming_the_feature() {
    let cases = [
        ("CREATE USER bob WITH PASSWORD 'secret'", "CREATE USER"),
        ("DROP USER bob", "DROP USER"),
        ("SHOW USERS", "SHOW USERS"),
        ("SHOW GRANTS FOR bob", "SHOW GRANTS"),
        ("GRANT ALL TO bob", "GRANT"),
        ("REVOKE READ ON db FROM bob", "REVOKE"),
        ("SET PASSWORD FOR bob = 'x'", "SET PASSWORD"),
        ("KILL QUERY 36", "KILL QUERY"),
        ("EXPLAIN SELECT * FROM cpu", "EXPLAIN"),
        ("EXPLAIN ANALYZE SELECT * FROM cpu", "EXPLAIN ANALYZE"),
        ("SHOW QUERIES", "SHOW QUERIES"),
        ("SHOW SHARD GROUPS", "SHOW SHARD GROUPS"),
        ("SHOW SHARDS", "SHOW SHARDS"),
        ("SHOW STATS", "SHOW STATS"),
        ("SHOW DIAGNOSTICS", "SHOW DIAGNOSTICS"),
        ("SHOW SUBSCRIPTIONS", "SHOW SUBSCRIPTIONS"),
        (
            "CREATE SUBSCRIPTION s ON db.rp DESTINATIONS ALL 'udp://h:1'",
            "CREATE SUBSCRIPTION",
        ),
        ("DROP SHARD 1", "DROP SHARD"),
    ];
    for (input, feature) in cases {
        let Statement::Unsupported(node) = parsed(input) else {
            panic!("{input} parsed as a supported statement")
        };
        assert_eq!(node.feature, feature, "{input}");
        assert_eq!(node.text, input);
        assert_eq!(node.message(), format!("unsupported statement: {feature}"));
    }
}

#[test]
fn several_statements_parse_in_order_with_empty_ones_skipped() {
    let query = parse(
        "SHOW DATABASES; SELECT x FROM m;; CREATE USER a WITH PASSWORD 'p;q'; DROP DATABASE d;",
    )
    .unwrap();
    assert_eq!(query.statements.len(), 4);
    assert_eq!(query.statements[0], Statement::ShowDatabases);
    assert!(matches!(query.statements[1], Statement::Select(_)));
    assert!(
        matches!(&query.statements[2], Statement::Unsupported(u) if u.text == "CREATE USER a WITH PASSWORD 'p;q'")
    );
    assert_eq!(
        query.to_string(),
        "SHOW DATABASES; SELECT x FROM m; CREATE USER a WITH PASSWORD 'p;q'; DROP DATABASE d"
    );
    assert_eq!(parse(&query.to_string()), Ok(query));
}

#[test]
fn a_blank_query_has_no_statements() {
    assert_eq!(parse("  ;  -- nothing\n"), Ok(Query::default()));
}

#[test]
fn into_targets_parse_with_database_policy_and_source_measurement() {
    let cases = [
        ("SELECT * INTO m FROM cpu", (None, None, "m")),
        ("SELECT * INTO db..m FROM cpu", (Some("db"), None, "m")),
        (
            "SELECT * INTO db.autogen.m FROM cpu",
            (Some("db"), Some("autogen"), "m"),
        ),
        (
            "SELECT * INTO :MEASUREMENT FROM /.*/",
            (None, None, SOURCE_MEASUREMENT),
        ),
        (
            "SELECT * INTO db..:measurement FROM /.*/",
            (Some("db"), None, SOURCE_MEASUREMENT),
        ),
    ];
    for (input, (db, rp, name)) in cases {
        let Statement::Select(select) = parsed(input) else {
            panic!("{input}")
        };
        let into = select.into.expect("an INTO target");
        assert_eq!(into.database.as_deref(), db, "{input}");
        assert_eq!(into.retention_policy.as_deref(), rp, "{input}");
        assert_eq!(into.name, MeasurementName::Name(name.to_owned()), "{input}");
    }
    assert_eq!(
        parsed("SELECT * INTO db..:MEASUREMENT FROM /.*/").to_string(),
        "SELECT * INTO db..:MEASUREMENT FROM /.*/"
    );
    assert_eq!(
        parsed("SELECT * INTO \":MEASUREMENTx\" FROM cpu").to_string(),
        "SELECT * INTO \":MEASUREMENTx\" FROM cpu"
    );
}

#[test]
fn continuous_query_statements_parse_and_print_back() {
    let cases = [
        "CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT mean(x) INTO y FROM z GROUP BY time(1h) END",
        "CREATE CONTINUOUS QUERY cq ON db RESAMPLE EVERY 30m FOR 2h BEGIN SELECT mean(x) INTO db.autogen.y FROM z GROUP BY time(1h), host END",
        "CREATE CONTINUOUS QUERY cq ON db RESAMPLE FOR 2h BEGIN SELECT max(x) INTO :MEASUREMENT FROM /.*/ GROUP BY time(1h, 5m), * END",
        "SHOW CONTINUOUS QUERIES",
        "DROP CONTINUOUS QUERY cq ON db",
    ];
    for input in cases {
        assert_eq!(parsed(input).to_string(), input);
    }
    let Statement::CreateContinuousQuery(create) = parsed(cases[1]) else {
        panic!("not a CREATE CONTINUOUS QUERY")
    };
    assert_eq!(
        (create.name.as_str(), create.database.as_str()),
        ("cq", "db")
    );
    assert_eq!(create.resample_every, Some(30 * 60 * 1_000_000_000));
    assert_eq!(create.resample_for, Some(2 * 3600 * 1_000_000_000));
    assert_eq!(
        create.query.group_by_time(),
        Some((3600 * 1_000_000_000, 0))
    );
}

#[test]
fn continuous_queries_are_validated_as_influxdb_does() {
    let cases = [
        (
            "CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT mean(x) FROM z GROUP BY time(1h) END",
            "found FROM, expected INTO",
        ),
        (
            "CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT mean(x) INTO y FROM z END",
            "continuous query requires a GROUP BY time() clause",
        ),
        (
            "CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT x INTO y FROM z GROUP BY time(1h) END",
            "GROUP BY requires at least one aggregate function",
        ),
        (
            "CREATE CONTINUOUS QUERY cq ON db RESAMPLE FOR 30m BEGIN SELECT mean(x) INTO y FROM z GROUP BY time(1h) END",
            "FOR duration must be >= GROUP BY time duration: must be a minimum of 1h, got 30m",
        ),
        (
            "CREATE CONTINUOUS QUERY cq ON db RESAMPLE EVERY 2h FOR 90m BEGIN SELECT mean(x) INTO y FROM z GROUP BY time(1h) END",
            "FOR duration must be >= GROUP BY time duration: must be a minimum of 2h, got 90m",
        ),
        (
            "CREATE CONTINUOUS QUERY cq ON db RESAMPLE BEGIN SELECT mean(x) INTO y FROM z GROUP BY time(1h) END",
            "found BEGIN, expected EVERY, FOR",
        ),
        (
            "CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT mean(x) INTO y FROM z GROUP BY time(1h)",
            "found EOF, expected END",
        ),
    ];
    for (input, message) in cases {
        let error = parse(input).expect_err(input).to_string();
        assert!(error.contains(message), "{input}: {error}");
    }
}
