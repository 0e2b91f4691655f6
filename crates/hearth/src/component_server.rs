//! What the component subcommands (`node-exporter`, `pushgateway`, `alertmanager`,
//! `dashboards`) share: binding their listen addresses, serving a router on them with the
//! `--web.config.file` TLS and basic auth, a small runtime of their own, and turning a
//! failure into a logged error and an exit code.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use hearth_node_exporter::http::parse_listen_address;
use hearth_web::web_config::WebConfig;

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

/// Loads `--web.config.file` and checks its TLS part up front, so a bad file stops the start.
pub fn load_web_config(
    path: Option<&std::path::Path>,
) -> Result<Option<WebConfig>, ComponentError> {
    let Some(p) = path else { return Ok(None) };
    let c = WebConfig::load(p).map_err(ComponentError::Config)?;
    c.tls().map_err(ComponentError::Config)?;
    Ok(Some(c))
}

/// A router served on every listener until [`Serving::stop`].
pub struct Serving {
    stop: tokio::sync::watch::Sender<bool>,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Serving {
    pub fn start(
        listeners: Vec<tokio::net::TcpListener>,
        router: axum::Router,
        web_config: Option<WebConfig>,
    ) -> Self {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let servers = listeners
            .into_iter()
            .map(|l| {
                let mut rx = stop_rx.clone();
                tokio::spawn(hearth_web::web_config::serve(
                    l,
                    router.clone(),
                    web_config.clone(),
                    async move {
                        let _ = rx.wait_for(|s| *s).await;
                    },
                ))
            })
            .collect();
        Serving { stop, servers }
    }

    /// Stops accepting, lets the servers finish and reports the first failure.
    pub async fn stop(self) -> Result<(), ComponentError> {
        let _ = self.stop.send(true);
        for s in self.servers {
            match s.await {
                Ok(Err(e)) => return Err(ComponentError::Serve(e)),
                Err(e) => return Err(ComponentError::Serve(std::io::Error::other(e))),
                Ok(Ok(())) => {}
            }
        }
        Ok(())
    }
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
