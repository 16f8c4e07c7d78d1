//! The typed syntax tree that the parser produces and the planner consumes.
//!
//! Conventions that hold everywhere in the tree:
//! - names (measurements, fields, tags, databases) are unquoted and unescaped;
//! - durations and time offsets are `i64` nanoseconds;
//! - function names are lower-case;
//! - parentheses are not kept: the tree's shape carries precedence, and [`Display`] adds
//!   parentheses back where they are needed;
//! - bound parameters (`$name`) have already been replaced by their values;
//! - time strings such as `'2016-01-01T00:00:00Z'` stay [`Literal::String`]: the meaning
//!   depends on the other side of the comparison (`time` or a tag), so the planner converts
//!   them with [`crate::parse_time`], or evaluate the whole side with [`Expr::eval_time`]
//!   (which also reads integers and durations as nanoseconds since the epoch, `now()`,
//!   and `now() - 1h`-style arithmetic).
//!
//! [`Display`]: std::fmt::Display

/// A whole query: the statements of one `q` parameter, in order, separated by `;`.
///
/// Responses number the statements from 0 (`statement_id`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// The statements; empty for a query that is blank or only comments.
    pub statements: Vec<Statement>,
}

/// One InfluxQL statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `SELECT ...`
    Select(Box<SelectStatement>),
    /// `SHOW DATABASES`
    ShowDatabases,
    /// `SHOW MEASUREMENTS ...`
    ShowMeasurements(ShowMeasurements),
    /// `SHOW TAG KEYS ...`
    ShowTagKeys(ShowTagKeys),
    /// `SHOW TAG VALUES ... WITH KEY ...`
    ShowTagValues(ShowTagValues),
    /// `SHOW FIELD KEYS ...`
    ShowFieldKeys(ShowFieldKeys),
    /// `SHOW SERIES ...`
    ShowSeries(ShowSeries),
    /// `SHOW RETENTION POLICIES [ON db]`
    ShowRetentionPolicies(ShowRetentionPolicies),
    /// `SHOW {SERIES|MEASUREMENT|TAG KEY|FIELD KEY|TAG VALUES} [EXACT] CARDINALITY ...`
    ShowCardinality(ShowCardinality),
    /// `CREATE DATABASE ...`
    CreateDatabase(CreateDatabase),
    /// `DROP DATABASE name`
    DropDatabase(DropDatabase),
    /// `DROP MEASUREMENT name`
    DropMeasurement(DropMeasurement),
    /// `DROP SERIES [FROM ...] [WHERE ...]`
    DropSeries(DropSeries),
    /// `DELETE [FROM ...] [WHERE ...]`
    Delete(Delete),
    /// `CREATE RETENTION POLICY ...`
    CreateRetentionPolicy(CreateRetentionPolicy),
    /// `ALTER RETENTION POLICY ...`
    AlterRetentionPolicy(AlterRetentionPolicy),
    /// `DROP RETENTION POLICY name ON db`
    DropRetentionPolicy(DropRetentionPolicy),
    /// `CREATE CONTINUOUS QUERY name ON db [RESAMPLE ...] BEGIN SELECT ... END`
    CreateContinuousQuery(CreateContinuousQuery),
    /// `SHOW CONTINUOUS QUERIES`
    ShowContinuousQueries,
    /// `DROP CONTINUOUS QUERY name ON db`
    DropContinuousQuery(DropContinuousQuery),
    /// A statement InfluxQL has but sluice does not run (users, grants,
    /// `KILL QUERY`, `EXPLAIN`, ...). The server answers it with
    /// `unsupported statement: <feature>` for its `statement_id` and runs the others.
    Unsupported(UnsupportedStatement),
}

/// `SELECT fields [INTO m] FROM sources [WHERE cond] [GROUP BY dims] [fill(..)]
/// [ORDER BY time ASC|DESC] [LIMIT n] [OFFSET n] [SLIMIT n] [SOFFSET n] [tz('..')]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectStatement {
    /// The projection, at least one field.
    pub fields: Vec<Field>,
    /// `INTO` target: where the result rows are written. Its name is
    /// [`SOURCE_MEASUREMENT`] for `INTO :MEASUREMENT` (each source measurement's own name).
    pub into: Option<MeasurementRef>,
    /// Measurements or subqueries, at least one.
    pub from: Vec<Source>,
    /// `WHERE` condition: tag and field predicates and time bounds mixed in one tree.
    pub condition: Option<Expr>,
    /// `GROUP BY` dimensions, in the order written.
    pub group_by: Vec<Dimension>,
    /// `fill(...)`; `None` means InfluxDB's default, which is [`Fill::Null`].
    pub fill: Option<Fill>,
    /// `ORDER BY time ASC|DESC`; `None` means ascending.
    pub order_by: Option<SortOrder>,
    /// `LIMIT`: points per series.
    pub limit: Option<u64>,
    /// `OFFSET`: points per series skipped.
    pub offset: Option<u64>,
    /// `SLIMIT`: series.
    pub slimit: Option<u64>,
    /// `SOFFSET`: series skipped.
    pub soffset: Option<u64>,
    /// `tz('America/Chicago')`: the time zone name as written.
    pub timezone: Option<String>,
}

impl SelectStatement {
    /// A statement with the given fields and sources and every optional clause empty.
    pub fn new(fields: Vec<Field>, from: Vec<Source>) -> Self {
        SelectStatement {
            fields,
            into: None,
            from,
            condition: None,
            group_by: Vec::new(),
            fill: None,
            order_by: None,
            limit: None,
            offset: None,
            slimit: None,
            soffset: None,
            timezone: None,
        }
    }

    /// `GROUP BY time(interval[, offset])` as `(interval_ns, offset_ns)`, if present.
    pub fn group_by_time(&self) -> Option<(i64, i64)> {
        self.group_by.iter().find_map(|d| match d {
            Dimension::Time { interval, offset } => Some((*interval, offset.unwrap_or(0))),
            _ => None,
        })
    }

    /// Whether the rows come out newest first (`ORDER BY time DESC`).
    pub fn is_descending(&self) -> bool {
        self.order_by == Some(SortOrder::Descending)
    }

    /// Whether any field calls a function (an aggregate, selector or transformation);
    /// a query without one returns raw points.
    pub fn has_calls(&self) -> bool {
        self.fields.iter().any(|f| f.expr.has_call())
    }
}

/// One projected column: an expression and its optional `AS` alias.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// What is computed.
    pub expr: Expr,
    /// `AS name`.
    pub alias: Option<String>,
}

impl Field {
    /// A field without an alias.
    pub fn new(expr: Expr) -> Self {
        Field { expr, alias: None }
    }

    /// The column name InfluxDB gives this field: the alias, else the name of the
    /// outermost function call (`mean(x)` → `mean`), else the variable's name
    /// (`x + 1` → `x`), else the empty string.
    pub fn column_name(&self) -> String {
        if let Some(alias) = &self.alias {
            return alias.clone();
        }
        // A binary expression is named by its variables and calls (not looking inside
        // calls) joined with `_`, as InfluxDB 1.x does: `mean(a) + mean(b)` is `mean_mean`.
        fn names_of(expr: &Expr, out: &mut Vec<String>) {
            match expr {
                Expr::Call(call) => out.push(call.name.clone()),
                Expr::VarRef(var) => out.push(var.name.clone()),
                Expr::Binary { lhs, rhs, .. } => {
                    names_of(lhs, out);
                    names_of(rhs, out);
                }
                _ => {}
            }
        }
        let mut names = Vec::new();
        names_of(&self.expr, &mut names);
        names.join("_")
    }
}

/// The name an `INTO :MEASUREMENT` target holds: write each series to the measurement
/// it was read from.
pub const SOURCE_MEASUREMENT: &str = ":MEASUREMENT";

/// `CREATE CONTINUOUS QUERY name ON db [RESAMPLE [EVERY d] [FOR d]] BEGIN select END`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateContinuousQuery {
    /// The query's name, unique per database.
    pub name: String,
    /// The database it runs on (the default database of its `SELECT`).
    pub database: String,
    /// `RESAMPLE EVERY`: how often it runs, nanoseconds; `None` is the `GROUP BY time`
    /// interval.
    pub resample_every: Option<i64>,
    /// `RESAMPLE FOR`: how far back each run reads, nanoseconds; `None` is the
    /// `GROUP BY time` interval.
    pub resample_for: Option<i64>,
    /// The `SELECT ... INTO ... GROUP BY time(...)` it runs.
    pub query: Box<SelectStatement>,
}

/// `DROP CONTINUOUS QUERY name ON db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropContinuousQuery {
    /// The query's name.
    pub name: String,
    /// Its database.
    pub database: String,
}

/// Where a `SELECT` reads from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A measurement by name or regex, optionally with database and retention policy.
    Measurement(MeasurementRef),
    /// `FROM (SELECT ...)`.
    Subquery(Box<SelectStatement>),
}

/// `[db.[rp].]name` or `[db.[rp].]/regex/`.
///
/// `cpu` has neither database nor policy; `autogen.cpu` has a policy; `db..cpu` a database
/// only; `db.autogen.cpu` both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurementRef {
    /// Database, when written.
    pub database: Option<String>,
    /// Retention policy, when written.
    pub retention_policy: Option<String>,
    /// The measurement name or a pattern over names.
    pub name: MeasurementName,
}

impl MeasurementRef {
    /// A bare measurement name.
    pub fn named(name: impl Into<String>) -> Self {
        MeasurementRef {
            database: None,
            retention_policy: None,
            name: MeasurementName::Name(name.into()),
        }
    }
}

/// A measurement given by name or by a regex over names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeasurementName {
    /// An exact name.
    Name(String),
    /// Every measurement whose name the regex matches (unanchored, as in InfluxDB).
    Regex(Regex),
}

/// A regular expression literal `/pattern/`; holds the pattern with `\/` turned into `/`.
/// Its syntax is not checked here (the planner compiles it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Regex(pub String);

/// A `GROUP BY` dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dimension {
    /// `time(interval[, offset])`, nanoseconds; the offset may be negative.
    Time {
        /// Bucket width.
        interval: i64,
        /// Shift of the bucket boundaries, when written.
        offset: Option<i64>,
    },
    /// A tag key.
    Tag(String),
    /// `*`: every tag.
    Wildcard,
    /// `/regex/`: every tag whose key matches.
    Regex(Regex),
}

/// `fill(...)`: what a `GROUP BY time` bucket without points yields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// `fill(null)`: a null (the default).
    Null,
    /// `fill(none)`: no row.
    None,
    /// `fill(previous)`: the previous bucket's value.
    Previous,
    /// `fill(linear)`: linear interpolation between neighbours.
    Linear,
    /// `fill(5)`: this integer.
    Integer(i64),
    /// `fill(0.5)`: this float.
    Float(f64),
}

/// `ORDER BY time ASC|DESC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    /// Oldest first.
    Ascending,
    /// Newest first.
    Descending,
}

/// An expression in a field, a condition or a function argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A field, a tag or `time`, with an optional `::type` cast.
    VarRef(VarRef),
    /// `*`, `*::field` or `*::tag` (in fields and as a function argument).
    Wildcard(Option<DataType>),
    /// `/regex/`: in fields selects matching field keys; on the right of `=~`/`!~` it is
    /// the pattern.
    Regex(Regex),
    /// A function call such as `mean(usage)` or `now()`.
    Call(Call),
    /// A literal value.
    Literal(Literal),
    /// `lhs op rhs`. A unary minus on a non-literal is kept as `-1 * expr`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
}

impl Expr {
    /// `lhs op rhs`.
    pub fn binary(lhs: Expr, op: BinaryOp, rhs: Expr) -> Self {
        Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        }
    }

    /// A reference to a field, tag or `time` without a cast.
    pub fn var(name: impl Into<String>) -> Self {
        Expr::VarRef(VarRef {
            name: name.into(),
            data_type: None,
        })
    }

    /// Whether this is `now()`.
    pub fn is_now(&self) -> bool {
        matches!(self, Expr::Call(call) if call.name == "now" && call.args.is_empty())
    }

    /// Whether this is a reference to `time` (case-insensitive, as InfluxDB treats it).
    pub fn is_time(&self) -> bool {
        matches!(self, Expr::VarRef(var) if var.name.eq_ignore_ascii_case("time"))
    }

    /// Whether a function call appears anywhere in this expression (`now()` excluded).
    pub fn has_call(&self) -> bool {
        match self {
            Expr::Call(_) if self.is_now() => false,
            Expr::Call(_) => true,
            Expr::Binary { lhs, rhs, .. } => lhs.has_call() || rhs.has_call(),
            _ => false,
        }
    }

    /// Calls `visit` on this expression and every expression inside it, parents first.
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Expr)) {
        visit(self);
        match self {
            Expr::Call(call) => call.args.iter().for_each(|a| a.walk(visit)),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.walk(visit);
                rhs.walk(visit);
            }
            _ => {}
        }
    }
}

/// A reference to a field, tag or `time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    /// The name, unquoted.
    pub name: String,
    /// `::type` when written.
    pub data_type: Option<DataType>,
}

/// The types of `::type` casts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `::float`
    Float,
    /// `::integer`
    Integer,
    /// `::unsigned`
    Unsigned,
    /// `::string`
    String,
    /// `::boolean`
    Boolean,
    /// `::field`: any field, whatever its type.
    Field,
    /// `::tag`: a tag, not a field of the same name.
    Tag,
}

impl DataType {
    /// The keyword after `::`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Float => "float",
            DataType::Integer => "integer",
            DataType::Unsigned => "unsigned",
            DataType::String => "string",
            DataType::Boolean => "boolean",
            DataType::Field => "field",
            DataType::Tag => "tag",
        }
    }

    /// Reads the keyword after `::` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            DataType::Float,
            DataType::Integer,
            DataType::Unsigned,
            DataType::String,
            DataType::Boolean,
            DataType::Field,
            DataType::Tag,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(name))
    }
}

/// A function call; see [`crate::validate_select`] for the names sluice runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The lower-case function name.
    pub name: String,
    /// The arguments in order (`count(distinct(x))` nests a call).
    pub args: Vec<Expr>,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `42`, `-7`
    Integer(i64),
    /// An integer above `i64::MAX`.
    Unsigned(u64),
    /// `0.5`, `90.0`
    Float(f64),
    /// `'text'`, unescaped; also time strings.
    String(String),
    /// `true`, `false`
    Boolean(bool),
    /// `10s`, `1h30m`: nanoseconds.
    Duration(i64),
}

/// Binary operators, from lowest to highest precedence: `OR`; `AND`; comparisons;
/// `+ - | ^`; `* / % &`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `&`
    BitAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
    /// `=`
    Eq,
    /// `!=` or `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `=~`
    RegexMatch,
    /// `!~`
    RegexNotMatch,
    /// `AND`
    And,
    /// `OR`
    Or,
}

impl BinaryOp {
    /// Binding strength: a higher number binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq
            | BinaryOp::RegexMatch
            | BinaryOp::RegexNotMatch => 3,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::BitOr | BinaryOp::BitXor => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::BitAnd => 5,
        }
    }

    /// The operator as written in canonical text.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::RegexMatch => "=~",
            BinaryOp::RegexNotMatch => "!~",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
        }
    }

    /// Whether this compares two values (`=`, `<`, `=~`, ...), giving a boolean.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }
}

/// `SHOW MEASUREMENTS [ON db] [WITH MEASUREMENT =~ /re/ | = name] [WHERE] [LIMIT] [OFFSET]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShowMeasurements {
    /// `ON db`; `None` means the request's `db` parameter.
    pub database: Option<String>,
    /// `WITH MEASUREMENT ...`
    pub with_measurement: Option<MeasurementName>,
    /// `WHERE`: tag predicates selecting measurements that have matching series.
    pub condition: Option<Expr>,
    /// `LIMIT`
    pub limit: Option<u64>,
    /// `OFFSET`
    pub offset: Option<u64>,
}

/// `SHOW TAG KEYS [ON db] [FROM m, ...] [WHERE] [LIMIT] [OFFSET]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShowTagKeys {
    /// `ON db`
    pub database: Option<String>,
    /// `FROM`; empty means every measurement.
    pub from: Vec<MeasurementRef>,
    /// `WHERE`
    pub condition: Option<Expr>,
    /// `LIMIT`
    pub limit: Option<u64>,
    /// `OFFSET`
    pub offset: Option<u64>,
}

/// `SHOW TAG VALUES [ON db] [FROM m, ...] WITH KEY ... [WHERE] [LIMIT] [OFFSET]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShowTagValues {
    /// `ON db`
    pub database: Option<String>,
    /// `FROM`; empty means every measurement.
    pub from: Vec<MeasurementRef>,
    /// `WITH KEY ...`: which tag keys.
    pub key: TagKeyFilter,
    /// `WHERE`
    pub condition: Option<Expr>,
    /// `LIMIT`
    pub limit: Option<u64>,
    /// `OFFSET`
    pub offset: Option<u64>,
}

/// The `WITH KEY` clause of `SHOW TAG VALUES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagKeyFilter {
    /// `= key`
    Eq(String),
    /// `!= key`
    NotEq(String),
    /// `=~ /re/`
    Regex(Regex),
    /// `!~ /re/`
    NotRegex(Regex),
    /// `IN (a, b)`
    In(Vec<String>),
}

/// `SHOW FIELD KEYS [ON db] [FROM m, ...] [LIMIT] [OFFSET]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShowFieldKeys {
    /// `ON db`
    pub database: Option<String>,
    /// `FROM`; empty means every measurement.
    pub from: Vec<MeasurementRef>,
    /// `LIMIT`
    pub limit: Option<u64>,
    /// `OFFSET`
    pub offset: Option<u64>,
}

/// `SHOW SERIES [ON db] [FROM m, ...] [WHERE] [LIMIT] [OFFSET]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShowSeries {
    /// `ON db`
    pub database: Option<String>,
    /// `FROM`; empty means every measurement.
    pub from: Vec<MeasurementRef>,
    /// `WHERE`
    pub condition: Option<Expr>,
    /// `LIMIT`
    pub limit: Option<u64>,
    /// `OFFSET`
    pub offset: Option<u64>,
}

/// `SHOW RETENTION POLICIES [ON db]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShowRetentionPolicies {
    /// `ON db`
    pub database: Option<String>,
}

/// `SHOW <kind> [EXACT] CARDINALITY [ON db] [FROM ...] [WITH KEY ...] [WHERE] [LIMIT]
/// [OFFSET]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShowCardinality {
    /// What is counted.
    pub kind: CardinalityKind,
    /// `EXACT`: count precisely rather than estimate.
    pub exact: bool,
    /// `ON db`
    pub database: Option<String>,
    /// `FROM`; empty means every measurement.
    pub from: Vec<MeasurementRef>,
    /// `WHERE`
    pub condition: Option<Expr>,
    /// `LIMIT`
    pub limit: Option<u64>,
    /// `OFFSET`
    pub offset: Option<u64>,
}

/// What `SHOW ... CARDINALITY` counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardinalityKind {
    /// `SERIES`
    Series,
    /// `MEASUREMENT`
    Measurement,
    /// `TAG KEY`
    TagKey,
    /// `FIELD KEY`
    FieldKey,
    /// `TAG VALUES ... WITH KEY ...`
    TagValues(TagKeyFilter),
}

/// `CREATE DATABASE name [WITH [DURATION d] [REPLICATION n] [SHARD DURATION d] [NAME rp]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDatabase {
    /// The database name.
    pub name: String,
    /// The `WITH` clause: the default retention policy's settings.
    pub retention: Option<RetentionPolicySettings>,
}

/// Retention policy settings as `CREATE DATABASE ... WITH` gives them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetentionPolicySettings {
    /// `DURATION`, nanoseconds; `0` means `INF` (keep forever).
    pub duration: Option<i64>,
    /// `REPLICATION`
    pub replication: Option<u32>,
    /// `SHARD DURATION`, nanoseconds.
    pub shard_duration: Option<i64>,
    /// `NAME`: the policy's name.
    pub name: Option<String>,
}

/// `DROP DATABASE name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropDatabase {
    /// The database name.
    pub name: String,
}

/// `DROP MEASUREMENT name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropMeasurement {
    /// The measurement name.
    pub name: String,
}

/// `DROP SERIES [FROM m, ...] [WHERE cond]`; at least one of the two is present.
#[derive(Debug, Clone, PartialEq)]
pub struct DropSeries {
    /// `FROM`; empty means every measurement.
    pub from: Vec<MeasurementRef>,
    /// `WHERE`: tag predicates only in InfluxDB.
    pub condition: Option<Expr>,
}

/// `DELETE [FROM m, ...] [WHERE cond]`; at least one of the two is present.
#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    /// `FROM`; empty means every measurement.
    pub from: Vec<MeasurementRef>,
    /// `WHERE`: tag predicates and time bounds.
    pub condition: Option<Expr>,
}

/// `CREATE RETENTION POLICY name ON db DURATION d REPLICATION n [SHARD DURATION d]
/// [DEFAULT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRetentionPolicy {
    /// The policy name.
    pub name: String,
    /// `ON db`
    pub database: String,
    /// `DURATION`, nanoseconds; `0` means `INF`.
    pub duration: i64,
    /// `REPLICATION`
    pub replication: u32,
    /// `SHARD DURATION`, nanoseconds.
    pub shard_duration: Option<i64>,
    /// `DEFAULT`: make it the database's default policy.
    pub default: bool,
}

/// `ALTER RETENTION POLICY name ON db [DURATION d] [REPLICATION n] [SHARD DURATION d]
/// [DEFAULT]`; at least one setting is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterRetentionPolicy {
    /// The policy name.
    pub name: String,
    /// `ON db`
    pub database: String,
    /// `DURATION`, nanoseconds; `0` means `INF`.
    pub duration: Option<i64>,
    /// `REPLICATION`
    pub replication: Option<u32>,
    /// `SHARD DURATION`, nanoseconds.
    pub shard_duration: Option<i64>,
    /// `DEFAULT`
    pub default: bool,
}

/// `DROP RETENTION POLICY name ON db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRetentionPolicy {
    /// The policy name.
    pub name: String,
    /// `ON db`
    pub database: String,
}

/// A statement that parses as InfluxQL but that sluice does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedStatement {
    /// The feature's name in upper case, such as `CREATE USER` or `KILL QUERY`.
    pub feature: String,
    /// The statement's text as written, trimmed.
    pub text: String,
}

impl UnsupportedStatement {
    /// The message the server sends for it: `unsupported statement: CREATE USER`.
    pub fn message(&self) -> String {
        format!("unsupported statement: {}", self.feature)
    }
}
