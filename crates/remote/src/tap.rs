//! Feeding the remote write queues: [`RemoteWriteStorage`] holds one
//! [`QueueManager`] per `remote_write` entry, and [`RemoteWriteTap`] wraps the local
//! storage so that every committed transaction is also queued for sending.
//!
//! Upstream's queues tail the WAL instead; hearth taps the appender until its WAL
//! reader exists. A rolled-back transaction is never sent; samples the local storage
//! refused are not sent either, as they never reach upstream's WAL.

use std::collections::HashMap;
use std::sync::Arc;

use hearth_config::RemoteWriteConfig;
use hearth_model::{Exemplar, HistogramValue, Labels, Metadata, Timestamp};
use hearth_tsdb::storage::{AppendError, Appendable, Appender, SeriesRef};
use parking_lot::{Mutex, RwLock};

use crate::queue::{QueueError, QueueManager, QueueOptions};
use crate::write_client::{OutgoingHistogram, OutgoingSample, OutgoingSeries};

/// The remote write endpoints of the configuration.
#[derive(Debug, Default)]
pub struct RemoteWriteStorage {
    queues: RwLock<Vec<Arc<QueueManager>>>,
    options: QueueOptions,
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
        let old = self.queues.read().clone();
        let mut reused = vec![false; old.len()];
        let mut next = Vec::with_capacity(configs.len());
        for c in configs {
            let same = old.iter().enumerate().find(|(i, q)| {
                !reused[*i] && q.config() == c && q.external_labels() == external_labels
            });
            match same {
                Some((i, q)) => {
                    reused[i] = true;
                    next.push(q.clone());
                }
                None => next.push(QueueManager::start(c, external_labels, &self.options)?),
            }
        }
        *self.queues.write() = next;
        // `start` above succeeded only inside a runtime, unless nothing was started.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            for (q, kept) in old.into_iter().zip(reused) {
                if !kept {
                    runtime.spawn(async move { q.stop().await });
                }
            }
        }
        Ok(())
    }

    pub fn queues(&self) -> Vec<Arc<QueueManager>> {
        self.queues.read().clone()
    }

    pub fn is_empty(&self) -> bool {
        self.queues.read().is_empty()
    }

    /// Queues committed series on every endpoint.
    pub fn enqueue(&self, batch: &[OutgoingSeries]) {
        for q in self.queues.read().iter() {
            q.enqueue(batch);
        }
    }

    /// Stops every endpoint, flushing what is pending.
    pub async fn stop(&self) {
        let queues = std::mem::take(&mut *self.queues.write());
        for q in queues {
            q.stop().await;
        }
    }
}

/// The local storage with the remote write queues behind it.
pub struct RemoteWriteTap {
    inner: Arc<dyn Appendable>,
    remote: Arc<RemoteWriteStorage>,
}

impl RemoteWriteTap {
    pub fn new(inner: Arc<dyn Appendable>, remote: Arc<RemoteWriteStorage>) -> RemoteWriteTap {
        RemoteWriteTap { inner, remote }
    }
}

impl Appendable for RemoteWriteTap {
    fn appender(&self) -> Box<dyn Appender + '_> {
        let inner = self.inner.appender();
        if self.remote.is_empty() {
            return inner;
        }
        Box::new(TapAppender {
            inner,
            remote: &self.remote,
            series: Vec::new(),
            index: HashMap::new(),
        })
    }
}

/// Records what the inner appender accepted, grouped by series.
struct TapAppender<'a> {
    inner: Box<dyn Appender + 'a>,
    remote: &'a RemoteWriteStorage,
    series: Vec<OutgoingSeries>,
    index: HashMap<SeriesRef, usize>,
}

impl TapAppender<'_> {
    fn series(&mut self, r: SeriesRef, labels: &Labels) -> &mut OutgoingSeries {
        let i = *self.index.entry(r).or_insert_with(|| {
            self.series.push(OutgoingSeries {
                labels: labels.clone(),
                ..Default::default()
            });
            self.series.len() - 1
        });
        &mut self.series[i]
    }
}

impl Appender for TapAppender<'_> {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        let r = self.inner.append(series, labels, t, v)?;
        self.series(r, labels)
            .samples
            .push(OutgoingSample { st: 0, t, v });
        Ok(r)
    }

    fn append_histogram(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        h: &HistogramValue,
    ) -> Result<SeriesRef, AppendError> {
        let r = self.inner.append_histogram(series, labels, t, h)?;
        self.series(r, labels).histograms.push(OutgoingHistogram {
            st: 0,
            t,
            h: h.clone(),
        });
        Ok(r)
    }

    fn append_exemplar(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        let r = self.inner.append_exemplar(series, labels, e)?;
        self.series(r, labels).exemplars.push(e.clone());
        Ok(r)
    }

    fn update_metadata(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        let r = self.inner.update_metadata(series, labels, m)?;
        self.series(r, labels).metadata = Some(m.clone());
        Ok(r)
    }

    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        let TapAppender {
            inner,
            remote,
            series,
            ..
        } = *self;
        inner.commit()?;
        remote.enqueue(&series);
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), AppendError> {
        self.inner.rollback()
    }
}
