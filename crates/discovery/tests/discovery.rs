#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Providers and the manager end to end: file SD on a temp dir, HTTP SD against a
//! loopback axum server, DNS SD against a loopback UDP responder, and the manager's
//! deduplication and debounce. Waits are bounded (generous deadlines), never asserted.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearth_discovery::dns::{
    DNS_NAME_LABEL, DNS_SRV_RECORD_PORT_LABEL, DNS_SRV_RECORD_TARGET_LABEL,
};
use hearth_discovery::{
    Discoverer, DiscoveryManager, DnsDiscoverer, DnsSdConfig, FileDiscoverer, FileSdConfig,
    HttpDiscoverer, HttpSdConfig, ModelDuration, SdConfig, ServiceDiscoveryConfigs, TargetGroup,
};
use hearth_model::Labels;
use tokio::sync::mpsc;

const DEADLINE: Duration = Duration::from_secs(20);

/// Applies updates from `rx` to `state` until `done` holds.
async fn wait_until(
    rx: &mut mpsc::Receiver<Vec<TargetGroup>>,
    state: &mut HashMap<String, TargetGroup>,
    what: &str,
    done: impl Fn(&HashMap<String, TargetGroup>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !done(state) {
        let groups = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}; state: {state:#?}"))
            .expect("discoverer stopped");
        for g in groups {
            state.insert(g.source.clone(), g);
        }
    }
}

fn addresses(g: Option<&TargetGroup>) -> Vec<String> {
    g.map(|g| {
        g.targets
            .iter()
            .map(|t| t.get_or_empty("__address__").to_string())
            .collect()
    })
    .unwrap_or_default()
}

#[tokio::test]
async fn file_sd_follows_added_modified_broken_and_deleted_files() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = format!("{}/*.yml", dir.path().display());
    let cfg = FileSdConfig {
        files: vec![pattern, format!("{}/*.json", dir.path().display())],
        // Long enough that only the watcher can explain quick updates.
        refresh_interval: ModelDuration::from_secs(3600),
    };
    let a = dir.path().join("a.yml");
    std::fs::write(&a, "- targets: ['h1:9100']\n  labels: {env: prod}\n").unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(Box::new(FileDiscoverer::new(cfg)).run(tx));
    let mut state = HashMap::new();
    let src_a = format!("{}:0", a.display());
    wait_until(&mut rx, &mut state, "initial file", |s| {
        s.contains_key(&src_a)
    })
    .await;
    let g = &state[&src_a];
    assert_eq!(addresses(Some(g)), ["h1:9100"]);
    assert_eq!(g.labels.get("env"), Some("prod"));
    assert_eq!(
        g.labels.get("__meta_filepath"),
        Some(a.display().to_string().as_str())
    );

    // Modify.
    std::fs::write(&a, "- targets: ['h1:9100', 'h2:9100']\n").unwrap();
    wait_until(&mut rx, &mut state, "modified file", |s| {
        addresses(s.get(&src_a)).len() == 2
    })
    .await;

    // A JSON file appears.
    let b = dir.path().join("b.json");
    std::fs::write(
        &b,
        r#"[{"targets": ["j1:80"], "labels": {"x": "y"}}, {"targets": ["j2:80"]}]"#,
    )
    .unwrap();
    let src_b1 = format!("{}:1", b.display());
    wait_until(&mut rx, &mut state, "json file", |s| {
        addresses(s.get(&src_b1)) == ["j2:80"]
    })
    .await;

    // A broken file keeps its previous groups.
    std::fs::write(&a, "- targets: [unclosed\n").unwrap();
    std::fs::write(&b, r#"[{"targets": ["j1:80"]}]"#).unwrap();
    wait_until(&mut rx, &mut state, "json shrink", |s| {
        s.get(&src_b1).is_some_and(|g| g.targets.is_empty())
    })
    .await;
    assert_eq!(
        addresses(state.get(&src_a)).len(),
        2,
        "broken file kept its groups"
    );

    // Deletion empties the file's groups.
    std::fs::remove_file(&a).unwrap();
    wait_until(&mut rx, &mut state, "deleted file", |s| {
        s.get(&src_a).is_some_and(|g| g.targets.is_empty())
    })
    .await;
    task.abort();
}

#[test]
fn file_sd_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.yml");
    std::fs::write(&p, "- targets: [a:1]\n  labelz: {}\n").unwrap();
    let err = hearth_discovery::file::read_target_file(&p)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("{}:2:3: unknown field `labelz`", p.display())),
        "{err}"
    );
    let p = dir.path().join("t.json");
    std::fs::write(&p, "[{\"targets\": [1]}]").unwrap();
    let err = hearth_discovery::file::read_target_file(&p)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(&format!("{}:1:", p.display())), "{err}");
}

#[derive(Default)]
struct HttpSdServer {
    body: Mutex<(u16, &'static str, String)>,
    seen_headers: Mutex<Vec<(String, String)>>,
}

async fn start_http_sd(state: Arc<HttpSdServer>) -> String {
    use axum::http::HeaderMap;
    let app = axum::Router::new().route(
        "/sd",
        axum::routing::get(move |headers: HeaderMap| {
            let state = state.clone();
            async move {
                let mut seen = state.seen_headers.lock().unwrap();
                seen.clear();
                for (k, v) in &headers {
                    seen.push((k.to_string(), v.to_str().unwrap_or("").to_string()));
                }
                let (status, ct, body) = state.body.lock().unwrap().clone();
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", ct)],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/sd")
}

#[tokio::test]
async fn http_sd_fetches_labels_and_empties_shrunk_lists() {
    let server = Arc::new(HttpSdServer::default());
    *server.body.lock().unwrap() = (
        200,
        "application/json; charset=utf-8",
        r#"[{"targets":["a:1","b:2"],"labels":{"l":"v"}},{"targets":["c:3"]}]"#.into(),
    );
    let url = start_http_sd(server.clone()).await;
    let cfg = HttpSdConfig {
        url: url.clone(),
        ..HttpSdConfig::default()
    };
    let mut d = HttpDiscoverer::new(cfg, "hearth/test").unwrap();
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].source, format!("{url}:0"));
    assert_eq!(groups[0].labels.get("__meta_url"), Some(url.as_str()));
    assert_eq!(groups[0].labels.get("l"), Some("v"));
    assert_eq!(addresses(Some(&groups[1])), ["c:3"]);
    let headers = server.seen_headers.lock().unwrap().clone();
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(header("accept").as_deref(), Some("application/json"));
    assert_eq!(
        header("x-prometheus-refresh-interval-seconds").as_deref(),
        Some("60")
    );
    assert_eq!(header("user-agent").as_deref(), Some("hearth/test"));

    // The list shrinks: the missing index is sent empty.
    server.body.lock().unwrap().2 = r#"[{"targets":["a:1"]}]"#.into();
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 2);
    assert!(groups[1].targets.is_empty());
    assert_eq!(groups[1].source, format!("{url}:1"));

    // Errors as upstream words them.
    *server.body.lock().unwrap() = (404, "application/json", "[]".into());
    assert_eq!(
        d.refresh().await.unwrap_err().to_string(),
        "server returned HTTP status 404 Not Found"
    );
    *server.body.lock().unwrap() = (200, "text/plain", "[]".into());
    assert_eq!(
        d.refresh().await.unwrap_err().to_string(),
        "unsupported content type \"text/plain\""
    );
    *server.body.lock().unwrap() = (200, "application/json", "[null]".into());
    assert_eq!(
        d.refresh().await.unwrap_err().to_string(),
        "nil target group item found"
    );
}

/// A UDP DNS responder on loopback answering from a fixed table.
async fn start_dns(records: Vec<(&'static str, hickory_resolver::proto::rr::RData)>) -> u16 {
    use hickory_resolver::proto::op::{Message, OpCode};
    use hickory_resolver::proto::rr::{Name, Record};
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut resp = Message::response(query.metadata.id, OpCode::Query);
            resp.metadata.recursion_desired = query.metadata.recursion_desired;
            resp.metadata.recursion_available = true;
            resp.metadata.authoritative = true;
            for q in &query.queries {
                resp.add_query(q.clone());
                for (name, rdata) in &records {
                    let rname = Name::from_ascii(name).unwrap();
                    if rname.eq_ignore_root_case(q.name()) && rdata.record_type() == q.query_type()
                    {
                        resp.add_answer(Record::from_rdata(rname, 60, rdata.clone()));
                    }
                }
            }
            let _ = sock.send_to(&resp.to_vec().unwrap(), peer).await;
        }
    });
    port
}

fn resolver_config(port: u16) -> hickory_resolver::config::ResolverConfig {
    use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
    let mut conn = ConnectionConfig::udp();
    conn.port = port;
    ResolverConfig::from_name_servers(vec![NameServerConfig::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        true,
        vec![conn],
    )])
}

#[tokio::test]
async fn dns_sd_srv_and_a_records() {
    use hearth_discovery::discoverer::Refresh;
    use hickory_resolver::proto::rr::rdata::{A, SRV};
    use hickory_resolver::proto::rr::{Name, RData};
    let port = start_dns(vec![
        (
            "_web._tcp.example.test.",
            RData::SRV(SRV::new(
                0,
                0,
                8080,
                Name::from_ascii("web1.example.test.").unwrap(),
            )),
        ),
        (
            "_web._tcp.example.test.",
            RData::SRV(SRV::new(
                0,
                0,
                8081,
                Name::from_ascii("web2.example.test.").unwrap(),
            )),
        ),
        ("db.example.test.", RData::A(A(Ipv4Addr::new(10, 0, 0, 7)))),
    ])
    .await;
    let srv = DnsSdConfig {
        names: vec![
            "_web._tcp.example.test.".into(),
            "_none._tcp.example.test.".into(),
        ],
        refresh_interval: ModelDuration::from_secs(30),
        record_type: "SRV".into(),
        port: 0,
    };
    let mut d = DnsDiscoverer::with_resolver_config(srv, resolver_config(port)).unwrap();
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].source, "_web._tcp.example.test.");
    let mut addrs = addresses(Some(&groups[0]));
    addrs.sort();
    assert_eq!(addrs, ["web1.example.test:8080", "web2.example.test:8081"]);
    let t = groups[0]
        .targets
        .iter()
        .find(|t| t.get("__address__") == Some("web1.example.test:8080"))
        .unwrap();
    assert_eq!(
        t.get(DNS_SRV_RECORD_TARGET_LABEL),
        Some("web1.example.test.")
    );
    assert_eq!(t.get(DNS_SRV_RECORD_PORT_LABEL), Some("8080"));
    assert_eq!(t.get(DNS_NAME_LABEL), Some("_web._tcp.example.test."));
    // A name without records gives an empty group, removing earlier targets.
    assert!(groups[1].targets.is_empty());

    let a = DnsSdConfig {
        names: vec!["db.example.test.".into()],
        refresh_interval: ModelDuration::from_secs(30),
        record_type: "A".into(),
        port: 5432,
    };
    let mut d = DnsDiscoverer::with_resolver_config(a, resolver_config(port)).unwrap();
    let groups = d.refresh().await.unwrap();
    assert_eq!(addresses(groups.first()), ["10.0.0.7:5432"]);
}

#[test]
fn dns_records_to_targets() {
    use hickory_resolver::proto::rr::rdata::{AAAA, MX, NS};
    use hickory_resolver::proto::rr::{Name, RData};
    let g = hearth_discovery::dns::records_to_group(
        "example.test",
        &[
            RData::AAAA(AAAA("::1".parse().unwrap())),
            RData::MX(MX::new(10, Name::from_ascii("mail.example.test.").unwrap())),
            RData::NS(NS(Name::from_ascii("ns1.example.test.").unwrap())),
        ],
        9100,
    );
    assert_eq!(
        addresses(Some(&g)),
        [
            "[::1]:9100",
            "mail.example.test:9100",
            "ns1.example.test:9100"
        ]
    );
    assert_eq!(
        g.targets[1].get("__meta_dns_mx_record_target"),
        Some("mail.example.test.")
    );
    assert_eq!(
        g.targets[2].get("__meta_dns_ns_record_target"),
        Some("ns1.example.test.")
    );
    assert_eq!(g.targets[0].get("__meta_dns_srv_record_target"), None);
}

/// A discoverer whose updates the test sends by hand.
struct ScriptedDiscoverer(mpsc::Receiver<Vec<TargetGroup>>);

impl Discoverer for ScriptedDiscoverer {
    fn run(
        self: Box<Self>,
        updates: hearth_discovery::GroupSender,
    ) -> hearth_discovery::discoverer::DiscovererFuture {
        let mut rx = self.0;
        Box::pin(async move {
            while let Some(g) = rx.recv().await {
                if updates.send(g).await.is_err() {
                    return;
                }
            }
        })
    }
}

fn group(source: &str, addrs: &[&str]) -> TargetGroup {
    TargetGroup::from_addresses(addrs.iter().copied(), Labels::empty(), source.into())
}

#[tokio::test(start_paused = true)]
async fn manager_dedups_identical_configs_and_debounces_updates() {
    // The file config is only an identity here: the factory scripts its discoverer.
    let (script_tx, script_rx) = mpsc::channel(16);
    let script_rx = Arc::new(Mutex::new(Some(script_rx)));
    let created = Arc::new(Mutex::new(Vec::<String>::new()));
    let (created2, script_rx2) = (created.clone(), script_rx.clone());
    let factory = Arc::new(
        move |cfg: &SdConfig| -> Result<Box<dyn Discoverer>, String> {
            created2.lock().unwrap().push(cfg.name().to_string());
            match cfg {
                SdConfig::File(_) => Ok(Box::new(ScriptedDiscoverer(
                    script_rx2.lock().unwrap().take().unwrap(),
                ))),
                other => hearth_discovery::manager::default_discoverer(other, "test"),
            }
        },
    );
    let mut m = DiscoveryManager::with_factory(factory, Duration::from_secs(5));
    let file = ServiceDiscoveryConfigs {
        file_sd_configs: vec![FileSdConfig {
            files: vec!["x.yml".into()],
            refresh_interval: ModelDuration::from_secs(60),
        }],
        ..ServiceDiscoveryConfigs::default()
    };
    let mut jobs = BTreeMap::new();
    jobs.insert("a".to_string(), file.clone());
    jobs.insert("b".to_string(), file.clone());
    jobs.insert("empty".to_string(), ServiceDiscoveryConfigs::default());
    m.apply_config(&jobs);
    assert_eq!(
        m.provider_count(),
        2,
        "one shared file provider plus the empty job's static one"
    );
    let mut rx = m.subscribe();

    // A burst of updates within one interval is published once, with the last state.
    script_tx.send(vec![group("s0", &["h1:1"])]).await.unwrap();
    script_tx
        .send(vec![group("s0", &["h1:1", "h2:2"])])
        .await
        .unwrap();
    script_tx.send(vec![group("s1", &["h3:3"])]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    rx.borrow_and_update();
    rx.changed().await.unwrap();
    let sets = rx.borrow_and_update().clone();
    assert_eq!(sets.len(), 3);
    for job in ["a", "b"] {
        let groups = &sets[job];
        assert_eq!(groups.len(), 2, "{job}: {groups:?}");
        assert_eq!(addresses(Some(&groups[0])), ["h1:1", "h2:2"]);
    }
    assert!(sets["empty"].is_empty());
    assert!(!rx.has_changed().unwrap(), "one publication for the burst");

    // An emptied source disappears from the published groups.
    script_tx
        .send(vec![TargetGroup {
            source: "s1".into(),
            ..TargetGroup::default()
        }])
        .await
        .unwrap();
    rx.changed().await.unwrap();
    assert_eq!(rx.borrow_and_update()["a"].len(), 1);

    // Dropping job b keeps the shared provider running; dropping both stops it.
    jobs.remove("b");
    m.apply_config(&jobs);
    assert_eq!(m.provider_count(), 2);
    rx.changed().await.unwrap();
    let sets = rx.borrow_and_update().clone();
    assert!(!sets.contains_key("b"));
    assert_eq!(
        sets["a"].len(),
        1,
        "targets survive a reload with the same config"
    );
    assert_eq!(created.lock().unwrap().len(), 2, "no provider restarted");
    jobs.remove("a");
    m.apply_config(&jobs);
    assert_eq!(m.provider_count(), 1);
}
