//! The remote write endpoints of a server: [`RemoteWriteStorage`] holds one
//! [`QueueManager`] per `remote_write` entry and, once the data directory's WAL is known
//! ([`RemoteWriteStorage::set_wal`]), one [`WalWatcher`] per queue that feeds it from the
//! WAL, as upstream's `storage/remote.WriteStorage` does.
//!
//! A rolled-back transaction is never sent and samples the local storage refused are not
//! sent either: neither reaches the WAL.

use std::path::PathBuf;
use std::sync::Arc;

use hearth_config::RemoteWriteConfig;
use hearth_model::Labels;
use parking_lot::{Mutex, RwLock};

use crate::queue::{QueueError, QueueManager, QueueOptions};
use crate::wal_watcher::{WalWatcher, WatcherOptions};

/// The WAL the queues read and where their resume positions are kept.
#[derive(Debug, Clone)]
pub struct WalSource {
    /// Reading options; `progress_file` is set per queue from `progress_dir`.
    pub watcher: WatcherOptions,
    /// One file per queue name; `None` keeps no positions (every start sends only new
    /// samples, as upstream).
    pub progress_dir: Option<PathBuf>,
}

/// A queue and the watcher feeding it.
#[derive(Debug, Clone)]
pub struct RemoteEndpoint {
    pub queue: Arc<QueueManager>,
    pub watcher: Option<Arc<WalWatcher>>,
}

/// The remote write endpoints of the configuration.
#[derive(Debug, Default)]
pub struct RemoteWriteStorage {
    endpoints: RwLock<Vec<RemoteEndpoint>>,
    options: QueueOptions,
    wal: Mutex<Option<WalSource>>,
    /// Serialises configuration changes.
    applying: Mutex<()>,
}

impl RemoteWriteStorage {
    pub fn new(options: QueueOptions) -> RemoteWriteStorage {
        RemoteWriteStorage {
            options,
            ..RemoteWriteStorage::default()
        }
    }

    /// Starts the endpoints of `configs`, keeping running queues whose configuration and
    /// external labels did not change and stopping the others (their pending samples are
    /// flushed in the background). On error nothing changes. Must be called inside a
    /// tokio runtime.
    pub fn apply_config(
        &self,
        configs: &[RemoteWriteConfig],
        external_labels: &Labels,
    ) -> Result<(), QueueError> {
        let _applying = self.applying.lock();
        let old = self.endpoints.read().clone();
        let mut reused = vec![false; old.len()];
        let mut next = Vec::with_capacity(configs.len());
        let mut started = Vec::new();
        for c in configs {
            let same = old.iter().enumerate().find(|(i, e)| {
                !reused[*i] && e.queue.config() == c && e.queue.external_labels() == external_labels
            });
            match same {
                Some((i, e)) => {
                    reused[i] = true;
                    next.push(e.clone());
                }
                None => match QueueManager::start(c, external_labels, &self.options) {
                    Ok(queue) => {
                        started.push(queue.clone());
                        next.push(RemoteEndpoint {
                            queue,
                            watcher: None,
                        });
                    }
                    Err(e) => {
                        stop_in_background(started.into_iter().map(|queue| RemoteEndpoint {
                            queue,
                            watcher: None,
                        }));
                        return Err(e);
                    }
                },
            }
        }
        // The old watchers stop before the new ones start. A queue replaced by one of
        // the same name hands over where its watcher got to (it flushes what it holds
        // itself, so nothing is sent twice); a removed one leaves no position behind.
        let gone: Vec<RemoteEndpoint> = old
            .into_iter()
            .zip(reused)
            .filter(|(_, kept)| !kept)
            .map(|(e, _)| e)
            .collect();
        for e in &gone {
            if let Some(w) = &e.watcher {
                w.stop();
                if next.iter().any(|n| n.queue.name() == e.queue.name()) {
                    w.hand_over_progress();
                } else {
                    w.forget_progress();
                }
            }
        }
        if let Some(source) = self.wal.lock().clone() {
            for e in &mut next {
                if e.watcher.is_none() {
                    e.watcher = start_watcher(&e.queue, &source);
                }
            }
        }
        *self.endpoints.write() = next;
        stop_in_background(gone.into_iter());
        Ok(())
    }

    /// The WAL is ready (replayed, its writer open): every queue starts reading it.
    pub fn set_wal(&self, source: WalSource) {
        let _applying = self.applying.lock();
        *self.wal.lock() = Some(source.clone());
        for e in self.endpoints.write().iter_mut() {
            if e.watcher.is_none() {
                e.watcher = start_watcher(&e.queue, &source);
            }
        }
    }

    pub fn queues(&self) -> Vec<Arc<QueueManager>> {
        self.endpoints
            .read()
            .iter()
            .map(|e| e.queue.clone())
            .collect()
    }

    pub fn endpoints(&self) -> Vec<RemoteEndpoint> {
        self.endpoints.read().clone()
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.read().is_empty()
    }

    /// Stops every endpoint: the watchers first, then the queues flush what they hold
    /// (until the flush deadline), then the resume positions are written.
    pub async fn stop(&self) {
        let endpoints = std::mem::take(&mut *self.endpoints.write());
        let stopping: Vec<Arc<WalWatcher>> =
            endpoints.iter().filter_map(|e| e.watcher.clone()).collect();
        let _ = tokio::task::spawn_blocking(move || {
            for w in stopping {
                w.stop();
            }
        })
        .await;
        for e in &endpoints {
            e.queue.stop().await;
            save_final_progress(e);
        }
    }
}

/// The progress file of a queue: its name, with characters unsafe in file names
/// replaced.
fn progress_file(dir: &std::path::Path, queue: &QueueManager) -> PathBuf {
    let name: String = queue
        .name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{name}.progress"))
}

fn start_watcher(queue: &Arc<QueueManager>, source: &WalSource) -> Option<Arc<WalWatcher>> {
    let mut options = source.watcher.clone();
    options.progress_file = source
        .progress_dir
        .as_deref()
        .map(|d| progress_file(d, queue));
    match WalWatcher::start(queue.name(), queue.clone(), options) {
        Ok(w) => Some(Arc::new(w)),
        Err(e) => {
            tracing::error!(remote_name = queue.name(), error = %e, "cannot start the WAL watcher thread; nothing is sent to this endpoint");
            None
        }
    }
}

/// After a queue flushed: the resume position moves past what was sent, unless the
/// queue gave samples up at the flush deadline (then the position saved when the watcher
/// stopped, before them, stays).
fn save_final_progress(e: &RemoteEndpoint) {
    let abandoned = e
        .queue
        .stats()
        .abandoned_at_stop
        .load(std::sync::atomic::Ordering::Relaxed);
    if let Some(w) = &e.watcher
        && !abandoned
    {
        w.save_progress();
    }
}

/// Stops endpoints without waiting: watchers on the blocking pool, then the queues
/// flush (their progress files are not written any more).
fn stop_in_background(endpoints: impl Iterator<Item = RemoteEndpoint>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    for e in endpoints {
        runtime.spawn(async move {
            if let Some(w) = e.watcher.clone() {
                let _ = tokio::task::spawn_blocking(move || w.stop()).await;
            }
            // The position was handed over or forgotten already.
            e.queue.stop().await;
        });
    }
}
