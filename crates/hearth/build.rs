//! Records the git revision, branch, build date and compiler for `--version` and
//! `hearth_build_info`, falling back to "unknown" outside a git checkout.
use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let revision = output("git", &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let branch =
        output("git", &["rev-parse", "--abbrev-ref", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rust_version = output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let date = output("date", &["-u", "+%Y%m%d-%H:%M:%S"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HEARTH_REVISION={revision}");
    println!("cargo:rustc-env=HEARTH_BRANCH={branch}");
    println!("cargo:rustc-env=HEARTH_RUST_VERSION={rust_version}");
    println!("cargo:rustc-env=HEARTH_BUILD_DATE={date}");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs");
}
