use std::process::ExitCode;

use kube_garbage_audit::app;
use kube_garbage_audit::cli::{self, Command};

fn main() -> ExitCode {
    // As the kubectl plugin (`kubectl-garbage_audit`), usage and help say `kubectl garbage-audit`.
    let cli = cli::parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(app::exit::CANNOT_RUN);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => app::run(args).await,
            Command::Scan(args) => app::scan(args).await,
            #[cfg(feature = "demo")]
            Command::Demo(args) => app::demo(args).await,
            Command::Remediate(args) => kube_garbage_audit::remediate::run(args).await,
        }
    });
    // Do not wait for abandoned API calls: the process is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}
