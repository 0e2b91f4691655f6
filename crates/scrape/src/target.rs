//! Targets: built from a target group and a scrape config (upstream's `PopulateLabels` /
//! `TargetsFromGroup`), their scrape URL, identity hash and start offset, and the health
//! the targets API shows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hearth_config::ScrapeConfig;
use hearth_discovery::TargetGroup;
use hearth_model::names::go_quote;
use hearth_model::{Labels, LabelsBuilder, parse_duration};
use parking_lot::Mutex;

use crate::cache::{MetadataStore, MetricMetadata};

pub const ADDRESS_LABEL: &str = "__address__";
pub const JOB_LABEL: &str = "job";
pub const INSTANCE_LABEL: &str = "instance";
pub const SCHEME_LABEL: &str = "__scheme__";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
pub const PARAM_LABEL_PREFIX: &str = "__param_";
pub const META_LABEL_PREFIX: &str = "__meta_";
pub const RESERVED_LABEL_PREFIX: &str = "__";

/// Health of a target after its last scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetHealth {
    #[default]
    Unknown,
    Up,
    Down,
}

impl TargetHealth {
    /// The API's spelling: `unknown`, `up`, `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealth::Unknown => "unknown",
            TargetHealth::Up => "up",
            TargetHealth::Down => "down",
        }
    }
}

/// What the last scrape left behind.
#[derive(Debug, Clone, Default)]
pub struct TargetStatus {
    pub health: TargetHealth,
    /// Empty when the last scrape succeeded.
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
}

/// One scrape target: an HTTP endpoint with its label set. Shared between its scrape
/// loop (which reports health into it) and the API (which reads it).
#[derive(Debug)]
pub struct Target {
    /// Labels after relabeling, `__` labels included.
    full_labels: Labels,
    /// `full_labels` without the `__`-prefixed ones: what every sample of the target gets.
    labels: Labels,
    /// Labels before relabeling (updated when discovery resends the same target).
    discovered: Mutex<Labels>,
    scrape_pool: String,
    url: String,
    hash: u64,
    status: Mutex<TargetStatus>,
    metadata: Mutex<Option<Arc<MetadataStore>>>,
}

impl Target {
    /// A target from its final labels (after relabeling) and the scrape config's params.
    pub fn new(
        labels: Labels,
        discovered: Labels,
        params: &BTreeMap<String, Vec<String>>,
        scrape_pool: &str,
    ) -> Target {
        let url = target_url(&labels, params);
        let hash = target_hash(&labels, &url);
        let public_labels = Labels::new(
            labels
                .iter()
                .filter(|l| !l.name.as_str().starts_with(RESERVED_LABEL_PREFIX))
                .map(|l| (l.name.as_str(), l.value.as_str())),
        );
        Target {
            full_labels: labels,
            labels: public_labels,
            discovered: Mutex::new(discovered),
            scrape_pool: scrape_pool.to_string(),
            url,
            hash,
            status: Mutex::new(TargetStatus::default()),
            metadata: Mutex::new(None),
        }
    }

    /// All labels after relabeling, including `__address__`, `__scheme__` and the like.
    pub fn all_labels(&self) -> &Labels {
        &self.full_labels
    }

    /// The labels every sample of this target gets (no `__` labels).
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    pub fn discovered_labels(&self) -> Labels {
        self.discovered.lock().clone()
    }

    pub(crate) fn set_discovered_labels(&self, l: Labels) {
        *self.discovered.lock() = l;
    }

    /// The job name.
    pub fn scrape_pool(&self) -> &str {
        &self.scrape_pool
    }

    /// The URL scraped, as Go's `url.URL.String()` prints it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Identity within a pool: upstream's FNV-1a of the label hash and the URL.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn status(&self) -> TargetStatus {
        self.status.lock().clone()
    }

    pub fn health(&self) -> TargetHealth {
        self.status.lock().health
    }

    /// `__scrape_interval__` as written (what the API shows).
    pub fn scrape_interval(&self) -> &str {
        self.full_labels.get_or_empty(SCRAPE_INTERVAL_LABEL)
    }

    /// `__scrape_timeout__` as written.
    pub fn scrape_timeout(&self) -> &str {
        self.full_labels.get_or_empty(SCRAPE_TIMEOUT_LABEL)
    }

    pub(crate) fn report(&self, start: SystemTime, duration: Duration, err: Option<String>) {
        let mut s = self.status.lock();
        s.health = if err.is_none() {
            TargetHealth::Up
        } else {
            TargetHealth::Down
        };
        s.last_error = err.unwrap_or_default();
        s.last_scrape = Some(start);
        s.last_scrape_duration = duration;
    }

    pub(crate) fn set_metadata_store(&self, store: Arc<MetadataStore>) {
        *self.metadata.lock() = Some(store);
    }

    /// Metadata of every metric family the target exposed recently.
    /// Entries and bytes of the target's metadata cache (upstream's `LengthMetadata` and
    /// `SizeMetadata`).
    pub fn metadata_usage(&self) -> (usize, usize) {
        match &*self.metadata.lock() {
            Some(m) => (m.len(), m.size()),
            None => (0, 0),
        }
    }

    pub fn list_metadata(&self) -> Vec<MetricMetadata> {
        match &*self.metadata.lock() {
            Some(m) => m.list(),
            None => Vec::new(),
        }
    }

    /// Metadata of one metric family.
    pub fn get_metadata(&self, family: &str) -> Option<MetricMetadata> {
        self.metadata.lock().as_ref().and_then(|m| m.get(family))
    }

    /// Interval and timeout from the target's labels (validated when it was built).
    pub(crate) fn interval_and_timeout(
        &self,
        default_interval: Duration,
        default_timeout: Duration,
    ) -> Result<(Duration, Duration), String> {
        let iv = self.scrape_interval();
        let interval = parse_duration(iv)
            .map_err(|e| format!("error parsing interval label {}: {e}", go_quote(iv)))?;
        let to = self.scrape_timeout();
        let timeout = parse_duration(to)
            .map_err(|e| format!("error parsing timeout label {}: {e}", go_quote(to)))?;
        if interval <= 0 || timeout <= 0 {
            return Ok((default_interval, default_timeout));
        }
        Ok((ms(interval), ms(timeout)))
    }

    /// Time until this target's first scrape: upstream's offset, spreading targets over
    /// the interval by their hash (xor a per-server seed), pinned to absolute time.
    pub fn offset(&self, interval: Duration, seed: u64, now: SystemTime) -> Duration {
        let iv = interval.as_nanos().max(1) as u64;
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let base = iv - now % iv;
        let mut next = base + (self.hash ^ seed) % iv;
        if next > iv {
            next -= iv;
        }
        Duration::from_nanos(next)
    }
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

/// Go's `url.URL{Scheme, Host, Path, RawQuery}.String()` for a target.
fn target_url(labels: &Labels, params: &BTreeMap<String, Vec<String>>) -> String {
    let mut params: BTreeMap<&str, Vec<&str>> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    for l in labels {
        let Some(key) = l.name.as_str().strip_prefix(PARAM_LABEL_PREFIX) else {
            continue;
        };
        let vals = params.entry(key).or_default();
        match vals.first_mut() {
            Some(first) => *first = l.value.as_str(),
            None => vals.push(l.value.as_str()),
        }
    }
    let mut out = String::new();
    let scheme = labels.get_or_empty(SCHEME_LABEL);
    let host = labels.get_or_empty(ADDRESS_LABEL);
    if !scheme.is_empty() {
        out.push_str(scheme);
        out.push(':');
    }
    if !scheme.is_empty() || !host.is_empty() {
        out.push_str("//");
        out.push_str(host);
    }
    let path = labels.get_or_empty(METRICS_PATH_LABEL);
    if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
        out.push('/');
    }
    escape_into(&mut out, path, |c| {
        matches!(
            c,
            b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@'
        )
    });
    let mut first = true;
    for (k, vals) in &params {
        for v in vals {
            out.push(if first { '?' } else { '&' });
            first = false;
            query_escape_into(&mut out, k);
            out.push('=');
            query_escape_into(&mut out, v);
        }
    }
    out
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~')
}

fn escape_into(out: &mut String, s: &str, also_keep: impl Fn(u8) -> bool) {
    for &c in s.as_bytes() {
        if is_unreserved(c) || also_keep(c) {
            out.push(c as char);
        } else {
            push_pct(out, c);
        }
    }
}

fn push_pct(out: &mut String, c: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[(c >> 4) as usize] as char);
    out.push(HEX[(c & 15) as usize] as char);
}

/// Go's `url.QueryEscape`.
fn query_escape_into(out: &mut String, s: &str) {
    for &c in s.as_bytes() {
        if is_unreserved(c) {
            out.push(c as char);
        } else if c == b' ' {
            out.push('+');
        } else {
            push_pct(out, c);
        }
    }
}

/// FNV-1a 64 of `%016d` of the label hash followed by the URL.
fn target_hash(labels: &Labels, url: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let prefix = format!("{:016}", labels.hash());
    for &b in prefix.as_bytes().iter().chain(url.as_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Upstream's `PopulateDiscoveredLabels`: target labels, then group labels the target
/// does not set, then the scrape config's defaults and params where still unset.
pub fn populate_discovered_labels(
    lb: &mut LabelsBuilder,
    cfg: &ScrapeConfig,
    target: &Labels,
    group: &Labels,
) {
    lb.reset(target);
    for l in group {
        if !target.has(l.name.as_str()) {
            lb.set(l.name.as_str(), l.value.as_str());
        }
    }
    let interval = cfg.scrape_interval.to_string();
    let timeout = cfg.scrape_timeout.to_string();
    for (name, value) in [
        (JOB_LABEL, cfg.job_name.as_str()),
        (SCRAPE_INTERVAL_LABEL, interval.as_str()),
        (SCRAPE_TIMEOUT_LABEL, timeout.as_str()),
        (METRICS_PATH_LABEL, cfg.metrics_path.as_str()),
        (SCHEME_LABEL, cfg.scheme.as_str()),
    ] {
        if lb.get(name).is_none_or(str::is_empty) {
            lb.set(name, value);
        }
    }
    for (k, v) in &cfg.params {
        let name = format!("{PARAM_LABEL_PREFIX}{k}");
        if let Some(first) = v.first()
            && lb.get(&name).is_none_or(str::is_empty)
        {
            lb.set(&name, first);
        }
    }
}

/// Upstream's `PopulateLabels`: discovered labels, `relabel_configs`, then the checks and
/// defaults of a scrape target. `Ok(None)` means relabeling dropped the target.
pub fn populate_labels(
    lb: &mut LabelsBuilder,
    cfg: &ScrapeConfig,
    target: &Labels,
    group: &Labels,
) -> Result<Option<Labels>, String> {
    populate_discovered_labels(lb, cfg, target, group);
    relabel_target(lb, cfg)
}

/// The part of [`populate_labels`] after the discovered labels are in `lb`.
fn relabel_target(lb: &mut LabelsBuilder, cfg: &ScrapeConfig) -> Result<Option<Labels>, String> {
    if !hearth_relabel::process_builder(lb, &cfg.relabel_configs) {
        return Ok(None);
    }
    let addr = lb.get(ADDRESS_LABEL).unwrap_or("").to_string();
    if addr.is_empty() {
        return Err("no address".into());
    }
    if addr.contains('/') {
        return Err(format!("{} is not a valid hostname", go_quote(&addr)));
    }
    let interval = lb.get(SCRAPE_INTERVAL_LABEL).unwrap_or("").to_string();
    let iv =
        parse_duration(&interval).map_err(|e| format!("error parsing scrape interval: {e}"))?;
    if iv == 0 {
        return Err("scrape interval cannot be 0".into());
    }
    let timeout = lb.get(SCRAPE_TIMEOUT_LABEL).unwrap_or("").to_string();
    let to = parse_duration(&timeout).map_err(|e| format!("error parsing scrape timeout: {e}"))?;
    if to == 0 {
        return Err("scrape timeout cannot be 0".into());
    }
    if to > iv {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({} > {})",
            go_quote(&timeout),
            go_quote(&interval)
        ));
    }
    lb.retain(|l| !l.name.as_str().starts_with(META_LABEL_PREFIX));
    if lb.get(INSTANCE_LABEL).is_none_or(str::is_empty) {
        lb.set(INSTANCE_LABEL, &addr);
    }
    // Label values are Rust strings, so always valid UTF-8: nothing else to check.
    Ok(Some(lb.labels()))
}

/// A target built from a group: scraped, or dropped by relabeling (kept for the API).
#[derive(Debug)]
pub enum BuiltTarget {
    Active(Target),
    Dropped(Labels),
}

/// Upstream's `TargetsFromGroup`: one entry per target of the group that relabeling kept
/// or dropped, and one error per target that could not be built.
pub fn targets_from_group(
    group: &TargetGroup,
    cfg: &ScrapeConfig,
    lb: &mut LabelsBuilder,
) -> (Vec<BuiltTarget>, Vec<String>) {
    let mut out = Vec::with_capacity(group.targets.len());
    let mut failures = Vec::new();
    for (i, t) in group.targets.iter().enumerate() {
        populate_discovered_labels(lb, cfg, t, &group.labels);
        let discovered = lb.labels();
        match relabel_target(lb, cfg) {
            Ok(Some(labels)) => {
                out.push(BuiltTarget::Active(Target::new(
                    labels,
                    discovered,
                    &cfg.params,
                    &cfg.job_name,
                )));
            }
            Ok(None) => out.push(BuiltTarget::Dropped(discovered)),
            Err(e) => failures.push(format!("instance {i} in group {}: {e}", group.source)),
        }
    }
    (out, failures)
}

/// What `/api/v1/targets` shows of an active target.
#[derive(Debug, Clone)]
pub struct ActiveTarget {
    pub discovered_labels: Labels,
    pub labels: Labels,
    pub scrape_pool: String,
    pub scrape_url: String,
    /// The scrape URL with a loopback host replaced (see [`global_url`]).
    pub global_url: String,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
    pub health: TargetHealth,
    pub scrape_interval: String,
    pub scrape_timeout: String,
}

/// What `/api/v1/targets` shows of a dropped target.
#[derive(Debug, Clone)]
pub struct DroppedTarget {
    pub discovered_labels: Labels,
    pub scrape_pool: String,
}

/// How the server is reached from outside, for [`global_url`].
#[derive(Debug, Clone, Default)]
pub struct GlobalUrlOptions {
    /// `host:port` the server listens on.
    pub listen_address: String,
    /// `host:port` of the external URL.
    pub host: String,
    /// Scheme of the external URL.
    pub scheme: String,
}

const LOCALHOST_REPRESENTATIONS: &[&str] = &["127.0.0.1", "localhost", "::1"];

fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host, port));
    }
    let (host, port) = s.rsplit_once(':')?;
    (!host.contains(':')).then_some((host, port))
}

/// Upstream's `getGlobalURL`: a target on a loopback address is shown with the external
/// host name; a target that is this server itself also gets the external scheme and port.
pub fn global_url(target: &Target, opts: &GlobalUrlOptions) -> String {
    let url = target.url();
    let scheme = target.all_labels().get_or_empty(SCHEME_LABEL);
    let addr = target.all_labels().get_or_empty(ADDRESS_LABEL);
    let Some((host, port)) = split_host_port(addr) else {
        return url.to_string();
    };
    if !LOCALHOST_REPRESENTATIONS.contains(&host) {
        return url.to_string();
    }
    let rest = url
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
        .and_then(|r| r.strip_prefix(addr))
        .unwrap_or("");
    let own_port = split_host_port(&opts.listen_address).map(|(_, p)| p);
    if own_port == Some(port) {
        return format!("{}://{}{rest}", opts.scheme, opts.host);
    }
    match split_host_port(&opts.host) {
        Some((ext_host, _)) => format!("{scheme}://{ext_host}:{port}{rest}"),
        None => format!("{scheme}://{}:{port}{rest}", opts.host),
    }
}

impl Target {
    /// The API view of this target.
    pub fn active_info(&self, opts: &GlobalUrlOptions) -> ActiveTarget {
        let s = self.status();
        ActiveTarget {
            discovered_labels: self.discovered_labels(),
            labels: self.labels.clone(),
            scrape_pool: self.scrape_pool.clone(),
            scrape_url: self.url.clone(),
            global_url: global_url(self, opts),
            last_error: s.last_error,
            last_scrape: s.last_scrape,
            last_scrape_duration: s.last_scrape_duration,
            health: s.health,
            scrape_interval: self.scrape_interval().to_string(),
            scrape_timeout: self.scrape_timeout().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::labels;

    fn cfg(yaml: &str) -> ScrapeConfig {
        let c = hearth_config::Config::load_str(yaml, "test.yml").unwrap();
        c.scrape_configs.into_iter().next().unwrap()
    }

    #[test]
    fn labels_defaults_and_url() {
        let c = cfg(
            "scrape_configs:\n- job_name: j\n  scrape_interval: 15s\n  params:\n    b: ['x y', 'z']\n    a: ['1']\n",
        );
        let mut lb = LabelsBuilder::new();
        let t = labels!("__address__" => "h:9", "__meta_x" => "m", "__param_a" => "2");
        let g = labels!("env" => "prod", "__address__" => "ignored");
        let l = populate_labels(&mut lb, &c, &t, &g).unwrap().unwrap();
        assert_eq!(
            l.to_string(),
            r#"{__address__="h:9", __metrics_path__="/metrics", __param_a="2", __param_b="x y", __scheme__="http", __scrape_interval__="15s", __scrape_timeout__="10s", env="prod", instance="h:9", job="j"}"#
        );
        let target = Target::new(l, Labels::empty(), &c.params, "j");
        assert_eq!(target.url(), "http://h:9/metrics?a=2&b=x+y&b=z");
        assert_eq!(
            target.labels().to_string(),
            r#"{env="prod", instance="h:9", job="j"}"#
        );
    }

    #[test]
    fn errors_and_drops() {
        let c = cfg(
            "scrape_configs:\n- job_name: j\n  relabel_configs:\n  - source_labels: [drop]\n    regex: yes\n    action: drop\n",
        );
        let mut lb = LabelsBuilder::new();
        let g = TargetGroup {
            targets: vec![
                labels!("__address__" => "a:1"),
                labels!("__address__" => "b:1", "drop" => "yes"),
                labels!("__address__" => "c:1", "__scrape_timeout__" => "2m"),
                labels!("x" => "y"),
            ],
            labels: Labels::empty(),
            source: "src".into(),
        };
        let (built, failures) = targets_from_group(&g, &c, &mut lb);
        assert_eq!(built.len(), 2);
        assert!(matches!(built[0], BuiltTarget::Active(_)));
        assert!(matches!(&built[1], BuiltTarget::Dropped(l) if l.get("drop") == Some("yes")));
        assert_eq!(
            failures,
            [
                r#"instance 2 in group src: scrape timeout cannot be greater than scrape interval ("2m" > "1m")"#,
                "instance 3 in group src: no address"
            ]
        );
    }

    #[test]
    fn path_escaping_and_hash_stability() {
        let l =
            labels!("__address__" => "h:1", "__scheme__" => "https", "__metrics_path__" => "a b?c");
        let t = Target::new(l.clone(), Labels::empty(), &BTreeMap::new(), "j");
        assert_eq!(t.url(), "https://h:1/a%20b%3Fc");
        let t2 = Target::new(l, Labels::empty(), &BTreeMap::new(), "j");
        assert_eq!(t.hash(), t2.hash());
    }

    #[test]
    fn offset_within_interval() {
        let t = Target::new(
            labels!("__address__" => "h:1"),
            Labels::empty(),
            &BTreeMap::new(),
            "j",
        );
        let iv = Duration::from_secs(10);
        for s in 0..50 {
            let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + s * 777);
            let o = t.offset(iv, 42, now);
            assert!(o <= iv);
            // The scrape lands at the same phase of the interval whenever it is computed.
            let at = now.duration_since(SystemTime::UNIX_EPOCH).unwrap() + o;
            assert_eq!(
                at.as_nanos() % iv.as_nanos(),
                ((t.hash() ^ 42) % iv.as_nanos() as u64) as u128
            );
        }
    }

    #[test]
    fn global_url_rewrites_loopback() {
        let t = Target::new(
            labels!("__address__" => "localhost:9100", "__scheme__" => "http", "__metrics_path__" => "/metrics"),
            Labels::empty(),
            &BTreeMap::new(),
            "j",
        );
        let opts = GlobalUrlOptions {
            listen_address: "0.0.0.0:9090".into(),
            host: "example.org:9090".into(),
            scheme: "https".into(),
        };
        assert_eq!(global_url(&t, &opts), "http://example.org:9100/metrics");
    }
}
