//! Bounds that keep any template from hanging, exhausting memory or the stack.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_template::{FuncMap, Limits, Template, TemplateError, Value};

fn exec(text: &str, limits: Limits) -> Result<String, TemplateError> {
    Template::parse("t", text, FuncMap::new())?
        .with_limits(limits)
        .execute("t", &Value::Nil)
}

#[test]
fn step_limit_stops_huge_ranges() {
    let limits = Limits {
        max_steps: 100_000,
        ..Limits::default()
    };
    let err = exec("{{range 1000000000000}}{{end}}", limits).unwrap_err();
    assert!(matches!(err, TemplateError::Limit(_)), "{err}");
    assert!(err.to_string().contains("exceeded 100000 steps"), "{err}");
    assert_eq!(Limits::default().max_steps, 10_000_000);
}

#[test]
fn output_limit() {
    let limits = Limits {
        max_output: 1000,
        ..Limits::default()
    };
    let err = exec("{{range 2000}}x{{end}}", limits).unwrap_err();
    assert!(
        err.to_string()
            .contains("template output exceeds 1000 bytes"),
        "{err}"
    );
    let err = exec(r#"{{printf "%999999d" 1}}"#, limits).unwrap_err();
    assert!(matches!(err, TemplateError::Limit(_)));
    // Width beyond Go's own bound is refused by fmt itself.
    let out = exec(r#"{{printf "%99999999d" 1}}"#, Limits::default()).unwrap();
    assert_eq!(out, "%!(BADWIDTH)1");
}

#[test]
fn exponential_templates_are_bounded() {
    // Each level calls the next twice: 2^40 calls without a step limit.
    let mut text = String::from("{{define \"l0\"}}x{{end}}");
    for i in 1..40 {
        text.push_str(&format!(
            "{{{{define \"l{i}\"}}}}{{{{template \"l{p}\"}}}}{{{{template \"l{p}\"}}}}{{{{end}}}}",
            p = i - 1
        ));
    }
    text.push_str("{{template \"l39\"}}");
    let limits = Limits {
        max_steps: 100_000,
        ..Limits::default()
    };
    let err = exec(&text, limits).unwrap_err();
    assert!(matches!(err, TemplateError::Limit(_)), "{err}");
}

#[test]
fn deep_nesting_is_rejected_at_parse_time() {
    let deep_parens = format!("{{{{{}1{}}}}}", "(".repeat(500), ")".repeat(500));
    let err = Template::parse("t", &deep_parens, FuncMap::new()).unwrap_err();
    assert!(
        err.to_string().contains("max expression depth exceeded"),
        "{err}"
    );
    let deep_ifs = format!("{}x{}", "{{if 1}}".repeat(500), "{{end}}".repeat(500));
    let err = Template::parse("t", &deep_ifs, FuncMap::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("max control nesting depth exceeded"),
        "{err}"
    );
    let ok = format!("{}x{}", "{{if 1}}".repeat(50), "{{end}}".repeat(50));
    assert_eq!(exec(&ok, Limits::default()).unwrap(), "x");
}

#[test]
fn recursion_at_the_depth_limit_fits_a_small_stack() {
    // Test threads have 2 MiB stacks; the default depth must fit in one, with nesting.
    let text = "{{define \"r\"}}{{if .}}{{with .}}{{range $i := 1}}{{template \"r\" $}}{{end}}{{end}}{{end}}{{end}}{{template \"r\" 1}}";
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || exec(text, Limits::default()).unwrap_err().to_string())
        .unwrap();
    let err = handle.join().unwrap();
    assert!(
        err.contains("exceeded maximum template depth (200)"),
        "{err}"
    );
}

#[test]
fn garbage_never_panics() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let atoms = [
        "{{", "}}", "{{-", "-}}", " ", "(", ")", "|", "$x", ":=", "=", ".", ".A", "$", "if",
        "else", "end", "range", "with", "define", "template", "block", "break", "continue",
        "\"s\"", "`r`", "'c'", "1", "-2.5e3", "0x1p4", "nil", "true", "len", "index", "slice",
        "printf", "\"%d\"", "eq", "and", "or", "not", "print", "html", "js", "call", "/*", "*/",
        ",", "\n", "\u{a0}",
    ];
    for _ in 0..20_000 {
        let mut text = String::new();
        for _ in 0..(seed % 24) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.push_str(atoms[(seed >> 33) as usize % atoms.len()]);
        }
        if let Ok(t) = Template::parse("g", &text, FuncMap::new()) {
            let t = t.with_limits(Limits {
                max_steps: 10_000,
                ..Limits::default()
            });
            let _ = t.execute("g", &Value::list(vec![Value::Int(2), Value::Nil]));
        }
    }
}

/// Inputs the fuzz target (`fuzz/fuzz_targets/execute.rs`) found; each once panicked.
#[test]
fn fuzz_regressions() {
    use hearth_template::Escaping;
    let cases: &[(&str, &[u8])] = &[(
        // `</` followed by a multi-byte character inside a raw-text element.
        "html_raw_text_close_tag",
        include_bytes!("fuzz_regressions/html_raw_text_close_tag"),
    )];
    for (name, input) in cases {
        let text = String::from_utf8_lossy(&input[1..]);
        if let Ok(t) = Template::parse("fuzz", &text, FuncMap::new()) {
            let t = t.with_escaping(Escaping::Html);
            let _ = t.execute("fuzz", &Value::string_map([("job", "x")]));
        }
        let html = format!("<title>x</scrip\u{e9}t>{name}");
        let t = Template::parse("t", &html, FuncMap::new())
            .unwrap()
            .with_escaping(Escaping::Html);
        assert!(t.execute("t", &Value::Nil).is_ok());
    }
}
