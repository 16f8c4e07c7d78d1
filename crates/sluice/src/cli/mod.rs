//! Command-line flags and the dispatch to each subcommand.

mod input;
mod query;
mod serve;
mod token;
mod write;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sluice: a time-series database built for ingestion, speaking InfluxDB's wire protocols.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the InfluxDB-compatible HTTP server.
    Serve(Box<serve::ServeArgs>),
    /// Create, list and delete database-scoped tokens on a running server.
    Token(token::TokenArgs),
    /// Write line protocol from files or standard input (`--dry-run` validates locally).
    Write(write::WriteArgs),
    /// Run a SQL (or `--influxql`) query on a running server and print the result.
    Query(query::QueryArgs),
}

/// Runs the chosen subcommand and returns the process exit code.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Serve(args) => serve::run(*args),
        Command::Token(args) => token::run(args),
        Command::Write(args) => write::run(args),
        Command::Query(args) => query::run(args),
    }
}
