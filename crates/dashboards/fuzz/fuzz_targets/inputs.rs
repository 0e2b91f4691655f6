//! Everything the dashboards component reads from outside: dashboard JSON (API bodies,
//! provisioned files) and provisioning YAML. Nothing may panic; a dashboard that passes
//! validation saves, and its stored JSON carries the id, uid, title and version the
//! store reports; a refused one leaves the store unchanged.
#![no_main]

use std::path::Path;

use hearth_dashboards::dashboard_json;
use hearth_dashboards::provisioning::{parse_data_sources, parse_providers};
use hearth_dashboards::sqlite::SqliteStore;
use hearth_dashboards::store::{DashboardStore, SaveDashboard};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let env = |name: &str| Some(format!("<{name}>"));
        let _ = parse_data_sources(Path::new("fuzz.yaml"), text, &env);
        let _ = parse_providers(Path::new("fuzz.yaml"), text, &env);
    }
    let Ok(value) = dashboard_json::parse(data) else {
        return;
    };
    let store = SqliteStore::open_in_memory().expect("in-memory store");
    let valid = dashboard_json::validate(&value).is_ok();
    let res = store.save_dashboard(SaveDashboard {
        data: value,
        folder_uid: None,
        message: String::new(),
        overwrite: false,
        user_id: 1,
        provisioning: None,
        restored_from: 0,
    });
    match res {
        Ok(d) => {
            assert!(valid, "the store saved a dashboard that fails validation");
            let back = store.dashboard_by_uid(&d.uid).expect("saved dashboard reads back");
            assert_eq!(back.data["id"], serde_json::Value::from(d.id));
            assert_eq!(back.data["uid"], serde_json::Value::from(d.uid.clone()));
            assert_eq!(back.data["version"], serde_json::Value::from(d.version));
        }
        Err(e) => {
            assert!(!valid, "a valid dashboard was refused: {e}");
            assert!(store.list_dashboards().expect("list").is_empty());
        }
    }
});
