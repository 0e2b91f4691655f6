//! hearth's pushgateway: Prometheus' Pushgateway, a cache of metrics pushed by batch jobs
//! for Prometheus to scrape.
//!
//! Owns the grouping keys of push URLs ([`GroupingKey`], with `@base64` values), the
//! [`MetricStore`] and what PUT, POST and DELETE do to its groups, the consistency check
//! a push must pass ([`consistency`]), the pushgateway's own metrics, the JSON API, the
//! HTTP routes ([`http`]) and the persistence file ([`PersistenceFile`], upstream's gob
//! format, written atomically).
//!
//! Invariants: a refused push changes nothing but its group's
//! `push_failure_time_seconds`; what `/metrics` serves always passes the same check a
//! push does (or the scrape fails, as upstream's does when the check was disabled); the
//! persistence file is always either the previous or the new complete state. Nothing
//! from a request or a file is unwrapped.
//!
//! Must never know about storage of samples over time, queries, or scraping: pushed
//! families are kept as the protobuf messages they arrived as, and served back.

pub mod api;
pub mod config;
pub mod consistency;
pub mod gob;
pub mod grouping_key;
pub mod http;
pub mod own_metrics;
pub mod persistence;
pub mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use config::PushgatewayConfig;
pub use grouping_key::GroupingKey;
pub use own_metrics::{BuildInfo, OwnMetrics};
pub use persistence::PersistenceFile;
pub use store::MetricStore;

/// Serves the pushgateway on `listeners` until `shutdown` resolves or `/-/quit` is
/// called; loads the persistence file first and writes it at the interval and last.
pub async fn serve(
    config: PushgatewayConfig,
    listeners: Vec<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let own = OwnMetrics::new(config.build.clone());
    let store = Arc::new(MetricStore::new(own.predefined_help()));
    let persistence = config.persistence_file.clone().map(PersistenceFile::new);
    if let Some(file) = &persistence {
        restore(file, &store).await;
    }
    let interval = config.persistence_interval;
    let pg = Arc::new(http::Pushgateway {
        config,
        store: store.clone(),
        own,
        start_time: SystemTime::now(),
        quit: tokio::sync::Notify::new(),
    });
    let stop = Arc::new(tokio::sync::Notify::new());
    let persister = persistence
        .clone()
        .map(|file| tokio::spawn(persist_loop(store.clone(), file, interval, stop.clone())));
    let quit_pg = pg.clone();
    let stopping = async move {
        tokio::select! {
            () = shutdown => {},
            () = quit_pg.quit.notified() => {},
        }
    };
    let served = hearth_node_exporter::http::serve(listeners, http::router(pg), stopping).await;
    if let Some(task) = persister {
        stop.notify_one();
        let _ = task.await;
    }
    if let Some(file) = persistence {
        persist(&store, &file).await;
    }
    served
}

/// Loads the persistence file. A file that cannot be read is moved aside (so the next
/// write does not destroy it) and the pushgateway starts empty, as upstream starts.
async fn restore(file: &PersistenceFile, store: &Arc<MetricStore>) {
    let f = file.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        f.remove_stale_temporaries();
        f.load()
    })
    .await;
    match loaded {
        Ok(Ok(groups)) => {
            tracing::info!(file = %file.path().display(), groups = groups.len(), "persisted metrics loaded");
            store.restore(groups);
        }
        Ok(Err(e)) => {
            let aside = file.path().with_extension("unreadable");
            let moved = std::fs::rename(file.path(), &aside).is_ok();
            tracing::error!(err = %e, moved_to = moved.then(|| aside.display().to_string()), "could not load persisted metrics");
        }
        Err(e) => tracing::error!(err = %e, "could not load persisted metrics"),
    }
}

async fn persist(store: &MetricStore, file: &PersistenceFile) -> bool {
    let groups = store.groups();
    let f = file.clone();
    match tokio::task::spawn_blocking(move || f.save(&groups)).await {
        Ok(Ok(())) => {
            tracing::info!(file = %file.path().display(), "metrics persisted");
            true
        }
        Ok(Err(e)) => {
            tracing::error!(err = %e, "error persisting metrics");
            false
        }
        Err(e) => {
            tracing::error!(err = %e, "error persisting metrics");
            false
        }
    }
}

/// After a change, writes the file once `interval` has passed since the last write (as
/// upstream schedules it); stops when `stop` is notified.
async fn persist_loop(
    store: Arc<MetricStore>,
    file: PersistenceFile,
    interval: Duration,
    stop: Arc<tokio::sync::Notify>,
) {
    let mut written = store.generation();
    let mut last = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = store.changed() => {},
            () = stop.notified() => return,
        }
        tokio::select! {
            () = tokio::time::sleep_until(last + interval) => {},
            () = stop.notified() => return,
        }
        let generation = store.generation();
        if generation != written && persist(&store, &file).await {
            written = generation;
        }
        last = tokio::time::Instant::now();
    }
}
