//! The `hearth` binary: command line, wiring of components, and the all-in-one default.
//!
//! `hearth` with no subcommand starts every component that exists in one process;
//! `hearth tool …` holds the `promtool`-style utilities. Flag names are the upstream
//! programs' (`--web.listen-address`, `--config.file`, …) so existing command lines and
//! service files carry over.

mod all_in_one;
mod build_info;
mod check_metrics;
mod own_metrics;
mod test_promql;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// The Prometheus + Grafana monitoring stack in one binary.
///
/// Without a subcommand, hearth starts every component in one process with data in
/// ./data. Components land one by one; today that is hearth's own metrics endpoint
/// (/metrics, /-/healthy, /-/ready) on :9090.
#[derive(Parser, Debug)]
#[command(
    name = "hearth",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Print version information and exit.
    #[arg(long)]
    version: bool,

    #[command(flatten)]
    all_in_one: AllInOneArgs,

    #[command(flatten)]
    log: LogArgs,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Utilities that work on files and standard input, like `promtool`.
    Tool {
        #[command(subcommand)]
        tool: ToolCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ToolCommand {
    /// Check configuration files and expositions (`promtool check …`).
    Check {
        #[command(subcommand)]
        check: CheckCommand,
    },
    /// Run PromQL test scripts (upstream's `.test` format) against hearth's engine.
    ///
    /// Executes `load`, `clear` and `eval` commands as upstream's promqltest harness
    /// does, with every PromQL feature enabled, prints each failing eval with its file
    /// and line, and ends with `N passed, M failed`. Exit code 1 if any eval failed.
    ///
    ///   hearth tool test-promql promql/promqltest/testdata/*.test
    TestPromql {
        /// The script files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum CheckCommand {
    /// Lint metrics read from standard input, as `promtool check metrics` does.
    ///
    /// Reads the Prometheus text format (or OpenMetrics with --openmetrics), prints parse
    /// errors with their line and column and the naming problems promlint finds. Exit
    /// code: 0 fine, 1 parse error, 3 lint problems only.
    ///
    ///   curl -s http://localhost:9100/metrics | hearth tool check metrics
    Metrics {
        /// Read OpenMetrics 1.0 text and validate it strictly against the specification
        /// (metadata placement, histogram structure, counter values, exemplars).
        #[arg(long)]
        openmetrics: bool,
        /// Print extended information related to the cardinality of the metrics.
        #[arg(long)]
        extended: bool,
    },
}

#[derive(Args, Debug)]
struct AllInOneArgs {
    /// Address to listen on for the web interface, API and hearth's own metrics.
    #[arg(
        long = "web.listen-address",
        default_value = "0.0.0.0:9090",
        value_name = "ADDRESS"
    )]
    web_listen_address: SocketAddr,
}

#[derive(Args, Debug)]
struct LogArgs {
    /// Only log messages with the given severity or above: debug, info, warn, error.
    #[arg(long = "log.level", default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
    log_level: String,
    /// Output format of log messages: logfmt or json.
    #[arg(long = "log.format", default_value = "logfmt", value_parser = ["logfmt", "json"])]
    log_format: String,
}

fn init_logging(args: &LogArgs) {
    let filter = tracing_subscriber::EnvFilter::new(&args.log_level);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if args.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("{}", build_info::version_text());
        return ExitCode::SUCCESS;
    }
    match cli.command {
        Some(Command::Tool { tool }) => run_tool(tool),
        None => {
            init_logging(&cli.log);
            match all_in_one::run(all_in_one::Options {
                listen: cli.all_in_one.web_listen_address,
            }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn run_tool(tool: ToolCommand) -> ExitCode {
    match tool {
        ToolCommand::TestPromql { files } => {
            ExitCode::from(test_promql::run(&files, &mut std::io::stdout()) as u8)
        }
        ToolCommand::Check {
            check:
                CheckCommand::Metrics {
                    openmetrics,
                    extended,
                },
        } => {
            let mut input = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut input) {
                eprintln!("error reading standard input: {e}");
                return ExitCode::from(check_metrics::FAILURE as u8);
            }
            let code = check_metrics::run(
                &input,
                openmetrics,
                extended,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
            ExitCode::from(code as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn upstream_flag_names_parse() {
        let cli = Cli::try_parse_from([
            "hearth",
            "--web.listen-address",
            "127.0.0.1:1",
            "--log.level=debug",
        ])
        .unwrap();
        assert_eq!(cli.all_in_one.web_listen_address.port(), 1);
        let cli =
            Cli::try_parse_from(["hearth", "tool", "check", "metrics", "--openmetrics"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Tool {
                tool: ToolCommand::Check {
                    check: CheckCommand::Metrics {
                        openmetrics: true,
                        ..
                    }
                }
            })
        ));
    }
}
