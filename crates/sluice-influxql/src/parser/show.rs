//! `SHOW`, `CREATE`, `DROP`, `DELETE` and `ALTER` statements.

use super::Parser;
use crate::ast::*;
use crate::error::Result;
use crate::token::Token;

/// Words that may follow `SHOW`, for error messages.
const SHOW_TARGETS: &str = "CONTINUOUS, DATABASES, DIAGNOSTICS, FIELD, GRANTS, MEASUREMENT, \
     MEASUREMENTS, QUERIES, RETENTION, SERIES, SHARD, SHARDS, STATS, SUBSCRIPTIONS, TAG, USERS";

impl Parser<'_> {
    pub(super) fn show(&mut self) -> Result<Statement> {
        let start = self.bump()?.start;
        let next = self.peek()?;
        let word = match &next.token {
            Token::Ident(w) => w.to_ascii_uppercase(),
            _ => return Err(self.unexpected(&next, SHOW_TARGETS)),
        };
        match word.as_str() {
            "DATABASES" => {
                self.bump()?;
                Ok(Statement::ShowDatabases)
            }
            "MEASUREMENTS" => {
                self.bump()?;
                self.show_measurements()
            }
            "MEASUREMENT" => {
                self.bump()?;
                self.show_cardinality(CardinalityKind::Measurement)
            }
            "SERIES" => {
                self.bump()?;
                if self.peek_keyword("EXACT")? || self.peek_keyword("CARDINALITY")? {
                    return self.show_cardinality(CardinalityKind::Series);
                }
                let database = self.on_clause()?;
                let from = self.optional_from()?;
                let condition = self.where_clause()?;
                let limit = self.count_clause("LIMIT")?;
                let offset = self.count_clause("OFFSET")?;
                Ok(Statement::ShowSeries(ShowSeries {
                    database,
                    from,
                    condition,
                    limit,
                    offset,
                }))
            }
            "TAG" => {
                self.bump()?;
                let next = self.peek()?;
                if next.token.is_keyword("KEYS") {
                    self.bump()?;
                    let database = self.on_clause()?;
                    let from = self.optional_from()?;
                    let condition = self.where_clause()?;
                    let limit = self.count_clause("LIMIT")?;
                    let offset = self.count_clause("OFFSET")?;
                    Ok(Statement::ShowTagKeys(ShowTagKeys {
                        database,
                        from,
                        condition,
                        limit,
                        offset,
                    }))
                } else if next.token.is_keyword("KEY") {
                    self.bump()?;
                    self.show_cardinality(CardinalityKind::TagKey)
                } else if next.token.is_keyword("VALUES") {
                    self.bump()?;
                    if self.peek_keyword("EXACT")? || self.peek_keyword("CARDINALITY")? {
                        // The key filter comes later; a placeholder until it is read.
                        return self.show_cardinality(CardinalityKind::TagValues(
                            TagKeyFilter::In(Vec::new()),
                        ));
                    }
                    let database = self.on_clause()?;
                    let from = self.optional_from()?;
                    let key = self.with_key()?;
                    let condition = self.where_clause()?;
                    let limit = self.count_clause("LIMIT")?;
                    let offset = self.count_clause("OFFSET")?;
                    Ok(Statement::ShowTagValues(ShowTagValues {
                        database,
                        from,
                        key,
                        condition,
                        limit,
                        offset,
                    }))
                } else {
                    Err(self.unexpected(&next, "KEY, KEYS, VALUES"))
                }
            }
            "FIELD" => {
                self.bump()?;
                let next = self.peek()?;
                if next.token.is_keyword("KEYS") {
                    self.bump()?;
                    let database = self.on_clause()?;
                    let from = self.optional_from()?;
                    let limit = self.count_clause("LIMIT")?;
                    let offset = self.count_clause("OFFSET")?;
                    Ok(Statement::ShowFieldKeys(ShowFieldKeys {
                        database,
                        from,
                        limit,
                        offset,
                    }))
                } else if next.token.is_keyword("KEY") {
                    self.bump()?;
                    self.show_cardinality(CardinalityKind::FieldKey)
                } else {
                    Err(self.unexpected(&next, "KEYS, KEY"))
                }
            }
            "RETENTION" => {
                self.bump()?;
                self.expect_keyword("POLICIES")?;
                let database = self.on_clause()?;
                Ok(Statement::ShowRetentionPolicies(ShowRetentionPolicies {
                    database,
                }))
            }
            "CONTINUOUS" => {
                self.bump()?;
                self.expect_keyword("QUERIES")?;
                Ok(Statement::ShowContinuousQueries)
            }
            "SHARD" => {
                self.bump()?;
                let second = self.bump()?;
                self.unsupported(start, format!("SHOW {word} {}", second.token.describe()))
            }
            "DIAGNOSTICS" | "GRANTS" | "QUERIES" | "SHARDS" | "STATS" | "SUBSCRIPTIONS"
            | "USERS" => {
                self.bump()?;
                self.unsupported(start, format!("SHOW {word}"))
            }
            _ => Err(self.unexpected(&next, SHOW_TARGETS)),
        }
    }

    fn show_measurements(&mut self) -> Result<Statement> {
        let database = self.on_clause()?;
        let with_measurement = if self.eat_keyword("WITH")? {
            self.expect_keyword("MEASUREMENT")?;
            let next = self.bump()?;
            match next.token {
                Token::Symbol("=") => Some(MeasurementName::Name(self.ident()?)),
                Token::Symbol("=~") => Some(MeasurementName::Regex(self.regex()?)),
                _ => return Err(self.unexpected(&next, "=, =~")),
            }
        } else {
            None
        };
        let condition = self.where_clause()?;
        let limit = self.count_clause("LIMIT")?;
        let offset = self.count_clause("OFFSET")?;
        Ok(Statement::ShowMeasurements(ShowMeasurements {
            database,
            with_measurement,
            condition,
            limit,
            offset,
        }))
    }

    /// The rest of `SHOW <kind> [EXACT] CARDINALITY ...` after the kind's words.
    fn show_cardinality(&mut self, mut kind: CardinalityKind) -> Result<Statement> {
        let exact = self.eat_keyword("EXACT")?;
        self.expect_keyword("CARDINALITY")?;
        let database = self.on_clause()?;
        let from = self.optional_from()?;
        if let CardinalityKind::TagValues(key) = &mut kind {
            *key = self.with_key()?;
        }
        let condition = self.where_clause()?;
        let limit = self.count_clause("LIMIT")?;
        let offset = self.count_clause("OFFSET")?;
        Ok(Statement::ShowCardinality(ShowCardinality {
            kind,
            exact,
            database,
            from,
            condition,
            limit,
            offset,
        }))
    }

    /// `WITH KEY (= k | != k | =~ /re/ | !~ /re/ | IN (a, b))`.
    fn with_key(&mut self) -> Result<TagKeyFilter> {
        self.expect_keyword("WITH")?;
        self.expect_keyword("KEY")?;
        let next = self.bump()?;
        match next.token {
            Token::Symbol("=") => Ok(TagKeyFilter::Eq(self.ident()?)),
            Token::Symbol("!=" | "<>") => Ok(TagKeyFilter::NotEq(self.ident()?)),
            Token::Symbol("=~") => Ok(TagKeyFilter::Regex(self.regex()?)),
            Token::Symbol("!~") => Ok(TagKeyFilter::NotRegex(self.regex()?)),
            ref token if token.is_keyword("IN") => {
                self.expect_symbol("(")?;
                let keys = self.ident_list()?;
                self.expect_symbol(")")?;
                Ok(TagKeyFilter::In(keys))
            }
            _ => Err(self.unexpected(&next, "=, !=, =~, !~, IN")),
        }
    }

    /// `ON db`, if present.
    fn on_clause(&mut self) -> Result<Option<String>> {
        if self.eat_keyword("ON")? {
            Ok(Some(self.ident()?))
        } else {
            Ok(None)
        }
    }

    /// `FROM m, ...`, if present; empty otherwise.
    fn optional_from(&mut self) -> Result<Vec<MeasurementRef>> {
        if self.eat_keyword("FROM")? {
            self.measurement_list()
        } else {
            Ok(Vec::new())
        }
    }

    /// A retention duration: a duration or `INF` (stored as `0`).
    fn retention_duration(&mut self) -> Result<i64> {
        if self.eat_keyword("INF")? {
            return Ok(0);
        }
        let next = self.peek()?;
        match &next.token {
            Token::Duration(_) | Token::Param(_) => self.duration(),
            _ => Err(self.unexpected(&next, "duration, INF")),
        }
    }

    /// A replication factor: an integer of at least 1.
    fn replication(&mut self) -> Result<u32> {
        let next = self.peek()?;
        let n = self.unsigned()?;
        match u32::try_from(n) {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(self.invalid(
                &next,
                format!("invalid replication factor {n}: must be at least 1"),
            )),
        }
    }

    pub(super) fn create(&mut self) -> Result<Statement> {
        let start = self.bump()?.start;
        let next = self.peek()?;
        if next.token.is_keyword("DATABASE") {
            self.bump()?;
            let name = self.ident()?;
            let retention = if self.eat_keyword("WITH")? {
                let mut settings = RetentionPolicySettings::default();
                if self.eat_keyword("DURATION")? {
                    settings.duration = Some(self.retention_duration()?);
                }
                if self.eat_keyword("REPLICATION")? {
                    settings.replication = Some(self.replication()?);
                }
                if self.eat_keyword("SHARD")? {
                    self.expect_keyword("DURATION")?;
                    settings.shard_duration = Some(self.duration()?);
                }
                if self.eat_keyword("NAME")? {
                    settings.name = Some(self.ident()?);
                }
                if settings == RetentionPolicySettings::default() {
                    let next = self.peek()?;
                    return Err(self.unexpected(&next, "DURATION, NAME, REPLICATION, SHARD"));
                }
                Some(settings)
            } else {
                None
            };
            return Ok(Statement::CreateDatabase(CreateDatabase {
                name,
                retention,
            }));
        }
        if next.token.is_keyword("RETENTION") {
            self.bump()?;
            self.expect_keyword("POLICY")?;
            let name = self.ident()?;
            self.expect_keyword("ON")?;
            let database = self.ident()?;
            self.expect_keyword("DURATION")?;
            let duration = self.retention_duration()?;
            self.expect_keyword("REPLICATION")?;
            let replication = self.replication()?;
            let shard_duration = if self.eat_keyword("SHARD")? {
                self.expect_keyword("DURATION")?;
                Some(self.duration()?)
            } else {
                None
            };
            let default = self.eat_keyword("DEFAULT")?;
            return Ok(Statement::CreateRetentionPolicy(CreateRetentionPolicy {
                name,
                database,
                duration,
                replication,
                shard_duration,
                default,
            }));
        }
        self.other_unsupported(start, "CREATE", &next)
    }

    pub(super) fn drop_statement(&mut self) -> Result<Statement> {
        let start = self.bump()?.start;
        let next = self.peek()?;
        if next.token.is_keyword("DATABASE") {
            self.bump()?;
            let name = self.ident()?;
            return Ok(Statement::DropDatabase(DropDatabase { name }));
        }
        if next.token.is_keyword("MEASUREMENT") {
            self.bump()?;
            let name = self.ident()?;
            return Ok(Statement::DropMeasurement(DropMeasurement { name }));
        }
        if next.token.is_keyword("SERIES") {
            self.bump()?;
            let from = self.optional_from()?;
            let condition = self.where_clause()?;
            if from.is_empty() && condition.is_none() {
                let next = self.peek()?;
                return Err(self.unexpected(&next, "FROM, WHERE"));
            }
            return Ok(Statement::DropSeries(DropSeries { from, condition }));
        }
        if next.token.is_keyword("RETENTION") {
            self.bump()?;
            self.expect_keyword("POLICY")?;
            let name = self.ident()?;
            self.expect_keyword("ON")?;
            let database = self.ident()?;
            return Ok(Statement::DropRetentionPolicy(DropRetentionPolicy {
                name,
                database,
            }));
        }
        self.other_unsupported(start, "DROP", &next)
    }

    /// `CREATE`/`DROP` of users, continuous queries, subscriptions or shards: unsupported.
    fn other_unsupported(
        &mut self,
        start: usize,
        verb: &str,
        next: &crate::token::Spanned,
    ) -> Result<Statement> {
        let targets =
            "DATABASE, MEASUREMENT, SERIES, RETENTION, CONTINUOUS, USER, SUBSCRIPTION, SHARD";
        let expected = if verb == "CREATE" {
            "DATABASE, RETENTION, CONTINUOUS, USER, SUBSCRIPTION"
        } else {
            targets
        };
        let word = match &next.token {
            Token::Ident(w) => w.to_ascii_uppercase(),
            _ => return Err(self.unexpected(next, expected)),
        };
        match word.as_str() {
            "USER" | "SUBSCRIPTION" => {
                self.bump()?;
                self.unsupported(start, format!("{verb} {word}"))
            }
            "SHARD" if verb == "DROP" => {
                self.bump()?;
                self.unsupported(start, format!("{verb} {word}"))
            }
            "CONTINUOUS" => {
                self.bump()?;
                self.expect_keyword("QUERY")?;
                let name = self.ident()?;
                self.expect_keyword("ON")?;
                let database = self.ident()?;
                if verb == "DROP" {
                    return Ok(Statement::DropContinuousQuery(DropContinuousQuery {
                        name,
                        database,
                    }));
                }
                self.create_continuous_query(name, database)
            }
            _ => Err(self.unexpected(next, expected)),
        }
    }

    /// The rest of `CREATE CONTINUOUS QUERY name ON db`: `[RESAMPLE [EVERY d] [FOR d]]
    /// BEGIN select END`, checked as InfluxDB 1.x checks it.
    fn create_continuous_query(&mut self, name: String, database: String) -> Result<Statement> {
        let mut resample_every = None;
        let mut resample_for = None;
        if self.eat_keyword("RESAMPLE")? {
            if self.eat_keyword("EVERY")? {
                let at = self.peek()?;
                let every = self.duration()?;
                if every <= 0 {
                    return Err(self.invalid(&at, "RESAMPLE EVERY must be positive"));
                }
                resample_every = Some(every);
            }
            if self.eat_keyword("FOR")? {
                let at = self.peek()?;
                let window = self.duration()?;
                if window <= 0 {
                    return Err(self.invalid(&at, "RESAMPLE FOR must be positive"));
                }
                resample_for = Some(window);
            }
            if resample_every.is_none() && resample_for.is_none() {
                let next = self.peek()?;
                return Err(self.unexpected(&next, "EVERY, FOR"));
            }
        }
        self.expect_keyword("BEGIN")?;
        let at = self.peek()?;
        let query = self.select()?;
        self.expect_keyword("END")?;
        validate_continuous_query(&query, resample_every, resample_for)
            .map_err(|m| self.invalid(&at, m))?;
        Ok(Statement::CreateContinuousQuery(CreateContinuousQuery {
            name,
            database,
            resample_every,
            resample_for,
            query: Box::new(query),
        }))
    }

    pub(super) fn delete(&mut self) -> Result<Statement> {
        self.bump()?;
        let from = self.optional_from()?;
        let condition = self.where_clause()?;
        if from.is_empty() && condition.is_none() {
            let next = self.peek()?;
            return Err(self.unexpected(&next, "FROM, WHERE"));
        }
        Ok(Statement::Delete(Delete { from, condition }))
    }

    pub(super) fn alter(&mut self) -> Result<Statement> {
        self.bump()?;
        self.expect_keyword("RETENTION")?;
        self.expect_keyword("POLICY")?;
        let name = self.ident()?;
        self.expect_keyword("ON")?;
        let database = self.ident()?;
        let mut statement = AlterRetentionPolicy {
            name,
            database,
            duration: None,
            replication: None,
            shard_duration: None,
            default: false,
        };
        let mut any = false;
        loop {
            if self.eat_keyword("DURATION")? {
                statement.duration = Some(self.retention_duration()?);
            } else if self.eat_keyword("REPLICATION")? {
                statement.replication = Some(self.replication()?);
            } else if self.eat_keyword("SHARD")? {
                self.expect_keyword("DURATION")?;
                statement.shard_duration = Some(self.duration()?);
            } else if self.eat_keyword("DEFAULT")? {
                statement.default = true;
            } else {
                break;
            }
            any = true;
        }
        if !any {
            let next = self.peek()?;
            return Err(self.unexpected(&next, "DURATION, REPLICATION, SHARD, DEFAULT"));
        }
        Ok(Statement::AlterRetentionPolicy(statement))
    }
}

/// What InfluxDB 1.x requires of a continuous query's `SELECT`: an `INTO`, a
/// `GROUP BY time()`, an aggregate, and a `RESAMPLE FOR` no shorter than the interval
/// (or than `EVERY`, when that is longer).
fn validate_continuous_query(
    query: &SelectStatement,
    resample_every: Option<i64>,
    resample_for: Option<i64>,
) -> std::result::Result<(), String> {
    if query.into.is_none() {
        return Err("found FROM, expected INTO".to_owned());
    }
    let Some((interval, _)) = query.group_by_time() else {
        return Err("continuous query requires a GROUP BY time() clause".to_owned());
    };
    if interval <= 0 {
        return Err("GROUP BY time interval must be positive".to_owned());
    }
    if !query.has_calls() {
        return Err("GROUP BY requires at least one aggregate function".to_owned());
    }
    if let Some(window) = resample_for {
        let minimum = resample_every.map_or(interval, |every| every.max(interval));
        if window < minimum {
            return Err(format!(
                "FOR duration must be >= GROUP BY time duration: must be a minimum of {}, got {}",
                crate::literal::format_duration(minimum),
                crate::literal::format_duration(window)
            ));
        }
    }
    Ok(())
}
