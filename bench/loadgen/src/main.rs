//! `hearth-loadgen`: serves `--targets` scrape targets on consecutive ports, each with
//! `--series-per-target` node-exporter-like series, and its own stats as JSON.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Parser;
use hearth_loadgen::page::Page;
use hearth_loadgen::stats::Stats;
use tokio::net::TcpListener;

/// Cheap scrape-load generator for hearth's bench/: many targets in one process.
#[derive(Debug, Parser)]
#[command(name = "hearth-loadgen", version)]
struct Cli {
    /// Number of targets; target i listens on --base-port + i.
    #[arg(long, default_value_t = 100)]
    targets: usize,
    /// Series on each target's page (counters, gauges and histograms).
    #[arg(long, default_value_t = 1000)]
    series_per_target: usize,
    /// Address the targets listen on.
    #[arg(long, default_value = "127.0.0.1")]
    listen_address: IpAddr,
    /// Port of the first target.
    #[arg(long, default_value_t = 21000)]
    base_port: u16,
    /// Where `/stats` (JSON: scrapes, samples and bytes served, own CPU seconds) is served.
    #[arg(long, default_value = "127.0.0.1:20999")]
    stats_address: SocketAddr,
    /// Fraction of all series replaced per hour (whole targets get a new `generation`
    /// label, one at a time, round robin); 0 disables churn.
    #[arg(long, default_value_t = 0.0)]
    churn_per_hour: f64,
    /// Runtime worker threads; 1 runs everything on one thread.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print target 0's page once and exit.
    #[arg(long)]
    print_page: bool,
}

struct Target {
    page: Mutex<(Page, u64)>,
    stats: Arc<Stats>,
    series: usize,
}

async fn scrape(State(target): State<Arc<Target>>) -> Response {
    let mut body = Vec::new();
    {
        let Ok(mut guard) = target.page.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        guard.0.render(&mut body);
    }
    target.stats.record_scrape(target.series, body.len());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn serve_stats(State(stats): State<Arc<Stats>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        stats.to_json(),
    )
        .into_response()
}

/// Replaces one target's page with its next generation every `every`, round robin.
async fn churn(targets: Vec<Arc<Target>>, stats: Arc<Stats>, every: Duration, series: usize) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    let mut next = 0;
    loop {
        tick.tick().await;
        let Some(target) = targets.get(next) else {
            return;
        };
        let generation = target.page.lock().map(|g| g.1 + 1).unwrap_or(1);
        let page = Page::new(next, series, generation);
        if let Ok(mut guard) = target.page.lock() {
            *guard = (page, generation);
        }
        stats.record_churn();
        next = (next + 1) % targets.len();
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let stats = Arc::new(Stats::new(cli.targets, cli.series_per_target));
    let mut targets = Vec::with_capacity(cli.targets);
    for i in 0..cli.targets {
        let port = u16::try_from(i)
            .ok()
            .and_then(|i| cli.base_port.checked_add(i))
            .ok_or_else(|| {
                format!(
                    "--base-port {} + {} targets exceeds 65535",
                    cli.base_port, cli.targets
                )
            })?;
        let addr = SocketAddr::new(cli.listen_address, port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("listening on {addr}: {e}"))?;
        let target = Arc::new(Target {
            page: Mutex::new((Page::new(i, cli.series_per_target, 0), 0)),
            stats: stats.clone(),
            series: cli.series_per_target,
        });
        targets.push(target.clone());
        let app = Router::new()
            .route("/metrics", get(scrape))
            .with_state(target);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("hearth-loadgen: target {addr}: {e}");
            }
        });
    }
    let listener = TcpListener::bind(cli.stats_address)
        .await
        .map_err(|e| format!("listening on {}: {e}", cli.stats_address))?;
    let app = Router::new()
        .route("/stats", get(serve_stats))
        .with_state(stats.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("hearth-loadgen: stats: {e}");
        }
    });
    if cli.churn_per_hour > 0.0 && cli.targets > 0 {
        let per_hour = cli.churn_per_hour * cli.targets as f64;
        let every = Duration::from_secs_f64((3600.0 / per_hour).clamp(0.01, 1e9));
        tokio::spawn(churn(
            targets.clone(),
            stats.clone(),
            every,
            cli.series_per_target,
        ));
    }
    eprintln!(
        "hearth-loadgen: {} targets on {}:{}..{} with {} series each ({} total), stats on http://{}/stats",
        cli.targets,
        cli.listen_address,
        cli.base_port,
        usize::from(cli.base_port) + cli.targets.saturating_sub(1),
        cli.series_per_target,
        cli.targets * cli.series_per_target,
        cli.stats_address,
    );
    shutdown_signal().await;
    eprint!("hearth-loadgen: stopping: {}", stats.to_json());
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_page {
        let mut page = Page::new(0, cli.series_per_target, 0);
        let mut out = Vec::new();
        page.render(&mut out);
        print!("{}", String::from_utf8_lossy(&out));
        return ExitCode::SUCCESS;
    }
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hearth-loadgen: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hearth-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
