//! The [`Discoverer`] trait every SD mechanism implements, the static provider, and the
//! refresh loop that polling mechanisms (HTTP, DNS) share.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::target_group::TargetGroup;

/// Where a discoverer sends its updates: each message carries the groups that changed
/// (a group with no targets removes its source's earlier targets).
pub type GroupSender = mpsc::Sender<Vec<TargetGroup>>;

/// A boxed future, as [`Discoverer::run`] returns.
pub type DiscovererFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A service-discovery mechanism. `run` sends updates until the receiver is gone or the
/// task is aborted by the discovery manager.
pub trait Discoverer: Send {
    fn run(self: Box<Self>, updates: GroupSender) -> DiscovererFuture;
}

/// `static_configs`: sends its groups once, each with its index as source.
pub struct StaticDiscoverer {
    groups: Vec<TargetGroup>,
}

impl StaticDiscoverer {
    pub fn new(mut groups: Vec<TargetGroup>) -> StaticDiscoverer {
        for (i, g) in groups.iter_mut().enumerate() {
            g.source = i.to_string();
        }
        StaticDiscoverer { groups }
    }
}

impl Discoverer for StaticDiscoverer {
    fn run(self: Box<Self>, updates: GroupSender) -> DiscovererFuture {
        Box::pin(async move {
            let _ = updates.send(self.groups).await;
        })
    }
}

/// A mechanism that polls: HTTP and DNS SD.
pub trait Refresh: Send {
    type Error: std::fmt::Display;

    /// One poll: the groups to send (including emptied ones).
    fn refresh(&mut self) -> impl Future<Output = Result<Vec<TargetGroup>, Self::Error>> + Send;
}

/// Refreshes right away and then every `interval`, sending each successful result.
/// Failures are logged and the previous groups stay, as upstream's `refresh.Discovery`.
pub async fn run_refresh_loop<R: Refresh>(
    mechanism: &'static str,
    interval: Duration,
    updates: GroupSender,
    source: &mut R,
) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = updates.closed() => return,
        }
        match source.refresh().await {
            Ok(groups) => {
                if updates.send(groups).await.is_err() {
                    return;
                }
            }
            Err(err) => {
                tracing::error!(mechanism, err = %err, "Unable to refresh target groups");
            }
        }
        if interval.is_zero() {
            // Upstream refreshes once when the interval is zero.
            updates.closed().await;
            return;
        }
    }
}
