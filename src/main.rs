use std::process::ExitCode;

fn main() -> ExitCode {
    mcpr::cli::main()
}
