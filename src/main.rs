//! The `user-management` binary: parse arguments, then run a subcommand.

use std::process::ExitCode;

fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is worth a warning.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("warning: .env ignored: {err}");
    }
    user_management::cli::main()
}
