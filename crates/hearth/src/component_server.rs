//! What the component subcommands (`node-exporter`, `pushgateway`) share: binding their
//! listen addresses, a small runtime of their own, and turning a failure into a logged
//! error and an exit code.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use hearth_node_exporter::http::parse_listen_address;

#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// Binds every address (all or nothing).
pub async fn bind(
    addrs: &[SocketAddr],
    component: &str,
) -> Result<Vec<tokio::net::TcpListener>, ComponentError> {
    let mut listeners = Vec::new();
    for &addr in addrs {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ComponentError::Listen { addr, source })?;
        tracing::info!(address = %addr, "{component} listening");
        listeners.push(l);
    }
    Ok(listeners)
}

/// Parses `--web.listen-address` values (`:9100` forms) and runs `serve` with them on a
/// two-worker runtime until it returns.
pub fn run<F, Fut>(listen: &[String], serve: F) -> ExitCode
where
    F: FnOnce(Vec<SocketAddr>) -> Fut,
    Fut: Future<Output = Result<(), ComponentError>>,
{
    let result = (|| {
        let addrs = listen
            .iter()
            .map(|a| parse_listen_address(a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ComponentError::Config)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(ComponentError::Runtime)?;
        rt.block_on(serve(addrs))
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
