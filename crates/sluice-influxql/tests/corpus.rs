//! Real query text: the TSBS devops queries as sluice-bench sends them, and the example
//! queries of the InfluxDB 1.x documentation. Each must parse, pass function validation,
//! and print text that parses back to the same tree.

use sluice_influxql::*;

fn select(query: &str) -> SelectStatement {
    match parse_statement(query) {
        Ok(Statement::Select(s)) => {
            validate_select(&s).unwrap_or_else(|e| panic!("{query}: {e}"));
            let reparsed = parse_statement(&s.to_string()).unwrap();
            assert_eq!(reparsed, Statement::Select(s.clone()), "{query}");
            *s
        }
        other => panic!("{query}: {other:?}"),
    }
}

fn time_bounds(condition: &Expr) -> Vec<(BinaryOp, i64)> {
    let mut bounds = Vec::new();
    condition.walk(&mut |e| {
        if let Expr::Binary { op, lhs, rhs } = e
            && lhs.is_time()
            && let Expr::Literal(Literal::String(text)) = rhs.as_ref()
        {
            bounds.push((*op, parse_time(text).unwrap()));
        }
    });
    bounds
}

const T0: i64 = 1_451_606_400_000_000_000; // 2016-01-01T00:00:00Z
const HOUR: i64 = 3_600_000_000_000;
const MINUTE: i64 = 60_000_000_000;

#[test]
fn tsbs_lastpoint_groups_last_of_every_field_by_host() {
    let s = select("SELECT last(*) FROM cpu GROUP BY hostname");
    assert_eq!(
        s.fields[0].expr,
        Expr::Call(Call {
            name: "last".into(),
            args: vec![Expr::Wildcard(None)]
        })
    );
    assert_eq!(s.group_by, vec![Dimension::Tag("hostname".into())]);
}

#[test]
fn tsbs_single_groupby_has_a_host_filter_a_time_range_and_minute_buckets() {
    let s = select(
        "SELECT max(usage_user) FROM cpu WHERE (hostname = 'host_1') AND time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T01:00:00Z' GROUP BY time(1m)",
    );
    let condition = s.condition.as_ref().unwrap();
    assert_eq!(
        time_bounds(condition),
        vec![(BinaryOp::GtEq, T0), (BinaryOp::Lt, T0 + HOUR)]
    );
    assert_eq!(s.group_by_time(), Some((MINUTE, 0)));
}

#[test]
fn tsbs_single_groupby_with_several_hosts_and_fields_parses() {
    let s = select(
        "SELECT max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait) FROM cpu WHERE (hostname = 'host_1' OR hostname = 'host_7' OR hostname = 'host_9') AND time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T08:00:00Z' GROUP BY time(1m)",
    );
    assert_eq!(s.fields.len(), 5);
    let Some(Expr::Binary {
        op: BinaryOp::And,
        lhs,
        ..
    }) = &s.condition
    else {
        panic!()
    };
    // The parenthesised OR stays one subtree under the ANDs.
    let Expr::Binary {
        op: BinaryOp::And,
        lhs: hosts,
        ..
    } = lhs.as_ref()
    else {
        panic!()
    };
    assert!(matches!(
        hosts.as_ref(),
        Expr::Binary {
            op: BinaryOp::Or,
            ..
        }
    ));
}

#[test]
fn tsbs_double_groupby_buckets_by_hour_and_host() {
    let s = select(
        "SELECT mean(usage_user) FROM cpu WHERE time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T12:00:00Z' GROUP BY time(1h),hostname",
    );
    assert_eq!(
        s.group_by,
        vec![
            Dimension::Time {
                interval: HOUR,
                offset: None
            },
            Dimension::Tag("hostname".into())
        ]
    );
    assert_eq!(
        time_bounds(s.condition.as_ref().unwrap()),
        vec![(BinaryOp::GtEq, T0), (BinaryOp::Lt, T0 + 12 * HOUR)]
    );
}

#[test]
fn tsbs_high_cpu_filters_on_a_field_value() {
    let s = select(
        "SELECT * FROM cpu WHERE usage_user > 90.0 AND hostname='host_1' AND time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T12:00:00Z'",
    );
    assert_eq!(s.fields[0].expr, Expr::Wildcard(None));
    let mut comparisons = Vec::new();
    s.condition.unwrap().walk(&mut |e| {
        if let Expr::Binary { op, lhs, rhs } = e
            && op.is_comparison()
        {
            comparisons.push((lhs.to_string(), *op, rhs.to_string()));
        }
    });
    assert_eq!(
        comparisons[0],
        ("usage_user".into(), BinaryOp::Gt, "90.0".into())
    );
    assert_eq!(
        comparisons[1],
        ("hostname".into(), BinaryOp::Eq, "'host_1'".into())
    );
}

#[test]
fn tsbs_groupby_orderby_limit_takes_the_last_five_minutes() {
    let s = select(
        "SELECT max(usage_user) FROM cpu WHERE time < '2016-01-01T12:00:00Z' GROUP BY time(1m) ORDER BY time DESC LIMIT 5",
    );
    assert!(s.is_descending());
    assert_eq!(s.limit, Some(5));
}

#[test]
fn sluice_bench_query_texts_parse() {
    let lastpoint = select(r#"SELECT * FROM cpu GROUP BY "hostname" ORDER BY time DESC LIMIT 1"#);
    assert_eq!(lastpoint.group_by, vec![Dimension::Tag("hostname".into())]);
    assert_eq!(
        (lastpoint.is_descending(), lastpoint.limit),
        (true, Some(1))
    );
    let high = select(
        "SELECT * FROM cpu WHERE usage_user > 90.0 AND (hostname = 'host_3') AND time >= '2016-01-01T03:20:00Z' AND time < '2016-01-01T15:20:00Z'",
    );
    assert_eq!(
        time_bounds(high.condition.as_ref().unwrap()),
        vec![
            (BinaryOp::GtEq, T0 + 3 * HOUR + 20 * MINUTE),
            (BinaryOp::Lt, T0 + 15 * HOUR + 20 * MINUTE)
        ]
    );
}

#[test]
fn influxdb_documentation_examples_parse() {
    let queries = [
        "SELECT * FROM \"h2o_feet\"",
        "SELECT \"level description\",\"location\",\"water_level\" FROM \"h2o_feet\"",
        "SELECT \"level description\"::field,\"location\"::tag,\"water_level\"::field FROM \"h2o_feet\"",
        "SELECT *::field FROM \"h2o_feet\"",
        "SELECT \"water_level\" FROM \"NOAA_water_database\".\"autogen\".\"h2o_feet\"",
        "SELECT \"water_level\" FROM \"NOAA_water_database\"..\"h2o_feet\"",
        "SELECT * FROM \"h2o_feet\",\"h2o_pH\"",
        "SELECT * FROM \"h2o_feet\" WHERE \"water_level\" > 8",
        "SELECT * FROM \"h2o_feet\" WHERE \"level description\" = 'below 3 feet'",
        "SELECT * FROM \"h2o_feet\" WHERE \"water_level\" + 2 > 11.9",
        "SELECT \"water_level\" FROM \"h2o_feet\" WHERE \"location\" = 'santa_monica'",
        "SELECT \"water_level\" FROM \"h2o_feet\" WHERE \"location\" <> 'santa_monica' AND (water_level < -0.59 OR water_level > 9.95)",
        "SELECT * FROM \"h2o_feet\" WHERE time > now() - 7d",
        "SELECT MEAN(\"water_level\") FROM \"h2o_feet\" GROUP BY \"location\"",
        "SELECT MEAN(\"index\") FROM \"h2o_quality\" GROUP BY *",
        "SELECT COUNT(\"water_level\") FROM \"h2o_feet\" WHERE \"location\"='coyote_creek' AND time >= '2015-08-18T00:00:00Z' AND time <= '2015-08-18T00:30:00Z' GROUP BY time(12m)",
        "SELECT COUNT(\"water_level\") FROM \"h2o_feet\" WHERE time >= '2015-08-18T00:00:00Z' AND time <= '2015-08-18T00:30:00Z' GROUP BY time(12m),*",
        "SELECT MEAN(\"water_level\") FROM \"h2o_feet\" WHERE \"location\"='coyote_creek' AND time >= '2015-08-18T00:06:00Z' AND time <= '2015-08-18T00:54:00Z' GROUP BY time(18m,6m)",
        "SELECT MEAN(\"water_level\") FROM \"h2o_feet\" WHERE \"location\"='coyote_creek' AND time >= '2015-08-18T00:06:00Z' AND time <= '2015-08-18T00:54:00Z' GROUP BY time(18m,-12m)",
        "SELECT MAX(\"water_level\") FROM \"h2o_feet\" WHERE \"location\"='coyote_creek' AND time >= '2015-09-18T16:00:00Z' AND time <= '2015-09-18T16:42:00Z' GROUP BY time(12m) fill(100)",
        "SELECT MEAN(\"tadpoles\") FROM \"pond\" WHERE time >= '2016-11-11T21:24:00Z' AND time <= '2016-11-11T22:06:00Z' GROUP BY time(12m) fill(linear)",
        "SELECT \"water_level\",\"location\" FROM \"h2o_feet\" LIMIT 3",
        "SELECT \"water_level\" FROM \"h2o_feet\" GROUP BY * LIMIT 3 OFFSET 3",
        "SELECT \"water_level\" FROM \"h2o_feet\" GROUP BY * SLIMIT 1 SOFFSET 1",
        "SELECT \"water_level\" FROM \"h2o_feet\" WHERE \"location\" = 'santa_monica' ORDER BY time DESC",
        "SELECT \"water_level\" FROM \"h2o_feet\" WHERE \"location\" = 'santa_monica' AND time >= '2015-08-18T00:00:00Z' AND time <= '2015-08-18T00:18:00Z' tz('America/Chicago')",
        "SELECT * FROM \"h2o_feet\" WHERE time > '2015-09-18T21:24:00Z' + 6m",
        "SELECT \"level description\" FROM \"h2o_feet\" WHERE time > 24043524m - 6m",
        "SELECT * FROM \"h2o_feet\" WHERE time >= 1439856000000000000 AND time < 1439856000000000000 + 1h",
        "SELECT /l/ FROM \"h2o_feet\" LIMIT 1",
        "SELECT MEAN(\"degrees\") FROM /temperature/",
        "SELECT MEAN(water_level) FROM \"h2o_feet\" WHERE \"location\" =~ /[m]/ AND \"water_level\" > 3",
        "SELECT * FROM \"h2o_feet\" WHERE \"location\" !~ /./",
        "SELECT FIRST(\"index\") FROM \"h2o_quality\" GROUP BY /l/",
        "SELECT SUM(\"max\") FROM (SELECT MAX(\"water_level\") FROM \"h2o_feet\" GROUP BY \"location\")",
        "SELECT MEAN(\"difference\") FROM (SELECT \"cats\" - \"dogs\" AS \"difference\" FROM \"pet_daycare\")",
        "SELECT \"all_the_means\" FROM (SELECT MEAN(\"water_level\") AS \"all_the_means\" FROM \"h2o_feet\" WHERE time >= '2015-08-18T00:00:00Z' AND time <= '2015-08-18T00:30:00Z' GROUP BY time(12m) ) WHERE \"all_the_means\" > 5",
        "SELECT COUNT(DISTINCT(\"level description\")) FROM \"h2o_feet\"",
        "SELECT PERCENTILE(\"water_level\",5) FROM \"h2o_feet\" GROUP BY \"location\"",
        "SELECT TOP(\"water_level\",\"location\",2) FROM \"h2o_feet\"",
        "SELECT BOTTOM(\"water_level\",3),\"location\" FROM \"h2o_feet\"",
        "SELECT DERIVATIVE(\"water_level\",6m) FROM \"h2o_feet\" WHERE \"location\" = 'santa_monica' AND time >= '2015-08-18T00:00:00Z' AND time <= '2015-08-18T00:30:00Z'",
        "SELECT NON_NEGATIVE_DERIVATIVE(MEAN(\"water_level\"),6m) FROM \"h2o_feet\" WHERE time >= '2015-08-18T00:00:00Z' AND time <= '2015-08-18T00:30:00Z' GROUP BY time(12m)",
        "SELECT MOVING_AVERAGE(\"water_level\",2) FROM \"h2o_feet\" WHERE \"location\" = 'santa_monica' LIMIT 5",
        "SELECT CUMULATIVE_SUM(\"water_level\") FROM \"h2o_feet\"",
        "SELECT ELAPSED(\"water_level\",1m) FROM \"h2o_feet\" WHERE \"location\" = 'santa_monica'",
        "SELECT DIFFERENCE(MAX(\"water_level\")) FROM \"h2o_feet\" WHERE time >= '2015-08-18T00:00:00Z' AND time <= '2015-08-18T00:30:00Z' GROUP BY time(12m)",
        "SELECT SPREAD(\"water_level\"), STDDEV(\"water_level\"), MEDIAN(\"water_level\"), MODE(\"level description\") FROM \"h2o_feet\"",
        "SELECT (\"water_level\" * 2) + 4 FROM \"h2o_feet\"",
        "SELECT \"water_level\" % 2 AS \"mod\", -\"water_level\" FROM \"h2o_feet\"",
    ];
    for query in queries {
        select(query);
    }
}

#[test]
fn influxdb_documentation_schema_queries_parse() {
    let queries = [
        "SHOW DATABASES",
        "SHOW RETENTION POLICIES ON \"NOAA_water_database\"",
        "SHOW SERIES ON \"NOAA_water_database\" FROM \"h2o_quality\" WHERE \"location\" = 'coyote_creek' LIMIT 2",
        "SHOW MEASUREMENTS ON \"NOAA_water_database\" WITH MEASUREMENT =~ /h2o.*/ WHERE \"randtag\"  =~ /\\d/",
        "SHOW TAG KEYS ON \"NOAA_water_database\" FROM \"h2o_quality\" LIMIT 1 OFFSET 1",
        "SHOW TAG VALUES ON \"NOAA_water_database\" WITH KEY IN (\"location\",\"randtag\") WHERE \"randtag\" =~ /./ LIMIT 3",
        "SHOW TAG VALUES ON \"NOAA_water_database\" WITH KEY = \"randtag\"",
        "SHOW FIELD KEYS ON \"NOAA_water_database\" FROM \"h2o_feet\"",
        "CREATE DATABASE \"NOAA_water_database\" WITH DURATION 3d REPLICATION 1 SHARD DURATION 1h NAME \"liquid\"",
        "DROP SERIES FROM \"h2o_feet\" WHERE \"location\" = 'santa_monica'",
        "DELETE FROM \"h2o_feet\" WHERE time < '2020-01-01T00:00:00Z'",
        "CREATE RETENTION POLICY \"one_day_only\" ON \"NOAA_water_database\" DURATION 23h60m REPLICATION 1 DEFAULT",
        "ALTER RETENTION POLICY \"what_is_time\" ON \"NOAA_water_database\" DURATION 3w SHARD DURATION 2h DEFAULT",
        "DROP RETENTION POLICY \"what_is_time\" ON \"NOAA_water_database\"",
    ];
    for query in queries {
        let statement = parse_statement(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert!(!matches!(statement, Statement::Unsupported(_)), "{query}");
        assert_eq!(
            parse_statement(&statement.to_string()),
            Ok(statement),
            "{query}"
        );
    }
}

#[test]
fn grafana_style_queries_with_millisecond_time_bounds_parse() {
    let s = select(
        "SELECT mean(\"usage_idle\") FROM \"cpu\" WHERE (\"host\" =~ /^(host_1|host_2)$/) AND time >= 1451606400000ms and time <= 1451610000000ms GROUP BY time(10s), \"host\" fill(null)",
    );
    let mut bounds = Vec::new();
    s.condition.as_ref().unwrap().walk(&mut |e| {
        if let Expr::Binary { lhs, rhs, .. } = e
            && lhs.is_time()
        {
            bounds.push(rhs.eval_time(0).unwrap());
        }
    });
    assert_eq!(bounds, vec![Some(T0), Some(T0 + HOUR)]);
    assert_eq!(s.fill, Some(Fill::Null));
    let schema = [
        "SHOW MEASUREMENTS LIMIT 100",
        "SHOW TAG KEYS FROM \"cpu\"",
        "SHOW TAG VALUES FROM \"cpu\" WITH KEY = \"host\" WHERE time > now() - 1h",
        "SHOW FIELD KEYS FROM \"cpu\"",
        "SHOW RETENTION POLICIES on \"telegraf\"",
    ];
    for query in schema {
        parse_statement(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    }
}
