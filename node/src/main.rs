//! `mutual`: the command-line interface of a Mutual node (see `cli/`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
