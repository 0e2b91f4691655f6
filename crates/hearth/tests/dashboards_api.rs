//! `hearth dashboards` driven by Grafana's own Python client (`grafana-client` from
//! PyPI): health and connect, data source CRUD (409 on a duplicate name), folder CRUD,
//! dashboard create/update/get/search/delete with a realistic node exporter dashboard,
//! versions and restore, 412 on a stale version and on a duplicate title, stars, roles
//! (a Viewer cannot write), service-account token auth; the data source proxy against a
//! real `hearth server`; provisioning from files that change while it runs.
//!
//! Without python3 + grafana-client (installed with pip when missing) the client tests
//! print "SKIPPED: …" and pass; the provisioning test needs no Python.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::server::{KillOnDrop, Server, hearth};
use support::{free_port, http_with_headers, wait_ok};

const ADMIN_AUTH: &str = "Basic YWRtaW46c2VjcmV0"; // admin:secret

/// `hearth dashboards` on a free loopback port with `--admin-password secret`.
struct Dashboards {
    _child: KillOnDrop,
    port: u16,
}

fn start_dashboards(dir: &Path, extra: &[&str]) -> Dashboards {
    let port = free_port();
    let child = hearth()
        .current_dir(dir)
        .args([
            "dashboards",
            "--storage.path=data",
            "--admin-password=secret",
        ])
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(extra)
        .env_remove("GF_SECURITY_ADMIN_PASSWORD")
        .env_remove("GF_SECURITY_ADMIN_USER")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let d = Dashboards {
        _child: KillOnDrop(child),
        port,
    };
    assert!(
        wait_ok(port, "/api/health", 300),
        "hearth dashboards never answered /api/health"
    );
    d
}

impl Dashboards {
    fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call("GET", path, "")
    }

    fn call(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let (status, text) = http_with_headers(
            self.port,
            method,
            path,
            &[
                ("Authorization", ADMIN_AUTH),
                ("Content-Type", "application/json"),
            ],
            body,
        );
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: {status} {text:?} is not JSON: {e}"));
        (status, v)
    }
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata/dashboards")
        .join(name)
}

/// python3 with `grafana_client`, installed with pip when missing.
fn ensure_grafana_client() -> Result<(), String> {
    let have = || {
        Command::new("python3")
            .args(["-c", "import grafana_client"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if have() {
        return Ok(());
    }
    for extra in [&[][..], &["--break-system-packages"][..]] {
        let _ = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(extra)
            .arg("grafana-client")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if have() {
            return Ok(());
        }
    }
    Err("python3 with grafana-client is not available and pip install failed".into())
}

/// Runs a Python script with arguments; panics with its output when it fails. Every
/// check in the scripts is an `assert` with a message; the scripts print `OK <step>`.
fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    stdout
}

const PRELUDE: &str = r#"
import json, sys
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaException

PORT = int(sys.argv[1])

def client(auth):
    return GrafanaApi(auth=auth, host="127.0.0.1", port=PORT, timeout=30)

def expect_error(status, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except GrafanaException as e:
        assert e.status_code == status, f"{fn.__name__}: got {e.status_code} {e.response}, want {status}"
        return e.response
    raise AssertionError(f"{fn.__name__}{args}: succeeded, want HTTP {status}")
"#;

const CLIENT_SCRIPT: &str = r#"
DASH_FILE = sys.argv[2]
api = client(("admin", "secret"))

# --- health and connect
api.connect()
assert api.version == "12.0.0", api.version
info = api.health.check()
assert info["edition"] == "Open Source" and info["commit"], info
assert api.user.get_actual_user()["isGrafanaAdmin"] is True
assert api.organization.get_current_organization()["name"] == "Main Org."
expect_error(401, client(("admin", "wrong")).user.get_actual_user)
print("OK connect")

# --- data sources
created = api.datasource.create_datasource({
    "name": "prom-a", "type": "prometheus", "url": "http://127.0.0.1:1", "access": "proxy",
    "basicAuth": True, "basicAuthUser": "scraper", "secureJsonData": {"basicAuthPassword": "s3cr3t-pw"},
    "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
})
assert created["message"] == "Datasource added", created
ds_uid = created["datasource"]["uid"]
got = api.datasource.get_datasource_by_uid(ds_uid)
assert got["name"] == "prom-a" and got["basicAuthUser"] == "scraper", got
assert got["secureJsonFields"] == {"basicAuthPassword": True}, got
assert "s3cr3t-pw" not in json.dumps(got) and "s3cr3t-pw" not in json.dumps(api.datasource.list_datasources())
assert api.datasource.get_datasource_by_name("prom-a")["uid"] == ds_uid
assert api.datasource.get_datasource_by_id(created["id"])["uid"] == ds_uid
assert api.datasource.get_datasource_id_by_name("prom-a")["id"] == created["id"]
assert [d["name"] for d in api.datasource.list_datasources()] == ["prom-a"]
dup = expect_error(409, api.datasource.create_datasource, {"name": "prom-a", "type": "prometheus", "url": "http://x:1"})
assert dup["message"] == "data source with the same name already exists", dup
got["url"] = "http://127.0.0.1:2"
updated = api.datasource.update_datasource_by_uid(ds_uid, got)
assert updated["datasource"]["url"] == "http://127.0.0.1:2" and updated["datasource"]["version"] == 2, updated
assert updated["datasource"]["secureJsonFields"] == {"basicAuthPassword": True}, "secure field kept"
health = api.datasource.health_inquiry(ds_uid)
assert health.success is False and health.status == "ERROR", health
api.datasource.delete_datasource_by_uid(ds_uid)
expect_error(404, api.datasource.get_datasource_by_uid, ds_uid)
print("OK datasources")

# --- folders
folder = api.folder.create_folder("Infrastructure", uid="infra")
assert folder["uid"] == "infra" and folder["version"] == 1 and folder["url"] == "/dashboards/f/infra/infrastructure", folder
expect_error(409, api.folder.create_folder, "Infrastructure")
expect_error(409, api.folder.create_folder, "Other", uid="infra")
other = api.folder.create_folder("Scratch")
assert [f["title"] for f in api.folder.get_all_folders()] == ["Infrastructure", "Scratch"]
renamed = api.folder.update_folder("infra", title="Infra", version=1)
assert renamed["title"] == "Infra" and renamed["version"] == 2, renamed
stale = expect_error(412, api.folder.update_folder, "infra", title="Stale", version=1)
assert api.folder.get_folder("infra")["title"] == "Infra"
assert api.folder.get_folder_by_id(folder["id"])["uid"] == "infra"
api.folder.delete_folder(other["uid"])
expect_error(404, api.folder.get_folder, other["uid"])
print("OK folders")

# --- dashboards
dash = json.load(open(DASH_FILE))
saved = api.dashboard.update_dashboard({"dashboard": dash, "folderUid": "infra", "message": "first import"})
assert saved["status"] == "success" and saved["version"] == 1, saved
assert saved["uid"] == "node-exporter-overview" and saved["slug"] == "node-exporter-overview", saved
assert saved["url"] == "/d/node-exporter-overview/node-exporter-overview", saved
got = api.dashboard.get_dashboard("node-exporter-overview")
d, meta = got["dashboard"], got["meta"]
assert d["id"] == saved["id"] and d["version"] == 1 and d["title"] == "Node Exporter Overview", d
assert d["panels"] == dash["panels"] and d["templating"] == dash["templating"] and d["schemaVersion"] == 39
assert meta["folderUid"] == "infra" and meta["folderTitle"] == "Infra" and meta["canSave"] is True, meta
assert meta["createdBy"] == "admin" and meta["url"] == saved["url"] and meta["provisioned"] is False, meta
d["panels"][0]["title"] = "CPU Busy (all cores)"
second = api.dashboard.update_dashboard({"dashboard": d, "folderUid": "infra", "message": "rename panel"})
assert second["version"] == 2 and second["id"] == saved["id"], second
stale = dict(d, version=1)
err = expect_error(412, api.dashboard.update_dashboard, {"dashboard": stale, "folderUid": "infra"})
assert err["status"] == "version-mismatch", err
err = expect_error(412, api.dashboard.update_dashboard, {"dashboard": {"title": "node exporter OVERVIEW"}, "folderUid": "infra"})
assert err["status"] == "name-exists", err
general = api.dashboard.update_dashboard({"dashboard": {"title": "Node Exporter Overview", "tags": ["scratch"]}})
assert general["version"] == 1 and general["uid"] != "node-exporter-overview"
expect_error(404, api.dashboard.update_dashboard, {"dashboard": {"title": "Lost"}, "folderUid": "no-such-folder"})
expect_error(400, api.dashboard.update_dashboard, {"dashboard": {"panels": []}})
expect_error(400, api.dashboard.update_dashboard, {"dashboard": {"title": "Bad uid", "uid": "has space"}})
assert api.dashboard.get_dashboard("node-exporter-overview")["dashboard"]["version"] == 2, "refused saves change nothing"
print("OK dashboards")

# --- search, tags, stars
hits = api.search.search_dashboards(query="node exporter")
assert [h["uid"] for h in hits] == ["node-exporter-overview", general["uid"]], hits
assert hits[0]["folderUid"] == "infra" and hits[0]["folderTitle"] == "Infra" and hits[0]["type"] == "dash-db", hits[0]
assert "folderUid" not in hits[1], hits[1]
assert [h["uid"] for h in api.search.search_dashboards(tag="linux")] == ["node-exporter-overview"]
assert api.search.search_dashboards(tag=["linux", "scratch"]) == []
assert [h["title"] for h in api.search.search_dashboards(type_="dash-folder")] == ["Infra"]
assert [h["uid"] for h in api.search.search_dashboards(folder_uids=["infra"])] == ["node-exporter-overview"]
assert len(api.search.search_dashboards(limit=1, page=2)) == 1
tags = api.dashboard.get_dashboards_tags()
assert tags == [{"term": "linux", "count": 1}, {"term": "node-exporter", "count": 1}, {"term": "scratch", "count": 1}], tags
api.user.star_dashboard("node-exporter-overview")
assert [h["uid"] for h in api.search.search_dashboards(starred=True)] == ["node-exporter-overview"]
assert api.dashboard.get_dashboard("node-exporter-overview")["meta"]["isStarred"] is True
api.user.unstar_dashboard("node-exporter-overview")
assert api.search.search_dashboards(starred=True) == []
print("OK search")

# --- versions and restore
versions = api.dashboard_versions.get_dashboard_versions_by_uid("node-exporter-overview")["versions"]
assert [v["version"] for v in versions] == [2, 1], versions
assert versions[0]["message"] == "rename panel" and versions[1]["message"] == "first import" and versions[0]["createdBy"] == "admin"
v1 = api.dashboard_versions.get_dashboard_version_by_uid("node-exporter-overview", 1)
assert v1["data"]["panels"][0]["title"] == "CPU Busy" and v1["version"] == 1, v1
restored = api.dashboard_versions.restore_dashboard_by_uid("node-exporter-overview", 1)
assert restored["version"] == 3, restored
now = api.dashboard.get_dashboard("node-exporter-overview")["dashboard"]
assert now["panels"][0]["title"] == "CPU Busy" and now["version"] == 3, now
versions = api.dashboard_versions.get_dashboard_versions_by_uid("node-exporter-overview")["versions"]
assert versions[0]["restoredFrom"] == 1 and versions[0]["parentVersion"] == 2, versions[0]
print("OK versions")

# --- roles: a Viewer reads and cannot write; an Editor writes dashboards, not data sources
user = api.admin.create_user({"name": "Val", "email": "val@example.com", "login": "val", "password": "valpass"})
viewer = client(("val", "valpass"))
assert viewer.user.get_actual_user()["login"] == "val"
assert any(u["login"] == "val" for u in api.users.search_users())
assert viewer.dashboard.get_dashboard("node-exporter-overview")["meta"]["canSave"] is False
assert len(viewer.search.search_dashboards()) == 3
expect_error(403, viewer.dashboard.update_dashboard, {"dashboard": {"title": "Nope"}})
expect_error(403, viewer.dashboard.delete_dashboard, "node-exporter-overview")
expect_error(403, viewer.folder.create_folder, "Nope")
expect_error(403, viewer.datasource.list_datasources)
expect_error(403, viewer.users.search_users)
api.organization.update_user_current_organization(user["id"], {"role": "Editor"})
by_val = viewer.dashboard.update_dashboard({"dashboard": {"title": "By Val"}})
assert api.dashboard.get_dashboard(by_val["uid"])["meta"]["createdBy"] == "val"
expect_error(403, viewer.datasource.create_datasource, {"name": "x", "type": "prometheus", "url": "http://x:1"})
viewer.user.change_actual_user_password("valpass", "newpass")
expect_error(401, viewer.user.get_actual_user)
assert client(("val", "newpass")).user.get_actual_user()["login"] == "val"
print("OK roles")

# --- service account tokens (Authorization: Bearer)
sa = api.serviceaccount.create({"name": "ci-bot", "role": "Editor"})
token = api.serviceaccount.create_token(sa["id"], {"name": "deploy"})
assert token["key"].startswith("glsa_"), token
bot = client(token["key"])
me = bot.user.get_actual_user()
assert me["login"] == "sa-ci-bot" and me["isServiceAccount"] is True, me
ci = bot.dashboard.update_dashboard({"dashboard": {"title": "From CI", "tags": ["ci"]}, "overwrite": True})
assert ci["version"] == 1
expect_error(403, bot.datasource.list_datasources)
assert [t["name"] for t in api.serviceaccount.get_tokens(sa["id"])] == ["deploy"]
assert api.serviceaccount.search()[0]["serviceAccounts"][0]["tokens"] == 1
api.serviceaccount.delete_token(sa["id"], token["id"])
expect_error(401, bot.user.get_actual_user)
expect_error(401, client("glsa_not_a_token").user.get_actual_user)
print("OK tokens")

# --- deletes
deleted = api.dashboard.delete_dashboard(general["uid"])
assert deleted["title"] == "Node Exporter Overview" and "deleted" in deleted["message"], deleted
expect_error(404, api.dashboard.get_dashboard, general["uid"])
api.folder.delete_folder("infra")
expect_error(404, api.dashboard.get_dashboard, "node-exporter-overview")
assert sorted(h["title"] for h in api.search.search_dashboards()) == ["By Val", "From CI"]
print("OK deletes")
"#;

#[test]
fn grafana_client_drives_the_api() {
    if let Err(why) = ensure_grafana_client() {
        println!("SKIPPED: grafana-client test: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = start_dashboards(dir.path(), &[]);
    let dash = testdata("node-exporter.json");
    let out = run_python(
        &format!("{PRELUDE}{CLIENT_SCRIPT}"),
        &[&d.port.to_string(), dash.to_str().unwrap()],
    );
    for step in [
        "connect",
        "datasources",
        "folders",
        "dashboards",
        "search",
        "versions",
        "roles",
        "tokens",
        "deletes",
    ] {
        assert!(
            out.contains(&format!("OK {step}\n")),
            "{step} missing:\n{out}"
        );
    }
    // Everything survives a restart (SQLite in --storage.path).
    drop(d);
    let d = start_dashboards(dir.path(), &[]);
    let (status, hits) = d.get("/api/search?query=From%20CI");
    assert_eq!(status, 200);
    assert_eq!(hits[0]["title"], "From CI", "{hits}");
    assert!(dir.path().join("data/hearth-dashboards.db").exists());
}

const PROXY_SCRIPT: &str = r#"
SERVER_URL = sys.argv[2]
api = client(("admin", "secret"))
created = api.datasource.create_datasource({"name": "hearth", "type": "prometheus", "url": SERVER_URL, "access": "proxy", "isDefault": True})
uid = created["datasource"]["uid"]
health = api.datasource.health_inquiry(uid)
assert health.success is True and health.status == "OK", health
print("OK health", health.message)
result = []
for _ in range(300):
    r = api.datasource.query(datasource_uid=uid, query="up")
    assert r["status"] == "success", r
    result = r["data"]["result"]
    if result and result[0]["value"][1] == "1":
        break
    import time; time.sleep(0.2)
assert len(result) == 1 and result[0]["metric"]["job"] == "hearth" and result[0]["value"][1] == "1", result
print("OK query up")
by_id = api.datasource.query(datasource_id=created["id"], query="up")
assert by_id["data"]["result"][0]["metric"]["job"] == "hearth", by_id
api.user.get_actual_user()
viewer = api.admin.create_user({"name": "V", "login": "v", "password": "vpass"})
v = client(("v", "vpass"))
assert v.datasource.query(datasource_uid=uid, query="up")["status"] == "success"
print("OK viewer queries")
"#;

#[test]
fn data_source_proxy_queries_a_real_hearth_server() {
    if let Err(why) = ensure_grafana_client() {
        println!("SKIPPED: data source proxy test: {why}");
        return;
    }
    let server_dir = tempfile::tempdir().unwrap();
    let server_port = free_port();
    std::fs::write(
        server_dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: hearth\n    static_configs:\n      - targets: ['127.0.0.1:{server_port}']\n"
        ),
    )
    .unwrap();
    let server = Server::start_on(server_dir.path(), server_port, &[], "");
    let dir = tempfile::tempdir().unwrap();
    let d = start_dashboards(dir.path(), &[]);
    let out = run_python(
        &format!("{PRELUDE}{PROXY_SCRIPT}"),
        &[&d.port.to_string(), &server.url()],
    );
    assert!(out.contains("OK query up\n"), "{out}");
    assert!(out.contains("OK viewer queries\n"), "{out}");

    // The proxy forwards the query API only, and only for signed-in users.
    let uid = {
        let (_, list) = d.get("/api/datasources");
        list[0]["uid"].as_str().unwrap().to_string()
    };
    let (status, _) = d.get(&format!("/api/datasources/proxy/uid/{uid}/-/quit"));
    assert_eq!(status, 403);
    let (status, _) = d.get(&format!(
        "/api/datasources/proxy/uid/{uid}/api/v1/admin/tsdb/snapshot"
    ));
    assert_eq!(status, 403);
    let (status, body) = http_with_headers(
        d.port,
        "GET",
        &format!("/api/datasources/proxy/uid/{uid}/api/v1/query?query=up"),
        &[],
        "",
    );
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["message"],
        "Unauthorized"
    );
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Write-then-rename so the poller never reads a half-written file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Polls `path` until `done` holds (bounded attempts; the assertion is on content).
fn get_until(
    d: &Dashboards,
    path: &str,
    done: impl Fn(u16, &serde_json::Value) -> bool,
) -> (u16, serde_json::Value) {
    let mut last = d.get(path);
    for _ in 0..300 {
        if done(last.0, &last.1) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        last = d.get(path);
    }
    last
}

#[test]
fn provisioning_loads_files_and_follows_changes() {
    let dir = tempfile::tempdir().unwrap();
    let prov = dir.path().join("provisioning");
    let dashboards_dir = dir.path().join("dashboards");
    write(
        &prov.join("datasources/prometheus.yaml"),
        "apiVersion: 1\n\
         deleteDatasources:\n  - name: Old\n    orgId: 1\n\
         datasources:\n\
         \x20 - name: Prometheus\n\
         \x20   type: prometheus\n\
         \x20   uid: prom\n\
         \x20   access: proxy\n\
         \x20   url: http://${PROM_HOST}:9090\n\
         \x20   isDefault: true\n\
         \x20   basicAuth: true\n\
         \x20   basicAuthUser: $PROM_USER\n\
         \x20   secureJsonData:\n\
         \x20     basicAuthPassword: $PROM_PASSWORD\n\
         \x20   jsonData:\n\
         \x20     timeInterval: 5s\n",
    );
    write(
        &prov.join("dashboards/files.yaml"),
        &format!(
            "apiVersion: 1\nproviders:\n  - name: files\n    type: file\n    updateIntervalSeconds: 1\n    \
             options:\n      path: {}\n      foldersFromFilesStructure: true\n",
            dashboards_dir.display()
        ),
    );
    let node = std::fs::read_to_string(testdata("node-exporter.json")).unwrap();
    write(&dashboards_dir.join("Team A/node.json"), &node);
    write(
        &dashboards_dir.join("top.json"),
        r#"{"title": "Top Level", "uid": "top", "panels": [], "schemaVersion": 39}"#,
    );
    write(&dashboards_dir.join("broken.json"), r#"{"panels": ["#);

    let port = free_port();
    let child = hearth()
        .current_dir(dir.path())
        .args([
            "dashboards",
            "--storage.path=data",
            "--admin-password=secret",
        ])
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--provisioning={}", prov.display()))
        .env("PROM_HOST", "prom.example")
        .env("PROM_USER", "reader")
        .env("PROM_PASSWORD", "pw-from-env")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let d = Dashboards {
        _child: KillOnDrop(child),
        port,
    };
    assert!(wait_ok(port, "/api/health", 300), "never became healthy");

    // Data source with the environment expanded; read-only; secret not shown.
    let (status, ds) = d.get("/api/datasources/uid/prom");
    assert_eq!(status, 200, "{ds}");
    assert_eq!(ds["url"], "http://prom.example:9090");
    assert_eq!(ds["basicAuthUser"], "reader");
    assert_eq!(ds["isDefault"], true);
    assert_eq!(ds["readOnly"], true);
    assert_eq!(ds["secureJsonFields"]["basicAuthPassword"], true);
    assert!(!ds.to_string().contains("pw-from-env"));
    let (status, _) = d.call("DELETE", "/api/datasources/uid/prom", "");
    assert_eq!(status, 403, "provisioned data sources are read-only");

    // Dashboards: the one in a subdirectory in a folder of that name, the top one in
    // General, the broken file skipped.
    let (status, got) = d.get("/api/dashboards/uid/node-exporter-overview");
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["meta"]["folderTitle"], "Team A");
    assert_eq!(got["meta"]["provisioned"], true);
    assert_eq!(got["meta"]["canSave"], false);
    assert_eq!(got["dashboard"]["panels"].as_array().unwrap().len(), 5);
    let (status, top) = d.get("/api/dashboards/uid/top");
    assert_eq!(status, 200, "{top}");
    assert_eq!(top["meta"]["folderTitle"], "General");
    let (_, hits) = d.get("/api/search?type=dash-db");
    assert_eq!(hits.as_array().unwrap().len(), 2, "{hits}");

    // The API refuses to change a provisioned dashboard (allowUiUpdates is false).
    let mut changed = got["dashboard"].clone();
    changed["title"] = "Edited in the API".into();
    let (status, body) = d.call(
        "POST",
        "/api/dashboards/db",
        &serde_json::json!({"dashboard": changed, "overwrite": true}).to_string(),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], "Cannot save provisioned dashboard");

    // A changed file is picked up by the poller.
    write(
        &dashboards_dir.join("Team A/node.json"),
        &node.replace(
            "\"Node Exporter Overview\"",
            "\"Node Exporter Overview v2\"",
        ),
    );
    let (_, got) = get_until(&d, "/api/dashboards/uid/node-exporter-overview", |_, v| {
        v["dashboard"]["title"] == "Node Exporter Overview v2"
    });
    assert_eq!(got["dashboard"]["title"], "Node Exporter Overview v2");
    assert_eq!(got["dashboard"]["version"], 2);

    // A removed file removes its dashboard; fixing the broken one adds it.
    std::fs::remove_file(dashboards_dir.join("top.json")).unwrap();
    write(
        &dashboards_dir.join("broken.json"),
        r#"{"title": "Fixed", "uid": "fixed", "panels": []}"#,
    );
    let (status, _) = get_until(&d, "/api/dashboards/uid/top", |s, _| s == 404);
    assert_eq!(status, 404);
    let (status, fixed) = get_until(&d, "/api/dashboards/uid/fixed", |s, _| s == 200);
    assert_eq!(status, 200, "{fixed}");

    // Bad provisioning YAML stops the start with the file, line and field.
    write(
        &prov.join("datasources/bad.yaml"),
        "apiVersion: 1\ndatasources:\n  - name: x\n    type: prometheus\n    isDefault: perhaps\n",
    );
    let out = hearth()
        .current_dir(dir.path())
        .args(["dashboards", "--storage.path=data2"])
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .arg(format!("--provisioning={}", prov.display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml:5:"), "{stderr}");
}

#[test]
fn errors_and_limits_have_grafanas_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let d = start_dashboards(dir.path(), &[]);
    let (status, body) = http_with_headers(d.port, "GET", "/api/search", &[], "");
    assert_eq!(status, 401);
    assert!(body.contains("\"message\":\"Unauthorized\""), "{body}");
    let (status, body) = d.call("POST", "/api/dashboards/db", "{not json");
    assert_eq!(status, 400, "{body}");
    let (status, body) = d.call("POST", "/api/dashboards/db", r#"{"dashboard": [1]}"#);
    assert_eq!(status, 400);
    assert_eq!(body["message"], "dashboard must be a JSON object");
    let big = format!(
        r#"{{"dashboard": {{"title": "big", "description": "{}"}}}}"#,
        "x".repeat(11 * 1024 * 1024)
    );
    let (status, body) = d.call("POST", "/api/dashboards/db", &big);
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("limit of 10485760 bytes"),
        "{body}"
    );
    let (status, body) = d.get("/api/dashboards/uid/nope");
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Dashboard not found");
    let (status, page) = http_with_headers(d.port, "GET", "/", &[("Accept", "text/html")], "");
    assert_eq!(status, 200);
    assert!(page.contains("UI not built yet"), "{page}");
    // Login with a session cookie, then logout ends it.
    let login = r#"{"user":"admin","password":"secret"}"#;
    let (status, raw) = raw_exchange(
        d.port,
        &format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{login}",
            login.len()
        ),
    );
    assert_eq!(status, 200, "{raw}");
    let cookie = raw
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("grafana_session="), "{cookie}");
    let (status, me) = http_with_headers(d.port, "GET", "/api/user", &[("Cookie", &cookie)], "");
    assert_eq!(status, 200, "{me}");
    assert!(me.contains("\"login\":\"admin\""));
    let (status, _) = http_with_headers(d.port, "GET", "/logout", &[("Cookie", &cookie)], "");
    assert_eq!(status, 303);
    let (status, _) = http_with_headers(d.port, "GET", "/api/user", &[("Cookie", &cookie)], "");
    assert_eq!(status, 401);
}

/// A raw HTTP exchange returning the status and the whole response (headers included).
fn raw_exchange(port: u16, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, raw)
}
