//! Embeds the browser UI (`ui/` at the repository root) into the crate: every file
//! becomes a `(path, bytes, gzipped bytes, etag)` entry of `$OUT_DIR/ui_assets.rs`, which
//! `src/assets.rs` includes. Cargo reruns this when anything under `ui/` changes.

use std::io::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let ui = manifest.join("../../ui");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed={}", ui.display());
    let mut files = Vec::new();
    walk(&ui, &ui, &mut files);
    files.sort();
    let gz_dir = out.join("ui_gz");
    let _ = std::fs::create_dir_all(&gz_dir);
    let mut code = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (i, rel) in files.iter().enumerate() {
        let path = ui.join(rel);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        println!("cargo:rerun-if-changed={}", path.display());
        let etag = format!("\"{:016x}\"", fnv1a(&bytes));
        let gz = if compressible(rel) && bytes.len() > 512 {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            let gz = w.write_all(&bytes).and_then(|()| w.finish()).ok();
            gz.map(|gz| {
                let p = gz_dir.join(format!("{i}.gz"));
                let _ = std::fs::write(&p, gz);
                p
            })
        } else {
            None
        };
        let gz = match gz {
            Some(p) => format!("Some(include_bytes!({:?}))", p.display().to_string()),
            None => "None".to_string(),
        };
        code.push_str(&format!(
            "    Asset {{ path: {rel:?}, bytes: include_bytes!({:?}), gzip: {gz}, etag: {etag:?} }},\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let _ = std::fs::write(out.join("ui_assets.rs"), code);
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect();
            out.push(rel.join("/"));
        }
    }
}

fn compressible(path: &str) -> bool {
    [
        ".js", ".css", ".html", ".svg", ".json", ".txt", "LICENSE", ".md",
    ]
    .iter()
    .any(|s| path.ends_with(s))
}

fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
