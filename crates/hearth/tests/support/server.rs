//! `hearth server` as a child process on loopback, and queries against it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{free_port, http, wait_ok};

pub const FORM: &str = "application/x-www-form-urlencoded";

pub fn hearth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
}

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Server::start_at(dir, extra, "")
    }

    /// Starts with the routes under `prefix` (`""` or `/prom`).
    pub fn start_at(dir: &Path, extra: &[&str], prefix: &str) -> Server {
        Server::start_on(dir, free_port(), extra, prefix)
    }

    /// Starts listening on `port` (known before, for a configuration that names it).
    pub fn start_on(dir: &Path, port: u16, extra: &[&str], prefix: &str) -> Server {
        let config = dir.join("prometheus.yml");
        if !config.exists() {
            std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
        }
        let child = hearth()
            .current_dir(dir)
            .args(["server", "--storage.tsdb.path=data"])
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Server {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        assert!(
            wait_ok(port, &format!("{prefix}/-/ready"), 300),
            "hearth server never became ready"
        );
        s
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.port, "GET", path, "", "")
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, String) {
        http(self.port, "POST", path, FORM, body)
    }
}

/// Polls `GET path` until `done` holds for the body (bounded attempts; the assertion is
/// on content); returns the last body.
pub fn get_until(s: &Server, path: &str, done: impl Fn(&str) -> bool) -> String {
    let mut body = String::new();
    for _ in 0..600 {
        body = s.get(path).1;
        if done(&body) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    body
}

/// A child process killed (and reaped) on drop.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The instant query's samples as `labels=value` strings (labels in JSON order).
pub fn query(s: &Server, q: &str) -> Vec<String> {
    let path = format!(
        "/api/v1/query?query={}",
        url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
    );
    let (status, body) = s.get(&path);
    assert_eq!(status, 200, "{q}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}={}", r["metric"], r["value"][1].as_str().unwrap_or("")))
        .collect()
}

/// Polls `q` until `done` holds for its result (bounded attempts; the assertion is on
/// content, never on how long it took).
pub fn query_until(s: &Server, q: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut got = Vec::new();
    for _ in 0..600 {
        got = query(s, q);
        if done(&got) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    got
}
