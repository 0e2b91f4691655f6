//! Go's text/template parser tests (parse_test.go and lex behaviour), ported as data:
//! each input must parse to the same tree text (Go's `Node.String()` with quoted text
//! nodes) or fail, and error messages must carry Go's wording and line numbers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_template::{FuncMap, Function, ParamType, Signature, Template, Value};

fn funcs() -> FuncMap {
    let mut m = FuncMap::new();
    m.insert(
        "contains",
        Function::new(
            Signature::new(vec![ParamType::String, ParamType::String]),
            |_| Ok(Value::Bool(true)),
        ),
    );
    m
}

fn tree_text(name: &str, input: &str) -> Result<String, String> {
    let t = Template::parse(name, input, funcs()).map_err(|e| e.to_string())?;
    let tree = t.lookup(name).ok_or("no tree")?;
    let mut s = String::new();
    tree.root.write(&mut s, true);
    Ok(s)
}

const NO_ERROR: bool = true;
const HAS_ERROR: bool = false;

#[test]
fn parse_tests() {
    let cases: &[(&str, &str, bool, &str)] = &[
        ("empty", "", NO_ERROR, ""),
        ("comment", "{{/*\n\n\n*/}}", NO_ERROR, ""),
        ("spaces", " \t\n", NO_ERROR, "\" \\t\\n\""),
        ("text", "some text", NO_ERROR, "\"some text\""),
        ("emptyAction", "{{}}", HAS_ERROR, "{{}}"),
        ("field", "{{.X}}", NO_ERROR, "{{.X}}"),
        ("simple command", "{{printf}}", NO_ERROR, "{{printf}}"),
        ("$ invocation", "{{$}}", NO_ERROR, "{{$}}"),
        (
            "variable invocation",
            "{{with $x := 3}}{{$x 23}}{{end}}",
            NO_ERROR,
            "{{with $x := 3}}{{$x 23}}{{end}}",
        ),
        ("variable with fields", "{{$.I}}", NO_ERROR, "{{$.I}}"),
        (
            "multi-word command",
            "{{printf `%d` 23}}",
            NO_ERROR,
            "{{printf `%d` 23}}",
        ),
        ("pipeline", "{{.X|.Y}}", NO_ERROR, "{{.X | .Y}}"),
        (
            "pipeline with decl",
            "{{$x := .X|.Y}}",
            NO_ERROR,
            "{{$x := .X | .Y}}",
        ),
        (
            "nested pipeline",
            "{{.X (.Y .Z) (.A | .B .C) (.E)}}",
            NO_ERROR,
            "{{.X (.Y .Z) (.A | .B .C) (.E)}}",
        ),
        (
            "field applied to parentheses",
            "{{(.Y .Z).Field}}",
            NO_ERROR,
            "{{(.Y .Z).Field}}",
        ),
        (
            "simple if",
            "{{if .X}}hello{{end}}",
            NO_ERROR,
            "{{if .X}}\"hello\"{{end}}",
        ),
        (
            "if with else",
            "{{if .X}}true{{else}}false{{end}}",
            NO_ERROR,
            "{{if .X}}\"true\"{{else}}\"false\"{{end}}",
        ),
        (
            "if with else if",
            "{{if .X}}true{{else if .Y}}false{{end}}",
            NO_ERROR,
            "{{if .X}}\"true\"{{else}}{{if .Y}}\"false\"{{end}}{{end}}",
        ),
        (
            "if else chain",
            "+{{if .X}}X{{else if .Y}}Y{{else if .Z}}Z{{end}}+",
            NO_ERROR,
            "\"+\"{{if .X}}\"X\"{{else}}{{if .Y}}\"Y\"{{else}}{{if .Z}}\"Z\"{{end}}{{end}}{{end}}\"+\"",
        ),
        (
            "simple range",
            "{{range .X}}hello{{end}}",
            NO_ERROR,
            "{{range .X}}\"hello\"{{end}}",
        ),
        (
            "chained field range",
            "{{range .X.Y.Z}}hello{{end}}",
            NO_ERROR,
            "{{range .X.Y.Z}}\"hello\"{{end}}",
        ),
        (
            "nested range",
            "{{range .X}}hello{{range .Y}}goodbye{{end}}{{end}}",
            NO_ERROR,
            "{{range .X}}\"hello\"{{range .Y}}\"goodbye\"{{end}}{{end}}",
        ),
        (
            "range with else",
            "{{range .X}}true{{else}}false{{end}}",
            NO_ERROR,
            "{{range .X}}\"true\"{{else}}\"false\"{{end}}",
        ),
        (
            "range over pipeline",
            "{{range .X|.M}}true{{else}}false{{end}}",
            NO_ERROR,
            "{{range .X | .M}}\"true\"{{else}}\"false\"{{end}}",
        ),
        (
            "range []int",
            "{{range .SI}}{{.}}{{end}}",
            NO_ERROR,
            "{{range .SI}}{{.}}{{end}}",
        ),
        (
            "range 1 var",
            "{{range $x := .SI}}{{.}}{{end}}",
            NO_ERROR,
            "{{range $x := .SI}}{{.}}{{end}}",
        ),
        (
            "range 2 vars",
            "{{range $x, $y := .SI}}{{.}}{{end}}",
            NO_ERROR,
            "{{range $x, $y := .SI}}{{.}}{{end}}",
        ),
        (
            "range with break",
            "{{range .SI}}{{.}}{{break}}{{end}}",
            NO_ERROR,
            "{{range .SI}}{{.}}{{break}}{{end}}",
        ),
        (
            "range with continue",
            "{{range .SI}}{{.}}{{continue}}{{end}}",
            NO_ERROR,
            "{{range .SI}}{{.}}{{continue}}{{end}}",
        ),
        (
            "constants",
            "{{range .SI 1 -3.2 true false 'a' nil}}{{end}}",
            NO_ERROR,
            "{{range .SI 1 -3.2 true false 'a' nil}}{{end}}",
        ),
        (
            "template",
            "{{template `x`}}",
            NO_ERROR,
            "{{template \"x\"}}",
        ),
        (
            "template with arg",
            "{{template `x` .Y}}",
            NO_ERROR,
            "{{template \"x\" .Y}}",
        ),
        (
            "with",
            "{{with .X}}hello{{end}}",
            NO_ERROR,
            "{{with .X}}\"hello\"{{end}}",
        ),
        (
            "with with else",
            "{{with .X}}hello{{else}}goodbye{{end}}",
            NO_ERROR,
            "{{with .X}}\"hello\"{{else}}\"goodbye\"{{end}}",
        ),
        (
            "with with else with",
            "{{with .X}}hello{{else with .Y}}goodbye{{end}}",
            NO_ERROR,
            "{{with .X}}\"hello\"{{else}}{{with .Y}}\"goodbye\"{{end}}{{end}}",
        ),
        (
            "with else chain",
            "{{with .X}}X{{else with .Y}}Y{{else with .Z}}Z{{end}}",
            NO_ERROR,
            "{{with .X}}\"X\"{{else}}{{with .Y}}\"Y\"{{else}}{{with .Z}}\"Z\"{{end}}{{end}}{{end}}",
        ),
        ("trim left", "x \r\n\t{{- 3}}", NO_ERROR, "\"x\"{{3}}"),
        ("trim right", "{{3 -}}\n\n\ty", NO_ERROR, "{{3}}\"y\""),
        (
            "trim left and right",
            "x \r\n\t{{- 3 -}}\n\n\ty",
            NO_ERROR,
            "\"x\"{{3}}\"y\"",
        ),
        (
            "trim with extra spaces",
            "x\n{{-  3   -}}\ny",
            NO_ERROR,
            "\"x\"{{3}}\"y\"",
        ),
        (
            "comment trim left",
            "x \r\n\t{{- /* hi */}}",
            NO_ERROR,
            "\"x\"",
        ),
        (
            "comment trim right",
            "{{/* hi */ -}}\n\n\ty",
            NO_ERROR,
            "\"y\"",
        ),
        (
            "comment trim left and right",
            "x \r\n\t{{- /* */ -}}\n\n\ty",
            NO_ERROR,
            "\"x\"\"y\"",
        ),
        (
            "block definition",
            "{{block \"foo\" .}}hello{{end}}",
            NO_ERROR,
            "{{template \"foo\" .}}",
        ),
        (
            "newline in assignment",
            "{{ $x \n := \n 1 \n }}",
            NO_ERROR,
            "{{$x := 1}}",
        ),
        ("newline in empty action", "{{\n}}", HAS_ERROR, "{{\n}}"),
        (
            "newline in pipeline",
            "{{\n\"x\"\n|\nprintf\n}}",
            NO_ERROR,
            "{{\"x\" | printf}}",
        ),
        ("newline in comment", "{{/*\nhello\n*/}}", NO_ERROR, ""),
        (
            "newline in comment trimmed",
            "{{-\n/*\nhello\n*/\n-}}",
            NO_ERROR,
            "",
        ),
        (
            "spaces around continue",
            "{{range .SI}}{{.}}{{ continue }}{{end}}",
            NO_ERROR,
            "{{range .SI}}{{.}}{{continue}}{{end}}",
        ),
        (
            "spaces around break",
            "{{range .SI}}{{.}}{{ break }}{{end}}",
            NO_ERROR,
            "{{range .SI}}{{.}}{{break}}{{end}}",
        ),
        ("unclosed action", "hello{{range", HAS_ERROR, ""),
        ("unmatched end", "{{end}}", HAS_ERROR, ""),
        ("unmatched else", "{{else}}", HAS_ERROR, ""),
        (
            "unmatched else after if",
            "{{if .X}}hello{{end}}{{else}}",
            HAS_ERROR,
            "",
        ),
        (
            "multiple else",
            "{{if .X}}1{{else}}2{{else}}3{{end}}",
            HAS_ERROR,
            "",
        ),
        ("missing end", "hello{{range .x}}", HAS_ERROR, ""),
        (
            "missing end after else",
            "hello{{range .x}}{{else}}",
            HAS_ERROR,
            "",
        ),
        ("undefined function", "hello{{undefined}}", HAS_ERROR, ""),
        ("undefined variable", "{{$x}}", HAS_ERROR, ""),
        (
            "variable undefined after end",
            "{{with $x := 4}}{{end}}{{$x}}",
            HAS_ERROR,
            "",
        ),
        (
            "variable undefined in template",
            "{{template $v}}",
            HAS_ERROR,
            "",
        ),
        (
            "declare with field",
            "{{with $x.Y := 4}}{{end}}",
            HAS_ERROR,
            "",
        ),
        ("template with field ref", "{{template .X}}", HAS_ERROR, ""),
        ("template with var", "{{template $v}}", HAS_ERROR, ""),
        ("invalid punctuation", "{{printf 3, 4}}", HAS_ERROR, ""),
        (
            "multidecl outside range",
            "{{with $v, $u := 3}}{{end}}",
            HAS_ERROR,
            "",
        ),
        (
            "too many decls in range",
            "{{range $u, $v, $w := 3}}{{end}}",
            HAS_ERROR,
            "",
        ),
        (
            "dot applied to parentheses",
            "{{printf (printf .).}}",
            HAS_ERROR,
            "",
        ),
        ("adjacent args", "{{printf 3`x`}}", HAS_ERROR, ""),
        ("adjacent args with .", "{{printf `x`.}}", HAS_ERROR, ""),
        (
            "extra end after if",
            "{{if .X}}a{{else if .Y}}b{{end}}{{end}}",
            HAS_ERROR,
            "",
        ),
        (
            "break outside range",
            "{{range .}}{{end}} {{break}}",
            HAS_ERROR,
            "",
        ),
        (
            "continue outside range",
            "{{range .}}{{end}} {{continue}}",
            HAS_ERROR,
            "",
        ),
        (
            "break in range else",
            "{{range .}}{{else}}{{break}}{{end}}",
            HAS_ERROR,
            "",
        ),
        (
            "continue in range else",
            "{{range .}}{{else}}{{continue}}{{end}}",
            HAS_ERROR,
            "",
        ),
        ("bug0a", "{{$x := 0}}{{$x}}", NO_ERROR, "{{$x := 0}}{{$x}}"),
        ("bug0b", "{{$x += 1}}{{$x}}", HAS_ERROR, ""),
        ("bug0c", "{{$x ! 2}}{{$x}}", HAS_ERROR, ""),
        ("bug0d", "{{$x % 3}}{{$x}}", HAS_ERROR, ""),
        ("bug0e", "{{range $x := $y := 3}}{{end}}", HAS_ERROR, ""),
        ("bug1a", "{{$x:=.}}{{$x!2}}", HAS_ERROR, ""),
        ("bug1b", "{{$x:=.}}{{$x+2}}", HAS_ERROR, ""),
        (
            "bug1c",
            "{{$x:=.}}{{$x +2}}",
            NO_ERROR,
            "{{$x := .}}{{$x +2}}",
        ),
        (
            "bug2a",
            "{{range $x := 0}}{{$x}}{{end}}",
            NO_ERROR,
            "{{range $x := 0}}{{$x}}{{end}}",
        ),
        (
            "bug2b",
            "{{range $x = 0}}{{$x}}{{end}}",
            NO_ERROR,
            "{{range $x = 0}}{{$x}}{{end}}",
        ),
        ("dot after integer", "{{1.E}}", HAS_ERROR, ""),
        ("dot after float", "{{0.1.E}}", HAS_ERROR, ""),
        ("dot after boolean", "{{true.E}}", HAS_ERROR, ""),
        ("dot after char", "{{'a'.any}}", HAS_ERROR, ""),
        ("dot after string", "{{\"hello\".guys}}", HAS_ERROR, ""),
        ("dot after dot", "{{..E}}", HAS_ERROR, ""),
        ("dot after nil", "{{nil.E}}", HAS_ERROR, ""),
        ("wrong pipeline dot", "{{12|.}}", HAS_ERROR, ""),
        ("wrong pipeline number", "{{.|12|printf}}", HAS_ERROR, ""),
        (
            "wrong pipeline string",
            "{{.|printf|\"error\"}}",
            HAS_ERROR,
            "",
        ),
        ("wrong pipeline char", "{{12|printf|'e'}}", HAS_ERROR, ""),
        ("wrong pipeline boolean", "{{.|true}}", HAS_ERROR, ""),
        ("wrong pipeline nil", "{{'c'|nil}}", HAS_ERROR, ""),
        ("empty pipeline", "{{printf \"%d\" ( ) }}", HAS_ERROR, ""),
        (
            "block definition missing pipeline",
            "{{block \"foo\"}}hello{{end}}",
            HAS_ERROR,
            "",
        ),
        (
            "paren nesting normal",
            "{{ (( 1 )) }}",
            NO_ERROR,
            "{{((1))}}",
        ),
        (
            "paren nesting in pipeline",
            "{{ ((( 1 ))) | printf }}",
            NO_ERROR,
            "{{(((1))) | printf}}",
        ),
        (
            "paren nesting with other constructs",
            "{{ if ((( true ))) }}YES{{ end }}",
            NO_ERROR,
            "{{if (((true)))}}\"YES\"{{end}}",
        ),
        // Number syntax (Go's numberTests that must parse, and broken ones).
        ("number 0x_1p4", "{{0x_1p4}}", NO_ERROR, "{{0x_1p4}}"),
        ("number 1e19", "{{1e19}}", NO_ERROR, "{{1e19}}"),
        ("number -1e19", "{{-1e19}}", NO_ERROR, "{{-1e19}}"),
        (
            "number 0xdeadbeef",
            "{{0xdeadbeef}}",
            NO_ERROR,
            "{{0xdeadbeef}}",
        ),
        (
            "char escapes",
            r"{{'\n' '\\' '\'' '\xFF' 'パ' '\u30d1' '\U000030d1'}}",
            NO_ERROR,
            r"{{'\n' '\\' '\'' '\xFF' 'パ' '\u30d1' '\U000030d1'}}",
        ),
        ("number +-2", "{{+-2}}", HAS_ERROR, ""),
        ("number 0x123.", "{{0x123.}}", HAS_ERROR, ""),
        ("number 1e.", "{{1e.}}", HAS_ERROR, ""),
        ("number 0xi.", "{{0xi.}}", HAS_ERROR, ""),
        ("char 'xx'", "{{'xx'}}", HAS_ERROR, ""),
        (
            "huge char",
            "{{'433937734937734969526500969526500'}}",
            HAS_ERROR,
            "",
        ),
        (
            "integer overflow",
            "{{99999999999999999999}}",
            HAS_ERROR,
            "",
        ),
    ];
    let mut failures = Vec::new();
    for (name, input, ok, want) in cases {
        match (tree_text(name, input), ok) {
            (Ok(got), true) if got == *want => {}
            (Err(_), false) => {}
            (got, _) => failures.push(format!(
                "{name} ({input:?}): want ok={ok} {want:?}, got {got:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases.len() > 100);
}

#[test]
fn error_messages() {
    let cases: &[(&str, &str, &str)] = &[
        ("unclosed1", "line1\n{{", "unclosed1:2: unclosed action"),
        (
            "unclosed2",
            "line1\n{{define `x`}}line2\n{{",
            "unclosed2:3: unclosed action",
        ),
        (
            "unclosed3",
            "line1\n{{\"x\"\n\"y\"\n",
            "unclosed3:4: unclosed action started at unclosed3:2",
        ),
        (
            "unclosed4",
            "{{\n\n\n\n\n",
            "unclosed4:6: unclosed action started at unclosed4:1",
        ),
        (
            "var1",
            "line1\n{{\nx\n}}",
            "var1:3: function \"x\" not defined",
        ),
        ("function", "{{foo}}", "function \"foo\" not defined"),
        ("comment1", "{{/*}}", "comment1:1: unclosed comment"),
        (
            "comment2",
            "{{/*\nhello\n}}",
            "comment2:1: unclosed comment",
        ),
        ("lparen", "{{.X (1 2 3}}", "unclosed left paren"),
        ("rparen", "{{.X 1 2 3 ) }}", "unexpected right paren"),
        ("rparen2", "{{(.X 1 2 3", "unclosed action"),
        ("space", "{{`x`3}}", "in operand"),
        ("idchar", "{{a#}}", "'#'"),
        ("charconst", "{{'a}}", "unterminated character constant"),
        ("stringconst", "{{\"a}}", "unterminated quoted string"),
        ("rawstringconst", "{{`a}}", "unterminated raw quoted string"),
        ("number", "{{0xi}}", "number syntax"),
        (
            "multidefine",
            "{{define `a`}}a{{end}}{{define `a`}}b{{end}}",
            "multiple definition of template",
        ),
        ("eof", "{{range .X}}", "unexpected EOF"),
        (
            "variable",
            "{{$x := 23}}{{with $x.y := 3}}{{$x 23}}{{end}}",
            "unexpected \":=\"",
        ),
        ("multidecl", "{{$a,$b,$c := 23}}", "too many declarations"),
        ("undefvar", "{{$a}}", "undefined variable"),
        ("wrongdot", "{{true.any}}", "unexpected . after term"),
        (
            "wrongpipeline",
            "{{12|false}}",
            "non executable command in pipeline",
        ),
        (
            "emptypipeline",
            "{{ ( ) }}",
            "missing value for parenthesized pipeline",
        ),
        (
            "multilinerawstring",
            "{{ $v := `\n` }} {{",
            "multilinerawstring:2: unclosed action",
        ),
        ("rangeundefvar", "{{range $k}}{{end}}", "undefined variable"),
        (
            "rangeundefvars",
            "{{range $k, $v}}{{end}}",
            "undefined variable",
        ),
        (
            "rangemissingvalue1",
            "{{range $k,}}{{end}}",
            "missing value for range",
        ),
        (
            "rangemissingvalue2",
            "{{range $k, $v := }}{{end}}",
            "missing value for range",
        ),
        (
            "rangenotvariable1",
            "{{range $k, .}}{{end}}",
            "range can only initialize variables",
        ),
        (
            "rangenotvariable2",
            "{{range $k, 123 := .}}{{end}}",
            "range can only initialize variables",
        ),
        (
            "nbsp",
            "{{\u{a0}}}",
            "template: nbsp:1: unrecognized character in action: U+00A0",
        ),
        ("unclosed", "{{", "template: unclosed:1: unclosed action"),
    ];
    for (name, input, want) in cases {
        let err = tree_text(name, input).expect_err(name);
        assert!(
            err.contains(want),
            "{name}: {err:?} does not contain {want:?}"
        );
    }
}

#[test]
fn keywords_as_functions() {
    let mut m = FuncMap::new();
    m.insert(
        "break",
        Function::new(Signature::new(vec![ParamType::Any]), |a| Ok(a[0].clone())),
    );
    let t = Template::parse("", "{{range .X}}{{break 20}}{{end}}", m).unwrap();
    assert!(t.lookup("").is_some());
    assert!(Template::parse("", "{{range .X}}{{break 20}}{{end}}", FuncMap::new()).is_err());
}

#[test]
fn empty_trees_and_redefinition() {
    // A later non-empty definition replaces an earlier one; an empty one does not.
    let mut t = Template::parse("root", "{{define `x`}}one{{end}}", FuncMap::new()).unwrap();
    t.add_parse("b", "{{define `x`}}two{{end}}").unwrap();
    assert_eq!(t.execute("x", &Value::Nil).unwrap(), "two");
    t.add_parse("c", "{{define `x`}} {{end}}").unwrap();
    assert_eq!(t.execute("x", &Value::Nil).unwrap(), "two");
    let err = t.execute("nope", &Value::Nil).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"template: no template "nope" associated with template "root""#
    );
}

#[test]
fn line_numbers_in_exec_errors() {
    let t = Template::parse(
        "bench",
        "{{print 1234}}\n{{print 1234}}\n{{.X.Y}}",
        FuncMap::new(),
    )
    .unwrap();
    let err = t.execute("bench", &Value::Int(1)).unwrap_err().to_string();
    assert!(
        err.starts_with("template: bench:3:4: executing \"bench\" at <.X.Y>"),
        "{err}"
    );
}
