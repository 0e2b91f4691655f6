//! `hearth tool test rules`: `promtool test rules` for hearth, running upstream's rule
//! unit-test files through `hearth_rules::unittest`. Output as promtool's:
//! `Unit Testing:  FILE`, then `  SUCCESS` or `  FAILED:` with the failures on standard
//! error; exit code 1 when any file fails.

use std::io::Write;
use std::path::Path;

pub fn run(files: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut failed = false;
    for f in files {
        let _ = writeln!(out, "Unit Testing:  {f}");
        match hearth_rules::unittest::run_file(Path::new(f)) {
            Ok(()) => {
                let _ = writeln!(out, "  SUCCESS");
            }
            Err(errs) => {
                let _ = writeln!(err, "  FAILED:");
                for e in errs {
                    let _ = writeln!(err, "{e}");
                    let _ = writeln!(out);
                }
                failed = true;
            }
        }
        let _ = writeln!(out);
    }
    i32::from(failed)
}
