//! What this binary is: version, revision, compiler, platform.

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("HEARTH_REVISION");
pub const BRANCH: &str = env!("HEARTH_BRANCH");
pub const RUST_VERSION: &str = env!("HEARTH_RUST_VERSION");
pub const BUILD_DATE: &str = env!("HEARTH_BUILD_DATE");

/// The `--version` text, shaped like Prometheus' (`prometheus, version 3.x (branch: …)`).
pub fn version_text() -> String {
    format!(
        "hearth, version {VERSION} (branch: {BRANCH}, revision: {REVISION})\n  \
         build date:       {BUILD_DATE}\n  \
         rust version:     {RUST_VERSION}\n  \
         platform:         {}/{}\n  \
         compatible with:  Prometheus 3.14, Alertmanager, Pushgateway, node_exporter, Grafana",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
