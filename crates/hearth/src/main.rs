//! The `hearth` binary: command line, wiring of components, and the all-in-one default.
//!
//! `hearth` with no subcommand starts every component that exists in one process;
//! `hearth tool …` holds the `promtool`-style utilities. Flag names are the upstream
//! programs' (`--web.listen-address`, `--config.file`, …) so existing command lines and
//! service files carry over.

mod alertmanager_cli;
mod all_in_one;
mod build_info;
mod check_config;
mod check_metrics;
mod check_rules;
mod component_server;
mod dashboards_cli;
mod node_exporter_cli;
mod own_metrics;
mod pushgateway_cli;
mod server_cli;
mod server_remote;
mod server_rules;
mod server_scrape;
mod server_storage;
mod test_promql;
mod test_rules;
mod tsdb_tool;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// The Prometheus + Grafana monitoring stack in one binary.
///
/// Without a subcommand, hearth starts every component in one process with data in
/// ./data. Components land one by one; today that is the Prometheus server (scraping,
/// TSDB, PromQL, HTTP API, /federate, remote read) on :9090 with prometheus.yml from the
/// working directory or a built-in configuration scraping hearth itself, its node
/// exporter and its pushgateway; the Alertmanager on :9093 (alertmanager.yml from the
/// working directory or a built-in configuration with one receiver and no integrations;
/// data in ./data/alertmanager), the pushgateway on :9091, the node exporter on :9100 and
/// the dashboards API on :3000 (data in ./data/dashboards, a default "hearth" data source).
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
    /// Run the Prometheus server: scrape targets, store samples on Prometheus' disk
    /// format, answer PromQL over Prometheus' HTTP API, with its flags, on :9090.
    ///
    /// Reads prometheus.yml (--config.file), keeps data in --storage.tsdb.path, and
    /// serves /api/v1/query, /api/v1/query_range, /api/v1/series, /federate, … so
    /// Grafana, promtool and other Prometheus clients work against it. SIGHUP (or
    /// POST /-/reload with --web.enable-lifecycle) reloads the configuration.
    ///
    ///   hearth server --config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/var/lib/prometheus
    Server(Box<server_cli::ServerArgs>),
    /// Export this host's metrics (CPU, memory, disks, filesystems, network, …) like
    /// Prometheus' node_exporter, with its metric names and flags, on :9100.
    ///
    /// Reads /proc and /sys (see --path.procfs, --path.sysfs, --path.rootfs); every
    /// default Linux collector upstream has is a `--[no-]collector.<name>` flag.
    /// Metrics of other programs can be dropped as *.prom files into
    /// --collector.textfile.directory.
    ///
    ///   hearth node-exporter --web.listen-address=:9100 --no-collector.hwmon
    NodeExporter(Box<node_exporter_cli::NodeExporterArgs>),
    /// Accept metrics pushed by batch jobs and expose them for Prometheus to scrape,
    /// like Prometheus' Pushgateway, with its API and flags, on :9091.
    ///
    /// Jobs push with PUT (replace the group), POST (replace same-name metrics) or
    /// DELETE on /metrics/job/<job>{/<label>/<value>} (values may be base64url after a
    /// `<label>@base64` name), in the text format or delimited protobuf; every client
    /// library's push_to_gateway works. Scrape it with `honor_labels: true`. Groups
    /// survive restarts with --persistence.file (upstream's file format).
    ///
    ///   hearth pushgateway --persistence.file=/var/lib/hearth/pushgateway.db
    ///   echo 'some_metric 3.14' | curl --data-binary @- localhost:9091/metrics/job/some_job
    Pushgateway(Box<pushgateway_cli::PushgatewayArgs>),
    /// Route, group, silence and send alerts like Prometheus' Alertmanager, with its
    /// alertmanager.yml, API v2 (amtool works against it) and flags, on :9093.
    ///
    /// Receives alerts from Prometheus (or any client of POST /api/v2/alerts), routes
    /// them through the route tree, groups them, applies inhibit rules, silences and
    /// time intervals, and notifies webhook, Slack, PagerDuty and email receivers.
    /// Alerts, silences and the notification log are kept in --storage.path and survive
    /// restarts. SIGHUP or POST /-/reload reloads the configuration. Clustering
    /// (--cluster.*) is accepted but not implemented yet: each instance runs alone.
    ///
    ///   hearth alertmanager --config.file=/etc/alertmanager/alertmanager.yml --storage.path=/var/lib/alertmanager
    ///   amtool --alertmanager.url=http://localhost:9093 alert query
    Alertmanager(Box<alertmanager_cli::AlertmanagerArgs>),
    /// Serve dashboards, data sources, folders and users with Grafana's HTTP API (the
    /// part its clients use, grafana-client among them), on :3000.
    ///
    /// Dashboards are Grafana's JSON model (export from Grafana, import here, and back);
    /// data sources are queried through the server-side proxy
    /// /api/datasources/proxy/uid/<uid>/api/v1/…; users have Admin/Editor/Viewer roles,
    /// passwords, sessions (POST /login) and service-account tokens. Everything is kept
    /// in SQLite under --storage.path. --provisioning reads Grafana's provisioning YAML
    /// (datasources/, dashboards/). The browser UI is not built yet: / says so.
    ///
    ///   hearth dashboards --admin-password=secret --provisioning=/etc/grafana/provisioning
    ///   curl -u admin:secret localhost:3000/api/search
    Dashboards(Box<dashboards_cli::DashboardsArgs>),
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
    /// Work with TSDB data directories and blocks (`promtool tsdb …`).
    Tsdb {
        #[command(subcommand)]
        tsdb: tsdb_tool::TsdbCommand,
    },
    /// Unit tests for rules (`promtool test rules`).
    Test {
        #[command(subcommand)]
        test: TestCommand,
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
    /// Check alertmanager.yml files, as `amtool check-config` does.
    ///
    /// Loads each file as `hearth alertmanager` would (unknown fields, bad values and
    /// upstream's cross-field rules are errors with file, line and column) together with
    /// the templates it names, and prints what it found. Exit code: 0 valid, 1 invalid.
    ///
    ///   hearth tool check-alertmanager-config /etc/alertmanager/alertmanager.yml
    CheckAlertmanagerConfig {
        /// The configuration files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum TestCommand {
    /// Run rule unit tests in upstream's format, as `promtool test rules` does.
    ///
    /// Each file names rule files and test groups: input series in PromQL series
    /// notation, expected alerts (`alert_rule_test`) and query results
    /// (`promql_expr_test`) at evaluation times. Exit code 1 if any test fails.
    ///
    ///   hearth tool test rules tests.yml
    Rules {
        /// The unit test files.
        #[arg(required = true, value_name = "TEST-RULE-FILE")]
        files: Vec<String>,
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
    /// Check prometheus.yml files, as `promtool check config` does.
    ///
    /// Loads each file as the server would (unknown fields, bad values and cross-field
    /// rules are errors with file, line and column), then checks the rule files, TLS and
    /// credential files and file SD target files it names. Exit code: 0 valid, 1 invalid.
    ///
    ///   hearth tool check config /etc/prometheus/prometheus.yml
    Config {
        /// Only check the config file syntax, ignoring file and content validation
        /// referenced in the config.
        #[arg(long = "syntax-only")]
        syntax_only: bool,
        /// Linting checks to apply to the rules specified in the config: all,
        /// duplicate-rules, none.
        #[arg(long, default_value = "duplicate-rules")]
        lint: String,
        /// Make lint errors exit with exit code 3.
        #[arg(long = "lint-fatal")]
        lint_fatal: bool,
        /// Check config file for Prometheus in Agent mode.
        #[arg(long)]
        agent: bool,
        /// The config files to check.
        #[arg(required = true, value_name = "CONFIG-FILES")]
        files: Vec<String>,
    },
    /// Check rule files, as `promtool check rules` does.
    ///
    /// Parses and validates each file as the server loads it: unknown fields with file,
    /// line and column, duplicate group names, invalid names, expression parse errors and
    /// template syntax errors with upstream's messages. Exit code: 0 valid, 1 invalid,
    /// 3 duplicate rules with --lint-fatal.
    ///
    ///   hearth tool check rules /etc/prometheus/rules/*.yml
    Rules {
        /// Linting checks to apply: all, duplicate-rules, none.
        #[arg(long, default_value = "duplicate-rules")]
        lint: String,
        /// Make lint errors exit with exit code 3.
        #[arg(long = "lint-fatal")]
        lint_fatal: bool,
        /// The rule files to check.
        #[arg(required = true, value_name = "RULE-FILES")]
        files: Vec<String>,
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
    #[arg(long = "log.level", global = true, default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
    log_level: String,
    /// Output format of log messages: logfmt or json.
    #[arg(long = "log.format", global = true, default_value = "logfmt", value_parser = ["logfmt", "json"])]
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
        Some(Command::NodeExporter(args)) => {
            init_logging(&cli.log);
            node_exporter_cli::run(&args)
        }
        Some(Command::Server(args)) => {
            init_logging(&cli.log);
            server_cli::run(&args, &cli.log.log_level, &cli.log.log_format)
        }
        Some(Command::Pushgateway(args)) => {
            init_logging(&cli.log);
            pushgateway_cli::run(&args, &cli.log.log_level, &cli.log.log_format)
        }
        Some(Command::Alertmanager(args)) => {
            init_logging(&cli.log);
            alertmanager_cli::run(&args)
        }
        Some(Command::Dashboards(args)) => {
            init_logging(&cli.log);
            dashboards_cli::run(&args)
        }
        None => {
            init_logging(&cli.log);
            match all_in_one::run(all_in_one::Options {
                listen: cli.all_in_one.web_listen_address,
                node_exporter_listen: all_in_one::NODE_EXPORTER_LISTEN,
                pushgateway_listen: all_in_one::PUSHGATEWAY_LISTEN,
                alertmanager_listen: all_in_one::ALERTMANAGER_LISTEN,
                dashboards_listen: all_in_one::DASHBOARDS_LISTEN,
            }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
    }
}

fn run_tool(tool: ToolCommand) -> ExitCode {
    match tool {
        ToolCommand::CheckAlertmanagerConfig { files } => ExitCode::from(
            alertmanager_cli::check_config(&files, &mut std::io::stdout(), &mut std::io::stderr()),
        ),
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
        ToolCommand::Check {
            check:
                CheckCommand::Config {
                    syntax_only,
                    lint,
                    lint_fatal,
                    agent,
                    files,
                },
        } => {
            let opts = check_config::Options {
                syntax_only,
                lint,
                lint_fatal,
                agent,
            };
            let code = check_config::run(
                &files,
                &opts,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
            ExitCode::from(code as u8)
        }
        ToolCommand::Check {
            check:
                CheckCommand::Rules {
                    lint,
                    lint_fatal,
                    files,
                },
        } => {
            let opts = check_rules::Options { lint, lint_fatal };
            let code = check_rules::run(
                &files,
                &opts,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
            ExitCode::from(code as u8)
        }
        ToolCommand::Test {
            test: TestCommand::Rules { files },
        } => {
            let code = test_rules::run(&files, &mut std::io::stdout(), &mut std::io::stderr());
            ExitCode::from(code as u8)
        }
        ToolCommand::Tsdb { tsdb } => ExitCode::from(tsdb_tool::run(tsdb)),
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
    fn node_exporter_flags_parse_like_upstream() {
        let cli = Cli::try_parse_from([
            "hearth",
            "node-exporter",
            "--web.listen-address=:19100",
            "--web.listen-address",
            "127.0.0.1:19101",
            "--collector.disable-defaults",
            "--collector.cpu",
            "--collector.meminfo",
            "--no-collector.meminfo",
            "--no-collector.wifi",
            "--collector.textfile.directory=/tmp/x",
            "--collector.filesystem.mount-points-include=^/$",
            "--no-collector.cpu.guest",
        ])
        .unwrap();
        let Some(Command::NodeExporter(args)) = cli.command else {
            panic!("not the node-exporter subcommand");
        };
        assert_eq!(args.web_listen_address, [":19100", "127.0.0.1:19101"]);
        let config = args.config();
        assert_eq!(config.collectors, ["cpu"]);
        assert_eq!(config.textfile_directories, ["/tmp/x"]);
        assert_eq!(config.filesystem_mount_points_exclude, "");
        assert!(!config.cpu_guest);
        let cli = Cli::try_parse_from(["hearth", "node-exporter"]).unwrap();
        let Some(Command::NodeExporter(args)) = cli.command else {
            panic!("not the node-exporter subcommand");
        };
        let config = args.config();
        assert!(config.collectors.contains(&"filesystem".to_string()));
        assert!(
            !config.collectors.contains(&"zfs".to_string()),
            "not implemented, dropped"
        );
        assert!(config.cpu_guest);
        assert_eq!(args.web_listen_address, [":9100"]);
    }

    #[test]
    fn pushgateway_flags_parse_like_upstream() {
        let cli = Cli::try_parse_from([
            "hearth",
            "pushgateway",
            "--web.listen-address=127.0.0.1:19091",
            "--persistence.file=/tmp/pg.db",
            "--persistence.interval=1m30s",
            "--web.enable-admin-api",
            "--push.disable-consistency-check",
            "--web.route-prefix=gw/",
            "--log.level=debug",
        ])
        .unwrap();
        let Some(Command::Pushgateway(args)) = cli.command else {
            panic!("not the pushgateway subcommand");
        };
        assert_eq!(cli.log.log_level, "debug");
        let config = args.config("debug", "logfmt");
        assert_eq!(config.route_prefix, "/gw");
        assert_eq!(config.persistence_interval.as_secs(), 90);
        assert!(config.enable_admin_api && !config.enable_lifecycle);
        assert!(!config.check_consistency);
        assert_eq!(config.flags["persistence.interval"], "1m30s");
        let cli = Cli::try_parse_from(["hearth", "pushgateway"]).unwrap();
        let Some(Command::Pushgateway(args)) = cli.command else {
            panic!("not the pushgateway subcommand");
        };
        assert_eq!(args.web_listen_address, [":9091"]);
        let config = args.config("info", "logfmt");
        assert_eq!(config.persistence_interval.as_secs(), 300);
        assert_eq!(config.flags["persistence.interval"], "5m0s");
        assert!(config.persistence_file.is_none() && config.check_consistency);
        assert!(
            Cli::try_parse_from(["hearth", "pushgateway", "--persistence.interval=5"]).is_err()
        );
    }

    #[test]
    fn alertmanager_flags_parse_like_upstream() {
        let cli = Cli::try_parse_from([
            "hearth",
            "alertmanager",
            "--config.file=/etc/am.yml",
            "--storage.path=/var/lib/am",
            "--web.listen-address=127.0.0.1:19093",
            "--web.external-url=http://am.example.org/am/",
            "--data.retention=24h",
            "--alerts.gc-interval=1m",
            "--cluster.listen-address=",
            "--cluster.peer=a:9094",
            "--cluster.peer=b:9094",
            "--log.level=debug",
        ])
        .unwrap();
        let Some(Command::Alertmanager(args)) = cli.command else {
            panic!("not the alertmanager subcommand");
        };
        let o = args.options(None);
        assert_eq!(o.config_file, PathBuf::from("/etc/am.yml"));
        assert_eq!(o.retention.as_secs(), 24 * 3600);
        assert_eq!(o.gc_interval.as_secs(), 60);
        assert_eq!(o.route_prefix, "/am");
        assert_eq!(o.external_url, "http://am.example.org/am");
        assert_eq!(args.cluster_peer.len(), 2);
        let cli = Cli::try_parse_from(["hearth", "alertmanager"]).unwrap();
        let Some(Command::Alertmanager(args)) = cli.command else {
            panic!("not the alertmanager subcommand");
        };
        assert_eq!(args.web_listen_address, [":9093"]);
        let o = args.options(None);
        assert_eq!(o.retention.as_secs(), 120 * 3600);
        assert_eq!(o.storage_path, PathBuf::from("data/"));
        assert_eq!(o.route_prefix, "");
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
