//! `sluice`: the time-series database's one binary.
//!
//! Subcommands live one per file under `cli/`; each turns its flags into the plain
//! configuration of the library crate that does the work.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
