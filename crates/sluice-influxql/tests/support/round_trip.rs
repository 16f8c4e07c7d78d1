//! The InfluxQL fuzz target's check, shared with `tests/fuzz_seeds.rs`: any text parses to
//! statements or to an error without panicking (nesting is bounded, so no stack
//! overflow), and what parses prints back to text that parses to the same statements.

pub(crate) fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = sluice_influxql::parse(text) else {
        return;
    };
    let printed = query.to_string();
    let reparsed = sluice_influxql::parse(&printed)
        .unwrap_or_else(|err| panic!("{text:?} printed as {printed:?}, which fails: {err}"));
    assert_eq!(
        reparsed.to_string(),
        printed,
        "printing is not stable for {text:?}"
    );
}
