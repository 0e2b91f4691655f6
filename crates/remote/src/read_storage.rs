//! Queries that span local and remote data: [`RemoteReadStorage`] holds one
//! [`RemoteReadClient`] per `remote_read` entry, and [`FanoutStorage`] is the local
//! storage with them merged into every querier, as upstream's fanout storage.
//!
//! - Series with the same labels from local and remote storage become one series;
//!   at equal timestamps the local sample wins (the local querier comes first).
//! - `read_recent: false` (the default): a remote endpoint is asked only for the part of
//!   the range before the local storage's start, and not at all when the range starts
//!   after it (upstream's `PreferLocalStorageFilter`).
//! - A remote endpoint that fails gives a warning, never a failed query (remote queriers
//!   are secondary, as upstream). Label names and values come from local storage only.
//! - `Querier` is synchronous and PromQL calls it on the blocking pool (or a rule
//!   evaluation task); each remote read runs on the async runtime from a scoped helper
//!   thread, so it works whether or not the caller is inside the runtime.

use std::future::Future;
use std::sync::Arc;

use hearth_config::RemoteReadConfig;
use hearth_model::{Labels, Matcher, Timestamp};
use hearth_tsdb::merge::MergeQuerier;
use hearth_tsdb::storage::{
    Appendable, Appender, Querier, Queryable, SelectHints, SeriesSet, Storage, StorageError,
};
use parking_lot::RwLock;
use tokio::runtime::Handle;

use crate::read_client::{ReadClientError, ReadQuery, RemoteReadClient};

/// One configured endpoint.
#[derive(Debug, Clone)]
struct Endpoint {
    client: Arc<RemoteReadClient>,
    read_recent: bool,
}

/// The `remote_read` endpoints of the configuration.
#[derive(Debug)]
pub struct RemoteReadStorage {
    endpoints: RwLock<Vec<Endpoint>>,
    runtime: Handle,
}

impl RemoteReadStorage {
    /// Endpoints whose requests run on `runtime`.
    pub fn new(runtime: Handle) -> RemoteReadStorage {
        RemoteReadStorage {
            endpoints: RwLock::new(Vec::new()),
            runtime,
        }
    }

    /// Replaces the endpoints with those of `configs`; on error nothing changes.
    pub fn apply_config(
        &self,
        configs: &[RemoteReadConfig],
        external_labels: &Labels,
    ) -> Result<(), ReadClientError> {
        let endpoints = configs
            .iter()
            .map(|c| {
                Ok(Endpoint {
                    client: Arc::new(RemoteReadClient::new(c, external_labels)?),
                    read_recent: c.read_recent,
                })
            })
            .collect::<Result<Vec<_>, ReadClientError>>()?;
        *self.endpoints.write() = endpoints;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.read().is_empty()
    }
}

/// When the local storage starts (ms), `None` while it is empty.
pub type LocalStartTime = Arc<dyn Fn() -> Option<Timestamp> + Send + Sync>;

/// The local storage with the remote read endpoints merged into its queriers.
pub struct FanoutStorage {
    local: Arc<dyn Storage>,
    remote: Arc<RemoteReadStorage>,
    local_start: LocalStartTime,
}

impl FanoutStorage {
    pub fn new(
        local: Arc<dyn Storage>,
        remote: Arc<RemoteReadStorage>,
        local_start: LocalStartTime,
    ) -> FanoutStorage {
        FanoutStorage {
            local,
            remote,
            local_start,
        }
    }
}

impl Appendable for FanoutStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        self.local.appender()
    }
}

impl Queryable for FanoutStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        let local = self.local.querier(mint, maxt)?;
        let endpoints = self.remote.endpoints.read().clone();
        if endpoints.is_empty() {
            return Ok(local);
        }
        let mut queriers = vec![local];
        let start = (self.local_start)();
        for e in endpoints {
            let mut end = maxt;
            if !e.read_recent
                && let Some(start) = start
            {
                if mint > start {
                    continue;
                }
                end = end.min(start);
            }
            queriers.push(Box::new(RemoteQuerier {
                client: e.client,
                runtime: self.remote.runtime.clone(),
                mint,
                maxt: end,
            }));
        }
        if queriers.len() == 1 {
            return Ok(queriers.remove(0));
        }
        Ok(Box::new(MergeQuerier::new(queriers)))
    }
}

/// One endpoint over one time range.
struct RemoteQuerier {
    client: Arc<RemoteReadClient>,
    runtime: Handle,
    mint: Timestamp,
    maxt: Timestamp,
}

/// Runs `f` to completion on `runtime` from a helper thread (the caller may itself be a
/// runtime thread, where blocking on the runtime is not allowed).
fn block_on<F>(runtime: &Handle, f: F) -> Result<F::Output, StorageError>
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| runtime.block_on(f))
            .join()
            .map_err(|_| StorageError::Io("remote read helper thread panicked".into()))
    })
}

impl Querier for RemoteQuerier {
    fn select(
        &self,
        _sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        let query = ReadQuery {
            start: self.mint,
            end: self.maxt,
            matchers: matchers.to_vec(),
            hints: hints.cloned(),
        };
        let queries = [query];
        let read = block_on(&self.runtime, self.client.read(&queries))?;
        match read {
            Ok(mut sets) => {
                let mut set = sets.pop().unwrap_or_default();
                // Merging needs every input sorted by labels.
                set.series.sort_by(|a, b| a.labels().cmp(b.labels()));
                Ok(set)
            }
            Err(e) => Ok(SeriesSet {
                series: Vec::new(),
                warnings: vec![format!("remote_read {}: {e}", self.client.name())],
            }),
        }
    }

    fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }

    fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}
