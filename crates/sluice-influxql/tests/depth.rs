//! Nesting depth: queries nested past `MAX_NESTING_DEPTH` are refused with a parse error
//! (never a stack overflow), and the deepest accepted queries parse, display, parse back
//! and drop on a thread with half the stack of sluice's query threads (16 MiB), in a
//! debug build (which needs about ten times the stack of a release build).

use sluice_influxql::{Error, MAX_NESTING_DEPTH, parse};

/// Runs `f` on a thread with an 8 MiB stack, half of what sluice's query threads have.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic (and no stack overflow)")
}

fn parens(n: usize) -> String {
    format!(
        "SELECT v FROM m WHERE {}a = 1{}",
        "(".repeat(n),
        ")".repeat(n)
    )
}

fn subqueries(n: usize) -> String {
    let mut q = "SELECT v FROM m".to_owned();
    for _ in 0..n {
        q = format!("SELECT v FROM ({q})");
    }
    q
}

fn or_chain(n: usize) -> String {
    let terms: Vec<String> = (0..n).map(|i| format!("a = {i}")).collect();
    format!("SELECT v FROM m WHERE {}", terms.join(" OR "))
}

fn signs(n: usize) -> String {
    format!("SELECT {}v FROM m", "- ".repeat(n))
}

fn calls(n: usize) -> String {
    format!("SELECT {}v{} FROM m", "abs(".repeat(n), ")".repeat(n))
}

fn assert_too_deep(query: String) {
    let len = query.len();
    match on_small_stack(move || parse(&query)) {
        Err(e @ Error::TooDeep { .. }) => {
            let text = e.to_string();
            assert!(
                text.starts_with(
                    "error parsing query: query nested deeper than the limit of 250 levels"
                ),
                "{text}"
            );
        }
        other => panic!("a {len}-byte query: expected TooDeep, got {other:?}"),
    }
}

#[test]
fn refuses_thousands_of_nested_parentheses() {
    // The query that took the server down: about 3,000 parentheses, 6 KB.
    assert_too_deep(parens(3_000));
    assert_too_deep(parens(1_000_000));
}

#[test]
fn refuses_deeply_nested_subqueries() {
    assert_too_deep(subqueries(3_000));
}

#[test]
fn refuses_long_operator_chains_built_by_the_loop() {
    assert_too_deep(or_chain(20_000));
    assert_too_deep(format!("SELECT {} FROM m", vec!["v"; 10_000].join(" + ")));
}

#[test]
fn refuses_long_sign_chains_and_nested_calls() {
    assert_too_deep(signs(100_000));
    assert_too_deep(format!("SELECT {}v FROM m", "+ ".repeat(100_000)));
    assert_too_deep(calls(100_000));
}

#[test]
fn names_where_the_limit_was_passed() {
    let err = on_small_stack(|| parse(&parens(600))).unwrap_err();
    let Error::TooDeep {
        limit,
        line,
        column,
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!((limit, line), (MAX_NESTING_DEPTH, 1));
    // `SELECT v FROM m WHERE ` is 22 characters; the 251st parenthesis (char 273) is the
    // first token one level too deep.
    assert_eq!(column, 22 + MAX_NESTING_DEPTH + 1);
}

#[test]
fn accepts_the_deepest_queries_and_walks_them() {
    // The deepest of each kind that fits: each `(`, sign, call and subquery counts one
    // level, and an expression's tree depth counts with the levels around it.
    let deepest = [
        parens(MAX_NESTING_DEPTH - 3),
        subqueries(MAX_NESTING_DEPTH - 3),
        or_chain(MAX_NESTING_DEPTH / 2 - 1),
        signs(MAX_NESTING_DEPTH / 2 - 1),
        calls(MAX_NESTING_DEPTH / 2 - 1),
    ];
    for query in deepest {
        let len = query.len();
        let ok = on_small_stack(move || {
            let parsed = parse(&query).map_err(|e| e.to_string())?;
            let text = parsed.to_string();
            let again = parse(&text).map_err(|e| format!("{e} in {text}"))?;
            if again != parsed {
                return Err("display does not parse back to the same tree".to_owned());
            }
            drop((parsed, again));
            Ok::<(), String>(())
        });
        assert_eq!(ok, Ok(()), "{len}-byte query");
    }
}

#[test]
fn deep_chains_just_under_the_limit_parse() {
    assert!(on_small_stack(|| parse(&or_chain(MAX_NESTING_DEPTH - 10))).is_ok());
    assert!(on_small_stack(|| parse(&or_chain(MAX_NESTING_DEPTH + 10))).is_err());
}
