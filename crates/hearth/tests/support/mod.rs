//! Helpers the side-by-side tests share: free loopback ports and upstream programs from
//! Debian packages, installed when missing and we are root.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::{Command, Stdio};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program --version` runs.
pub fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs the Debian `package` when `program` is missing and we may; `Err` says why
/// the test has to be skipped.
pub fn ensure_debian(program: &str, package: &str) -> Result<(), String> {
    if runs(program) {
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "{program} is not installed and we are not root to apt-get install {package}"
        ));
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = Command::new("apt-get")
            .args(["update", "-q"])
            .stdout(Stdio::null())
            .status();
        install();
    }
    if runs(program) {
        Ok(())
    } else {
        Err(format!(
            "apt-get install {package} did not provide {program}"
        ))
    }
}
