//! The `flakewatch` command-line tool. See `docs/cli.md`.

use std::process::ExitCode;

fn main() -> ExitCode {
    flakewatch::cli::main()
}
