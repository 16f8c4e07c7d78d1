//! Property: for any tree the parser can produce, `Display` writes text that parses back to
//! an equal tree.

use proptest::prelude::*;
use sluice_influxql::*;

/// Names that need no quoting, need quoting, or look like keywords or other syntax.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "cpu",
            "host",
            "usage_user",
            "_x1",
            "time",
            "fill",
            "tz",
            "now",
            "from",
            "select",
            "true",
            "distinct",
            "a b",
            "h2o.feet",
            "x\"y",
            "back\\slash",
            "it's",
            "µs",
            "9lives",
            "line\nbreak",
            "",
            "-",
            "$p",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z_][a-zA-Z0-9_]{0,6}",
    ]
}

fn function_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "mean",
        "count",
        "max",
        "top",
        "percentile",
        "derivative",
        "now",
        "distinct",
        "f_1",
    ])
    .prop_map(str::to_owned)
}

/// Patterns without a backslash right before a `/` and not starting with `*`, as the
/// lexer can produce them.
fn regex() -> impl Strategy<Value = Regex> {
    prop_oneof!["[a-z0-9/.^$+ ]{0,8}", Just("\\d+/x".to_owned())].prop_map(Regex)
}

fn duration() -> impl Strategy<Value = i64> {
    prop_oneof![
        (-1000_i64..1000).prop_map(|n| n * 60_000_000_000),
        (i64::MIN + 1)..=i64::MAX,
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<i64>().prop_map(Literal::Integer),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Literal::Unsigned),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Literal::Float),
        ".{0,6}".prop_map(Literal::String),
        any::<bool>().prop_map(Literal::Boolean),
        duration().prop_map(Literal::Duration),
    ]
}

fn data_type() -> impl Strategy<Value = DataType> {
    prop::sample::select(vec![
        DataType::Float,
        DataType::Integer,
        DataType::Unsigned,
        DataType::String,
        DataType::Boolean,
        DataType::Field,
        DataType::Tag,
    ])
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (name(), prop::option::of(data_type()))
            .prop_map(|(name, data_type)| Expr::VarRef(VarRef { name, data_type })),
        literal().prop_map(Expr::Literal),
        prop::option::of(prop::sample::select(vec![DataType::Field, DataType::Tag]))
            .prop_map(Expr::Wildcard),
        regex().prop_map(Expr::Regex),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (function_name(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(name, args)| Expr::Call(Call { name, args })),
            (
                inner.clone(),
                prop::sample::select(vec![
                    BinaryOp::Add,
                    BinaryOp::Sub,
                    BinaryOp::Mul,
                    BinaryOp::Div,
                    BinaryOp::Mod,
                    BinaryOp::BitAnd,
                    BinaryOp::BitOr,
                    BinaryOp::BitXor,
                    BinaryOp::Eq,
                    BinaryOp::NotEq,
                    BinaryOp::Lt,
                    BinaryOp::LtEq,
                    BinaryOp::Gt,
                    BinaryOp::GtEq,
                    BinaryOp::And,
                    BinaryOp::Or,
                ]),
                inner.clone()
            )
                .prop_map(|(lhs, op, rhs)| Expr::binary(lhs, op, rhs)),
            (inner, any::<bool>(), regex()).prop_map(|(lhs, negate, re)| {
                let op = if negate {
                    BinaryOp::RegexNotMatch
                } else {
                    BinaryOp::RegexMatch
                };
                Expr::binary(lhs, op, Expr::Regex(re))
            }),
        ]
    })
}

/// An `INTO` target: a name (never a regex, which InfluxQL refuses there) or
/// `:MEASUREMENT`, optionally qualified.
fn into_target() -> impl Strategy<Value = MeasurementRef> {
    let named = (prop::option::of(name()), prop::option::of(name()), name()).prop_map(
        |(database, retention_policy, name)| MeasurementRef {
            database,
            retention_policy,
            name: MeasurementName::Name(name),
        },
    );
    let source = prop::option::of(name()).prop_map(|database| MeasurementRef {
        database,
        retention_policy: None,
        name: MeasurementName::Name(sluice_influxql::SOURCE_MEASUREMENT.to_owned()),
    });
    prop_oneof![3 => named, 1 => source]
}

fn measurement() -> impl Strategy<Value = MeasurementRef> {
    (
        prop::option::of(name()),
        prop::option::of(name()),
        prop_oneof![
            name().prop_map(MeasurementName::Name),
            regex().prop_map(MeasurementName::Regex)
        ],
    )
        .prop_map(|(database, retention_policy, name)| MeasurementRef {
            database,
            retention_policy,
            name,
        })
}

fn dimension() -> impl Strategy<Value = Dimension> {
    prop_oneof![
        (0..=i64::MAX, prop::option::of(duration()))
            .prop_map(|(interval, offset)| Dimension::Time { interval, offset }),
        name().prop_map(Dimension::Tag),
        Just(Dimension::Wildcard),
        regex().prop_map(Dimension::Regex),
    ]
}

fn fill() -> impl Strategy<Value = Fill> {
    prop_oneof![
        Just(Fill::Null),
        Just(Fill::None),
        Just(Fill::Previous),
        Just(Fill::Linear),
        any::<i64>().prop_map(Fill::Integer),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Fill::Float),
    ]
}

fn select_with(source: BoxedStrategy<Source>) -> impl Strategy<Value = SelectStatement> {
    (
        prop::collection::vec(
            (expr(), prop::option::of(name())).prop_map(|(expr, alias)| Field { expr, alias }),
            1..3,
        ),
        prop::option::of(into_target()),
        prop::collection::vec(source, 1..3),
        prop::option::of(expr()),
        prop::collection::vec(dimension(), 0..3),
        prop::option::of(fill()),
        prop::option::of(prop::sample::select(vec![
            SortOrder::Ascending,
            SortOrder::Descending,
        ])),
        prop::array::uniform4(prop::option::of(any::<u64>())),
        // Zones the IANA database has (the parser refuses others).
        prop::option::of(prop::sample::select(vec![
            String::new(),
            "UTC".to_owned(),
            "America/Chicago".to_owned(),
            "Europe/Berlin".to_owned(),
            "Asia/Kolkata".to_owned(),
        ])),
    )
        .prop_map(
            |(fields, into, from, condition, group_by, fill, order_by, limits, timezone)| {
                SelectStatement {
                    fields,
                    into,
                    from,
                    condition,
                    group_by,
                    fill,
                    order_by,
                    limit: limits[0],
                    offset: limits[1],
                    slimit: limits[2],
                    soffset: limits[3],
                    timezone,
                }
            },
        )
}

fn select() -> impl Strategy<Value = SelectStatement> {
    let inner = select_with(measurement().prop_map(Source::Measurement).boxed());
    let source = prop_oneof![
        4 => measurement().prop_map(Source::Measurement),
        1 => inner.prop_map(|s| Source::Subquery(Box::new(s))),
    ];
    select_with(source.boxed())
}

fn tag_key_filter() -> impl Strategy<Value = TagKeyFilter> {
    prop_oneof![
        name().prop_map(TagKeyFilter::Eq),
        name().prop_map(TagKeyFilter::NotEq),
        regex().prop_map(TagKeyFilter::Regex),
        regex().prop_map(TagKeyFilter::NotRegex),
        prop::collection::vec(name(), 1..3).prop_map(TagKeyFilter::In),
    ]
}

fn statement() -> impl Strategy<Value = Statement> {
    let limits = (
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
    );
    prop_oneof![
        4 => select().prop_map(|s| Statement::Select(Box::new(s))),
        1 => (
            prop::option::of(name()),
            prop::option::of(prop_oneof![
                name().prop_map(MeasurementName::Name),
                regex().prop_map(MeasurementName::Regex)
            ]),
            prop::option::of(expr()),
            limits.clone()
        )
            .prop_map(|(database, with_measurement, condition, (limit, offset))| {
                Statement::ShowMeasurements(ShowMeasurements {
                    database,
                    with_measurement,
                    condition,
                    limit,
                    offset,
                })
            }),
        1 => (
            prop::option::of(name()),
            prop::collection::vec(measurement(), 0..3),
            tag_key_filter(),
            prop::option::of(expr()),
            limits
        )
            .prop_map(|(database, from, key, condition, (limit, offset))| {
                Statement::ShowTagValues(ShowTagValues {
                    database,
                    from,
                    key,
                    condition,
                    limit,
                    offset,
                })
            }),
        1 => (prop::collection::vec(measurement(), 1..3), prop::option::of(expr()))
            .prop_map(|(from, condition)| Statement::Delete(Delete { from, condition })),
        1 => (
            name(),
            prop::option::of(0..=i64::MAX),
            prop::option::of(1..=u32::MAX),
            prop::option::of(0..=i64::MAX),
            name()
        )
            .prop_map(|(name, duration, replication, shard_duration, rp)| {
                Statement::CreateDatabase(CreateDatabase {
                    name,
                    retention: Some(RetentionPolicySettings {
                        duration,
                        replication,
                        shard_duration,
                        name: Some(rp),
                    }),
                })
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn displayed_statements_parse_back_to_the_same_tree(statement in statement()) {
        let text = statement.to_string();
        let reparsed = parse_statement(&text);
        prop_assert_eq!(reparsed, Ok(statement), "text: {}", text);
    }

    #[test]
    fn displayed_queries_of_several_statements_parse_back(statements in prop::collection::vec(statement(), 1..4)) {
        let query = Query { statements };
        prop_assert_eq!(parse(&query.to_string()), Ok(query));
    }

    #[test]
    fn arbitrary_text_never_panics_the_parser(text in "\\PC{0,40}") {
        let _ = parse(&text);
    }

    #[test]
    fn mutated_queries_never_panic_the_parser(statement in statement(), cut in any::<prop::sample::Index>(), insert in "[ -~]{0,3}") {
        let text = statement.to_string();
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mutated = format!("{}{}{}", &text[..at], insert, &text[at..]);
        let _ = parse(&mutated);
    }
}
