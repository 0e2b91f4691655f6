//! Every input a fuzzer broke (kept under `tests/fuzz-regressions/<target>/`) still
//! passes the property its fuzz target checks.

use std::path::PathBuf;

use hearth_exposition::properties::{check_openmetrics, check_protobuf, check_text};

fn run(target: &str, check: fn(&[u8])) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let input = std::fs::read(entry.path()).unwrap_or_default();
        check(&input);
        n += 1;
    }
    n
}

#[test]
fn fuzz_regressions_stay_fixed() {
    let n = run("text", check_text)
        + run("openmetrics", check_openmetrics)
        + run("protobuf", check_protobuf);
    assert!(n >= 2, "regression inputs missing");
}
