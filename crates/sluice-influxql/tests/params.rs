//! Bound parameters: `$name` replaced by its value at parse time.

use std::collections::HashMap;

use sluice_influxql::*;

fn params(pairs: &[(&str, ParamValue)]) -> HashMap<String, ParamValue> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[test]
fn parameters_become_literals_names_regexes_durations_and_counts() {
    let values = params(&[
        ("host", ParamValue::String("host_1".into())),
        ("min", ParamValue::Float(90.5)),
        ("n", ParamValue::Integer(5)),
        ("big", ParamValue::Unsigned(u64::MAX)),
        ("on", ParamValue::Boolean(true)),
        ("since", ParamValue::Duration(3_600_000_000_000)),
        ("re", ParamValue::Regex("^web".into())),
        ("field", ParamValue::Identifier("usage user".into())),
        ("m", ParamValue::String("cpu".into())),
        ("db", ParamValue::Identifier("telegraf".into())),
        ("every", ParamValue::String("1m".into())),
    ]);
    let cases = [
        (
            "SELECT $field FROM $db..$m WHERE host = $host AND usage > $min AND c = $big AND up = $on AND time > now() - $since AND dc =~ $re GROUP BY time($every) LIMIT $n",
            "SELECT \"usage user\" FROM telegraf..cpu WHERE host = 'host_1' AND usage > 90.5 AND c = 18446744073709551615 AND up = true AND time > now() - 1h AND dc =~ /^web/ GROUP BY time(1m) LIMIT 5",
        ),
        (
            "SHOW TAG VALUES ON $db FROM $m WITH KEY = $field",
            "SHOW TAG VALUES ON telegraf FROM cpu WITH KEY = \"usage user\"",
        ),
        ("SELECT x FROM $re", "SELECT x FROM /^web/"),
    ];
    for (input, want) in cases {
        let query = parse_with_params(input, &values).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(query.to_string(), want, "{input}");
    }
}

#[test]
fn a_parameter_missing_from_the_map_is_an_error_naming_it() {
    let values = params(&[("a", ParamValue::Integer(1))]);
    let err = parse_with_params("SELECT x FROM m WHERE a = $a AND b = $b", &values).unwrap_err();
    assert_eq!(
        err.to_string(),
        "error parsing query: missing parameter: b at line 1, char 38"
    );
}

#[test]
fn parameters_inside_strings_are_left_alone() {
    let query = parse("SELECT x FROM m WHERE a = '$a'").unwrap();
    assert_eq!(query.to_string(), "SELECT x FROM m WHERE a = '$a'");
}
