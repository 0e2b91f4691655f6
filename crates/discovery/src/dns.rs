//! `dns_sd_configs`: targets from SRV, A, AAAA, MX or NS records, looked up every
//! `refresh_interval` with `hickory-resolver` (system resolver configuration, search
//! domains included). One group per name, its source the name; a name with no records
//! gives an empty group; a failed lookup keeps the name's previous group.

use std::net::IpAddr;

use hearth_model::Labels;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::ResolverConfig;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

use crate::discoverer::{Discoverer, DiscovererFuture, GroupSender, Refresh, run_refresh_loop};
use crate::sd_config::DnsSdConfig;
use crate::target_group::{ADDRESS_LABEL, TargetGroup};

pub const DNS_NAME_LABEL: &str = "__meta_dns_name";
pub const DNS_SRV_RECORD_TARGET_LABEL: &str = "__meta_dns_srv_record_target";
pub const DNS_SRV_RECORD_PORT_LABEL: &str = "__meta_dns_srv_record_port";
pub const DNS_MX_RECORD_TARGET_LABEL: &str = "__meta_dns_mx_record_target";
pub const DNS_NS_RECORD_TARGET_LABEL: &str = "__meta_dns_ns_record_target";

#[derive(Debug, thiserror::Error)]
pub enum DnsSdError {
    #[error("invalid DNS-SD records type {0}")]
    RecordType(String),
    #[error("creating DNS resolver: {0}")]
    Resolver(String),
}

pub struct DnsDiscoverer {
    config: DnsSdConfig,
    record_type: RecordType,
    resolver: TokioResolver,
}

impl DnsDiscoverer {
    /// A discoverer using the system's resolver configuration (`/etc/resolv.conf`).
    pub fn new(config: DnsSdConfig) -> Result<DnsDiscoverer, DnsSdError> {
        let builder =
            TokioResolver::builder_tokio().map_err(|e| DnsSdError::Resolver(e.to_string()))?;
        Self::with_builder(config, builder)
    }

    /// A discoverer asking the given name servers (tests use a loopback responder).
    pub fn with_resolver_config(
        config: DnsSdConfig,
        resolver: ResolverConfig,
    ) -> Result<DnsDiscoverer, DnsSdError> {
        let builder = TokioResolver::builder_with_config(resolver, TokioRuntimeProvider::default());
        Self::with_builder(config, builder)
    }

    fn with_builder(
        config: DnsSdConfig,
        mut builder: hickory_resolver::ResolverBuilder<TokioRuntimeProvider>,
    ) -> Result<DnsDiscoverer, DnsSdError> {
        let record_type = match config.record_type.to_uppercase().as_str() {
            "SRV" => RecordType::SRV,
            "A" => RecordType::A,
            "AAAA" => RecordType::AAAA,
            "MX" => RecordType::MX,
            "NS" => RecordType::NS,
            _ => return Err(DnsSdError::RecordType(config.record_type.clone())),
        };
        // Every refresh must see current records, as upstream's resolver does.
        builder.options_mut().cache_size = 0;
        let resolver = builder
            .build()
            .map_err(|e| DnsSdError::Resolver(e.to_string()))?;
        Ok(DnsDiscoverer {
            config,
            record_type,
            resolver,
        })
    }

    async fn refresh_one(&self, name: &str) -> Result<TargetGroup, String> {
        crate::self_metrics::inc(&crate::self_metrics::DNS_LOOKUPS);
        let records: Vec<RData> = match self.resolver.lookup(name, self.record_type).await {
            Ok(lookup) => lookup.answers().iter().map(|r| r.data.clone()).collect(),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Vec::new(),
            Err(e) => {
                crate::self_metrics::inc(&crate::self_metrics::DNS_LOOKUP_FAILURES);
                return Err(e.to_string());
            }
        };
        Ok(records_to_group(name, &records, self.config.port))
    }
}

/// Turns the answers for `name` into its target group, as upstream's `refreshOne`:
/// SRV targets use the record's port, others the configured one; the trailing dot of
/// rooted names is dropped from addresses but kept in the meta labels; CNAMEs are
/// skipped.
pub fn records_to_group(name: &str, records: &[RData], port: u16) -> TargetGroup {
    let mut targets = Vec::new();
    for rec in records {
        let (address, srv_target, srv_port, mx_target, ns_target) = match rec {
            RData::SRV(srv) => {
                let target = srv.target.to_utf8();
                let address = host_port(target.trim_end_matches('.'), srv.port);
                (
                    address,
                    target,
                    srv.port.to_string(),
                    String::new(),
                    String::new(),
                )
            }
            RData::MX(mx) => {
                let target = mx.exchange.to_utf8();
                let address = host_port(target.trim_end_matches('.'), port);
                (address, String::new(), String::new(), target, String::new())
            }
            RData::NS(ns) => {
                let target = ns.0.to_utf8();
                let address = host_port(target.trim_end_matches('.'), port);
                (address, String::new(), String::new(), String::new(), target)
            }
            RData::A(a) => (
                ip_port(IpAddr::V4(a.0), port),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ),
            RData::AAAA(a) => (
                ip_port(IpAddr::V6(a.0), port),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ),
            RData::CNAME(_) => continue,
            other => {
                tracing::warn!(record = %other, "Invalid record");
                continue;
            }
        };
        targets.push(Labels::new([
            (ADDRESS_LABEL, address.as_str()),
            (DNS_NAME_LABEL, name),
            (DNS_SRV_RECORD_TARGET_LABEL, srv_target.as_str()),
            (DNS_SRV_RECORD_PORT_LABEL, srv_port.as_str()),
            (DNS_MX_RECORD_TARGET_LABEL, mx_target.as_str()),
            (DNS_NS_RECORD_TARGET_LABEL, ns_target.as_str()),
        ]));
    }
    TargetGroup {
        targets,
        labels: Labels::empty(),
        source: name.to_string(),
    }
}

/// Go's `net.JoinHostPort`: IPv6 literals get brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn ip_port(ip: IpAddr, port: u16) -> String {
    host_port(&ip.to_string(), port)
}

impl Refresh for DnsDiscoverer {
    type Error = String;

    async fn refresh(&mut self) -> Result<Vec<TargetGroup>, String> {
        // Names are few; they are looked up one after the other.
        let mut out = Vec::new();
        for name in &self.config.names {
            match self.refresh_one(name).await {
                Ok(g) => out.push(g),
                Err(err) => tracing::error!(name, err = %err, "Error refreshing DNS targets"),
            }
        }
        Ok(out)
    }
}

impl Discoverer for DnsDiscoverer {
    fn run(mut self: Box<Self>, updates: GroupSender) -> DiscovererFuture {
        Box::pin(async move {
            let interval = self.config.refresh_interval.to_std();
            run_refresh_loop("dns", interval, updates, &mut *self).await;
        })
    }
}
