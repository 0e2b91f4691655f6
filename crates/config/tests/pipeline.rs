#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The path the scrape manager will take: load prometheus.yml, hand each job's SD
//! configuration to the discovery manager, take the published target groups, and apply
//! the job's `relabel_configs` to each target.

use std::time::Duration;

use hearth_config::Config;
use hearth_discovery::DiscoveryManager;
use hearth_discovery::file::merged_target_labels;

#[tokio::test]
async fn config_to_discovery_to_relabeled_targets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("targets.yml"),
        "- targets: ['db1:9187', 'db2:9187']\n  labels: {team: storage}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        r#"
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['h1:9100', 'h2:9100']}]
    relabel_configs:
      - source_labels: [__address__]
        regex: 'h2:.*'
        action: drop
  - job_name: postgres
    file_sd_configs: [{files: [targets.yml]}]
    relabel_configs:
      - source_labels: [__address__]
        regex: '([^:]+):.*'
        target_label: instance
      - source_labels: [__meta_filepath]
        regex: '.*/(.*)'
        target_label: from
  - job_name: nothing
"#,
    )
    .unwrap();
    let cfg = Config::load_file(&dir.path().join("prometheus.yml")).unwrap();
    let scrape_configs = cfg.all_scrape_configs().unwrap();
    let mut manager = DiscoveryManager::with_factory(
        std::sync::Arc::new(|c: &hearth_discovery::SdConfig| {
            hearth_discovery::manager::default_discoverer(c, "hearth-test")
        }),
        Duration::from_millis(50),
    );
    manager.apply_config(&Config::scrape_discovery(&scrape_configs));
    let mut rx = manager.subscribe();
    let sets = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            rx.changed().await.unwrap();
            let sets = rx.borrow_and_update().clone();
            if sets.get("postgres").is_some_and(|g| !g.is_empty())
                && sets.get("node").is_some_and(|g| !g.is_empty())
            {
                return sets;
            }
        }
    })
    .await
    .expect("targets published");
    assert!(
        sets["nothing"].is_empty(),
        "a job without SD is published empty"
    );

    let mut kept = Vec::new();
    for sc in &scrape_configs {
        for group in &sets[&sc.job_name] {
            for target in &group.targets {
                let labels = merged_target_labels(group, target);
                if let Some(l) = hearth_relabel::process(&labels, &sc.relabel_configs) {
                    kept.push((sc.job_name.clone(), l.to_string()));
                }
            }
        }
    }
    kept.sort();
    let path = dir.path().join("targets.yml").display().to_string();
    assert_eq!(
        kept,
        [
            ("node".to_string(), r#"{__address__="h1:9100"}"#.to_string()),
            (
                "postgres".to_string(),
                format!(
                    r#"{{__address__="db1:9187", __meta_filepath="{path}", from="targets.yml", instance="db1", team="storage"}}"#
                )
            ),
            (
                "postgres".to_string(),
                format!(
                    r#"{{__address__="db2:9187", __meta_filepath="{path}", from="targets.yml", instance="db2", team="storage"}}"#
                )
            ),
        ]
    );
}
