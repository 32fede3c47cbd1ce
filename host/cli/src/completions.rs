//! `flakewatch completions SHELL` and `flakewatch man`: shell completions and a man page,
//! generated from the same clap definitions as the parser, so they never drift from it.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, CommandFactory};

/// Arguments of `flakewatch completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Prints the completion script for a shell.
pub(crate) fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "flakewatch", &mut script);
    let mut out = crate::stdout();
    out.write_all(&script)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the man page (roff) of `flakewatch`.
pub(crate) fn man() -> anyhow::Result<ExitCode> {
    let mut page = Vec::new();
    clap_mangen::Man::new(crate::Cli::command()).render(&mut page)?;
    let mut out = crate::stdout();
    out.write_all(&page)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
