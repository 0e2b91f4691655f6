//! Go's text/template execution tests (exec_test.go), ported as data: the same inputs,
//! outputs and success expectations, over a value model shaped like Go's `tVal`.
//! Cases that need Go-only types (complex numbers, channels, iterator functions, unsafe
//! pointers, maps with non-string keys) are left out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use hearth_template::{ElemKind, Template, Value};
use support::{run, tval};

enum D {
    T,
    Nil,
    V(Value),
}

fn data(d: &D) -> Value {
    match d {
        D::T => tval(),
        D::Nil => Value::Nil,
        D::V(v) => v.clone(),
    }
}

fn check(cases: &[(&str, &str, &str, D, bool)]) -> usize {
    let mut failures = Vec::new();
    for (name, input, want, d, ok) in cases {
        let got = run(name, input, &data(d));
        match (got, ok) {
            (Ok(out), true) if out == *want => {}
            (Err(_), false) => {}
            (got, _) => failures.push(format!(
                "{name}: {input:?} want {want:?} ok={ok}, got {got:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    cases.len()
}

#[test]
fn exec_tests() {
    use D::*;
    let n = check(&[
        ("empty", "", "", Nil, true),
        ("text", "some text", "some text", Nil, true),
        ("nil action", "{{nil}}", "", Nil, false),
        ("ideal int", "{{typeOf 3}}", "int", V(Value::Int(0)), true),
        (
            "ideal float",
            "{{typeOf 1.0}}",
            "float64",
            V(Value::Int(0)),
            true,
        ),
        (
            "ideal exp float",
            "{{typeOf 1e1}}",
            "float64",
            V(Value::Int(0)),
            true,
        ),
        (
            "ideal int big",
            "{{typeOf 0x7fffffffffffffff}}",
            "int",
            V(Value::Int(0)),
            true,
        ),
        (
            "ideal too big",
            "{{typeOf 0x8000000000000000}}",
            "",
            V(Value::Int(0)),
            false,
        ),
        (
            "ideal nil without type",
            "{{nil}}",
            "",
            V(Value::Int(0)),
            false,
        ),
        (".X", "-{{.X}}-", "-x-", T, true),
        (".U.V", "-{{.U.V}}-", "-v-", T, true),
        ("map .one", "{{.MSI.one}}", "1", T, true),
        ("map .two", "{{.MSI.two}}", "2", T, true),
        ("map .NO", "{{.MSI.NO}}", "<no value>", T, true),
        ("map .one interface", "{{.MXI.one}}", "1", T, true),
        ("map .WRONG args", "{{.MSI.one 1}}", "", T, false),
        ("dot int", "<{{.}}>", "<13>", V(Value::Int(13)), true),
        ("dot uint", "<{{.}}>", "<14>", V(Value::Uint(14)), true),
        (
            "dot float",
            "<{{.}}>",
            "<15.1>",
            V(Value::Float(15.1)),
            true,
        ),
        ("dot bool", "<{{.}}>", "<true>", V(Value::Bool(true)), true),
        (
            "dot string",
            "<{{.}}>",
            "<hello>",
            V(Value::from("hello")),
            true,
        ),
        (
            "dot slice",
            "<{{.}}>",
            "<[-1 -2 -3]>",
            V(support::ints(&[-1, -2, -3])),
            true,
        ),
        (
            "dot map",
            "<{{.}}>",
            "<map[two:22]>",
            V(support::int_map(&[("two", 22)])),
            true,
        ),
        ("$ int", "{{$}}", "123", V(Value::Int(123)), true),
        ("$.I", "{{$.I}}", "17", T, true),
        ("$.U.V", "{{$.U.V}}", "v", T, true),
        ("declare in action", "{{$x := $.U.V}}{{$x}}", "v", T, true),
        (
            "simple assignment",
            "{{$x := 2}}{{$x = 3}}{{$x}}",
            "3",
            T,
            true,
        ),
        (
            "nested assignment",
            "{{$x := 2}}{{if true}}{{$x = 3}}{{end}}{{$x}}",
            "3",
            T,
            true,
        ),
        (
            "nested assignment changes the last declaration",
            "{{$x := 1}}{{if true}}{{$x := 2}}{{if true}}{{$x = 3}}{{end}}{{end}}{{$x}}",
            "1",
            T,
            true,
        ),
        ("V{6666}.String()", "-{{.V0}}-", "-<6666>-", T, true),
        ("&V{7777}.String()", "-{{.V1}}-", "-<7777>-", T, true),
        ("(*V)(nil).String()", "-{{.V2}}-", "-nilV-", T, true),
        ("W{888}.Error()", "-{{.W0}}-", "-[888]-", T, true),
        ("&W{999}.Error()", "-{{.W1}}-", "-[999]-", T, true),
        ("(*W)(nil).Error()", "-{{.W2}}-", "-nilW-", T, true),
        ("*int", "{{.PI}}", "23", T, true),
        ("*string", "{{.PS}}", "a string", T, true),
        ("*[]int", "{{.PSI}}", "[21 22 23]", T, true),
        ("*[]int[1]", "{{index .PSI 1}}", "22", T, true),
        ("empty nil", "{{.Empty0}}", "<no value>", T, true),
        ("empty with int", "{{.Empty1}}", "3", T, true),
        ("empty with string", "{{.Empty2}}", "empty2", T, true),
        ("empty with slice", "{{.Empty3}}", "[7 8]", T, true),
        ("empty with struct", "{{.Empty4}}", "{UinEmpty}", T, true),
        (
            "empty with struct, field",
            "{{.Empty4.V}}",
            "UinEmpty",
            T,
            true,
        ),
        ("field on interface", "{{.foo}}", "<no value>", Nil, true),
        (
            "field on parenthesized interface",
            "{{(.).foo}}",
            "<no value>",
            Nil,
            true,
        ),
        ("unparenthesized non-function", "{{1 2}}", "", Nil, false),
        ("parenthesized non-function", "{{(1) 2}}", "", Nil, false),
        (
            "parenthesized non-function with no args",
            "{{(1)}}",
            "1",
            Nil,
            true,
        ),
        (".Method0", "-{{.Method0}}-", "-M0-", T, true),
        (".Method1(1234)", "-{{.Method1 1234}}-", "-1234-", T, true),
        (".Method1(.I)", "-{{.Method1 .I}}-", "-17-", T, true),
        (
            ".Method2(3, .X)",
            "-{{.Method2 3 .X}}-",
            "-Method2: 3 x-",
            T,
            true,
        ),
        (
            ".Method2(.U16, `str`)",
            "-{{.Method2 .U16 `str`}}-",
            "-Method2: 16 str-",
            T,
            true,
        ),
        (
            ".Method2(.U16, $x)",
            "{{if $x := .X}}-{{.Method2 .U16 $x}}{{end}}-",
            "-Method2: 16 x-",
            T,
            true,
        ),
        (
            ".Method3(nil constant)",
            "-{{.Method3 nil}}-",
            "-Method3: <nil>-",
            T,
            true,
        ),
        (
            ".Method3(nil value)",
            "-{{.Method3 .MXI.unset}}-",
            "-Method3: <nil>-",
            T,
            true,
        ),
        (
            "method on var",
            "{{if $x := .}}-{{$x.Method2 .U16 $x.X}}{{end}}-",
            "-Method2: 16 x-",
            T,
            true,
        ),
        (
            "method on chained var",
            "{{range .MSIone}}{{if $.U.TrueFalse $.True}}{{$.U.TrueFalse $.True}}{{else}}WRONG{{end}}{{end}}",
            "true",
            T,
            true,
        ),
        (
            "chained method",
            "{{range .MSIone}}{{if $.GetU.TrueFalse $.True}}{{$.U.TrueFalse $.True}}{{else}}WRONG{{end}}{{end}}",
            "true",
            T,
            true,
        ),
        (
            "chained method on variable",
            "{{with $x := .}}{{with .SI}}{{$.GetU.TrueFalse $.True}}{{end}}{{end}}",
            "true",
            T,
            true,
        ),
        (
            ".NilOKFunc not nil",
            "{{call .NilOKFunc .PI}}",
            "false",
            T,
            true,
        ),
        (".NilOKFunc nil", "{{call .NilOKFunc nil}}", "true", T, true),
        (
            ".BinaryFunc",
            "{{call .BinaryFunc `1` `2`}}",
            "[1=2]",
            T,
            true,
        ),
        (".VariadicFunc0", "{{call .VariadicFunc}}", "<>", T, true),
        (
            ".VariadicFunc2",
            "{{call .VariadicFunc `he` `llo`}}",
            "<he+llo>",
            T,
            true,
        ),
        (
            ".VariadicFuncInt",
            "{{call .VariadicFuncInt 33 `he` `llo`}}",
            "33=<he+llo>",
            T,
            true,
        ),
        (
            "if .BinaryFunc call",
            "{{ if .BinaryFunc}}{{call .BinaryFunc `1` `2`}}{{end}}",
            "[1=2]",
            T,
            true,
        ),
        (
            "if not .BinaryFunc call",
            "{{ if not .BinaryFunc}}{{call .BinaryFunc `1` `2`}}{{else}}No{{end}}",
            "No",
            T,
            true,
        ),
        (".ErrFunc", "{{call .ErrFunc}}", "bla", T, true),
        ("call nil", "{{call nil}}", "", T, false),
        ("empty call", "{{call}}", "", T, false),
        (
            "empty call after pipe valid",
            "{{.ErrFunc | call}}",
            "bla",
            T,
            true,
        ),
        (
            "empty call after pipe invalid",
            "{{1 | call}}",
            "",
            T,
            false,
        ),
        (
            ".BinaryFuncTooFew",
            "{{call .BinaryFunc `1`}}",
            "",
            T,
            false,
        ),
        (
            ".BinaryFuncTooMany",
            "{{call .BinaryFunc `1` `2` `3`}}",
            "",
            T,
            false,
        ),
        (".BinaryFuncBad0", "{{call .BinaryFunc 1 3}}", "", T, false),
        (
            ".BinaryFuncBad1",
            "{{call .BinaryFunc `1` 3}}",
            "",
            T,
            false,
        ),
        (
            ".VariadicFuncBad0",
            "{{call .VariadicFunc 3}}",
            "",
            T,
            false,
        ),
        (
            ".VariadicFuncIntBad0",
            "{{call .VariadicFuncInt}}",
            "",
            T,
            false,
        ),
        (
            ".VariadicFuncIntBad`",
            "{{call .VariadicFuncInt `x`}}",
            "",
            T,
            false,
        ),
        (
            "pipeline",
            "-{{.Method0 | .Method2 .U16}}-",
            "-Method2: 16 M0-",
            T,
            true,
        ),
        (
            "pipeline func",
            "-{{call .VariadicFunc `llo` | call .VariadicFunc `he` }}-",
            "-<he+<llo>>-",
            T,
            true,
        ),
        (
            "nil pipeline",
            "{{ .Empty0 | call .NilOKFunc }}",
            "true",
            T,
            true,
        ),
        (
            "nil call arg",
            "{{ call .NilOKFunc .Empty0 }}",
            "true",
            T,
            true,
        ),
        (
            "parens in pipeline",
            "{{printf `%d %d %d` (1) (2 | add 3) (add 4 (add 5 6))}}",
            "1 5 15",
            T,
            true,
        ),
        ("parens: $ in paren", "{{($).X}}", "x", T, true),
        ("parens: $.GetU in paren", "{{($.GetU).V}}", "v", T, true),
        (
            "parens: $ in paren in pipe",
            "{{($ | echo).X}}",
            "x",
            T,
            true,
        ),
        (
            "parens: spaces and args",
            r#"{{(makemap "up" "down" "left" "right").left}}"#,
            "right",
            T,
            true,
        ),
        ("if true", "{{if true}}TRUE{{end}}", "TRUE", T, true),
        (
            "if false",
            "{{if false}}TRUE{{else}}FALSE{{end}}",
            "FALSE",
            T,
            true,
        ),
        ("if nil", "{{if nil}}TRUE{{end}}", "", T, false),
        (
            "if 1",
            "{{if 1}}NON-ZERO{{else}}ZERO{{end}}",
            "NON-ZERO",
            T,
            true,
        ),
        (
            "if 0",
            "{{if 0}}NON-ZERO{{else}}ZERO{{end}}",
            "ZERO",
            T,
            true,
        ),
        (
            "if 1.5",
            "{{if 1.5}}NON-ZERO{{else}}ZERO{{end}}",
            "NON-ZERO",
            T,
            true,
        ),
        (
            "if 0.0",
            "{{if .FloatZero}}NON-ZERO{{else}}ZERO{{end}}",
            "ZERO",
            T,
            true,
        ),
        (
            "if nonNilPointer",
            "{{if .PI}}NON-ZERO{{else}}ZERO{{end}}",
            "NON-ZERO",
            T,
            true,
        ),
        (
            "if emptystring",
            "{{if ``}}NON-EMPTY{{else}}EMPTY{{end}}",
            "EMPTY",
            T,
            true,
        ),
        (
            "if string",
            "{{if `notempty`}}NON-EMPTY{{else}}EMPTY{{end}}",
            "NON-EMPTY",
            T,
            true,
        ),
        (
            "if emptyslice",
            "{{if .SIEmpty}}NON-EMPTY{{else}}EMPTY{{end}}",
            "EMPTY",
            T,
            true,
        ),
        (
            "if slice",
            "{{if .SI}}NON-EMPTY{{else}}EMPTY{{end}}",
            "NON-EMPTY",
            T,
            true,
        ),
        (
            "if emptymap",
            "{{if .MSIEmpty}}NON-EMPTY{{else}}EMPTY{{end}}",
            "EMPTY",
            T,
            true,
        ),
        (
            "if map",
            "{{if .MSI}}NON-EMPTY{{else}}EMPTY{{end}}",
            "NON-EMPTY",
            T,
            true,
        ),
        (
            "if map unset",
            "{{if .MXI.none}}NON-ZERO{{else}}ZERO{{end}}",
            "ZERO",
            T,
            true,
        ),
        (
            "if map not unset",
            "{{if not .MXI.none}}ZERO{{else}}NON-ZERO{{end}}",
            "ZERO",
            T,
            true,
        ),
        (
            "if $x with $y int",
            "{{if $x := true}}{{with $y := .I}}{{$x}},{{$y}}{{end}}{{end}}",
            "true,17",
            T,
            true,
        ),
        (
            "if $x with $x int",
            "{{if $x := true}}{{with $x := .I}}{{$x}},{{end}}{{$x}}{{end}}",
            "17,true",
            T,
            true,
        ),
        (
            "if else if",
            "{{if false}}FALSE{{else if true}}TRUE{{end}}",
            "TRUE",
            T,
            true,
        ),
        (
            "if else chain",
            "{{if eq 1 3}}1{{else if eq 2 3}}2{{else if eq 3 3}}3{{end}}",
            "3",
            T,
            true,
        ),
        (
            "print",
            r#"{{print "hello, print"}}"#,
            "hello, print",
            T,
            true,
        ),
        ("print 123", "{{print 1 2 3}}", "1 2 3", T, true),
        ("print nil", "{{print nil}}", "<nil>", T, true),
        ("println", "{{println 1 2 3}}", "1 2 3\n", T, true),
        ("printf int", r#"{{printf "%04x" 127}}"#, "007f", T, true),
        ("printf float", r#"{{printf "%g" 3.5}}"#, "3.5", T, true),
        (
            "printf string",
            r#"{{printf "%s" "hello"}}"#,
            "hello",
            T,
            true,
        ),
        (
            "printf function",
            r#"{{printf "%#q" zeroArgs}}"#,
            "`zeroArgs`",
            T,
            true,
        ),
        ("printf field", r#"{{printf "%s" .U.V}}"#, "v", T, true),
        (
            "printf method",
            r#"{{printf "%s" .Method0}}"#,
            "M0",
            T,
            true,
        ),
        (
            "printf dot",
            r#"{{with .I}}{{printf "%d" .}}{{end}}"#,
            "17",
            T,
            true,
        ),
        (
            "printf var",
            r#"{{with $x := .I}}{{printf "%d" $x}}{{end}}"#,
            "17",
            T,
            true,
        ),
        (
            "html",
            r#"{{html "<script>alert(\"XSS\");</script>"}}"#,
            "&lt;script&gt;alert(&#34;XSS&#34;);&lt;/script&gt;",
            Nil,
            true,
        ),
        (
            "html pipeline",
            r#"{{printf "<script>alert(\"XSS\");</script>" | html}}"#,
            "&lt;script&gt;alert(&#34;XSS&#34;);&lt;/script&gt;",
            Nil,
            true,
        ),
        ("html ps", "{{html .PS}}", "a string", T, true),
        (
            "html untyped nil",
            "{{html .Empty0}}",
            "&lt;no value&gt;",
            T,
            true,
        ),
        (
            "js",
            "{{js .}}",
            r"It\'d be nice.",
            V(Value::from("It'd be nice.")),
            true,
        ),
        (
            "urlquery",
            r#"{{"http://www.example.org/"|urlquery}}"#,
            "http%3A%2F%2Fwww.example.org%2F",
            Nil,
            true,
        ),
        ("not", "{{not true}} {{not false}}", "false true", Nil, true),
        (
            "and",
            "{{and false 0}} {{and 1 0}} {{and 0 true}} {{and 1 1}}",
            "false 0 0 1",
            Nil,
            true,
        ),
        (
            "or",
            "{{or 0 0}} {{or 1 0}} {{or 0 true}} {{or 1 1}}",
            "0 1 true 1",
            Nil,
            true,
        ),
        ("or short-circuit", "{{or 0 1 (die)}}", "1", Nil, true),
        ("and short-circuit", "{{and 1 0 (die)}}", "0", Nil, true),
        ("or short-circuit2", "{{or 0 0 (die)}}", "", Nil, false),
        ("and short-circuit2", "{{and 1 1 (die)}}", "", Nil, false),
        ("and pipe-true", "{{1 | and 1}}", "1", Nil, true),
        ("and pipe-false", "{{0 | and 1}}", "0", Nil, true),
        ("or pipe-true", "{{1 | or 0}}", "1", Nil, true),
        ("or pipe-false", "{{0 | or 0}}", "0", Nil, true),
        ("and undef", "{{and 1 .Unknown}}", "<no value>", Nil, true),
        ("or undef", "{{or 0 .Unknown}}", "<no value>", Nil, true),
        (
            "boolean if",
            "{{if and true 1 `hi`}}TRUE{{else}}FALSE{{end}}",
            "TRUE",
            T,
            true,
        ),
        (
            "boolean if not",
            "{{if and true 1 `hi` | not}}TRUE{{else}}FALSE{{end}}",
            "FALSE",
            Nil,
            true,
        ),
        (
            "boolean if pipe",
            "{{if true | not | and 1}}TRUE{{else}}FALSE{{end}}",
            "FALSE",
            Nil,
            true,
        ),
        ("slice[0]", "{{index .SI 0}}", "3", T, true),
        ("slice[1]", "{{index .SI 1}}", "4", T, true),
        ("slice[HUGE]", "{{index .SI 10}}", "", T, false),
        ("slice[WRONG]", "{{index .SI `hello`}}", "", T, false),
        ("slice[nil]", "{{index .SI nil}}", "", T, false),
        ("map[one]", "{{index .MSI `one`}}", "1", T, true),
        ("map[two]", "{{index .MSI `two`}}", "2", T, true),
        ("map[NO]", "{{index .MSI `XXX`}}", "0", T, true),
        ("map[nil]", "{{index .MSI nil}}", "", T, false),
        ("map[``]", "{{index .MSI ``}}", "0", T, true),
        ("map[WRONG]", "{{index .MSI 10}}", "", T, false),
        ("double index", "{{index .SMSI 1 `eleven`}}", "11", T, true),
        ("nil[1]", "{{index nil 1}}", "", T, false),
        (
            "index of an interface field",
            "{{index .Empty3 0}}",
            "7",
            T,
            true,
        ),
        ("slice[:]", "{{slice .SI}}", "[3 4 5]", T, true),
        ("slice[1:]", "{{slice .SI 1}}", "[4 5]", T, true),
        ("slice[1:2]", "{{slice .SI 1 2}}", "[4]", T, true),
        ("slice[-1:]", "{{slice .SI -1}}", "", T, false),
        ("slice[1:-2]", "{{slice .SI 1 -2}}", "", T, false),
        ("slice[1:2:-1]", "{{slice .SI 1 2 -1}}", "", T, false),
        ("slice[2:1]", "{{slice .SI 2 1}}", "", T, false),
        ("slice[2:2:1]", "{{slice .SI 2 2 1}}", "", T, false),
        ("out of range", "{{slice .SI 4 5}}", "", T, false),
        ("out of range 3", "{{slice .SI 2 2 5}}", "", T, false),
        ("array[:]", "{{slice .AI}}", "[3 4 5]", T, true),
        ("array[1:]", "{{slice .AI 1}}", "[4 5]", T, true),
        ("array[1:2]", "{{slice .AI 1 2}}", "[4]", T, true),
        ("string[:]", "{{slice .S}}", "xyz", T, true),
        ("string[0:1]", "{{slice .S 0 1}}", "x", T, true),
        ("string[1:]", "{{slice .S 1}}", "yz", T, true),
        ("string[1:2]", "{{slice .S 1 2}}", "y", T, true),
        ("string out of range", "{{slice .S 1 5}}", "", T, false),
        (
            "3-index slice of string",
            "{{slice .S 1 2 2}}",
            "",
            T,
            false,
        ),
        (
            "slice of an interface field",
            "{{slice .Empty3 0 1}}",
            "[7]",
            T,
            true,
        ),
        ("len slice", "{{len .SI}}", "3", T, true),
        ("len map", "{{len .MSI }}", "3", T, true),
        ("len of int", "{{len 3}}", "", T, false),
        ("len of nothing", "{{len .Empty0}}", "", T, false),
        ("len of an interface field", "{{len .Empty3}}", "2", T, true),
        ("with true", "{{with true}}{{.}}{{end}}", "true", T, true),
        (
            "with false",
            "{{with false}}{{.}}{{else}}FALSE{{end}}",
            "FALSE",
            T,
            true,
        ),
        ("with 1", "{{with 1}}{{.}}{{else}}ZERO{{end}}", "1", T, true),
        (
            "with 0",
            "{{with 0}}{{.}}{{else}}ZERO{{end}}",
            "ZERO",
            T,
            true,
        ),
        (
            "with 1.5",
            "{{with 1.5}}{{.}}{{else}}ZERO{{end}}",
            "1.5",
            T,
            true,
        ),
        (
            "with 0.0",
            "{{with .FloatZero}}{{.}}{{else}}ZERO{{end}}",
            "ZERO",
            T,
            true,
        ),
        (
            "with emptystring",
            "{{with ``}}{{.}}{{else}}EMPTY{{end}}",
            "EMPTY",
            T,
            true,
        ),
        (
            "with string",
            "{{with `notempty`}}{{.}}{{else}}EMPTY{{end}}",
            "notempty",
            T,
            true,
        ),
        (
            "with emptyslice",
            "{{with .SIEmpty}}{{.}}{{else}}EMPTY{{end}}",
            "EMPTY",
            T,
            true,
        ),
        (
            "with slice",
            "{{with .SI}}{{.}}{{else}}EMPTY{{end}}",
            "[3 4 5]",
            T,
            true,
        ),
        (
            "with emptymap",
            "{{with .MSIEmpty}}{{.}}{{else}}EMPTY{{end}}",
            "EMPTY",
            T,
            true,
        ),
        (
            "with map",
            "{{with .MSIone}}{{.}}{{else}}EMPTY{{end}}",
            "map[one:1]",
            T,
            true,
        ),
        (
            "with empty interface, struct field",
            "{{with .Empty4}}{{.V}}{{end}}",
            "UinEmpty",
            T,
            true,
        ),
        (
            "with $x int",
            "{{with $x := .I}}{{$x}}{{end}}",
            "17",
            T,
            true,
        ),
        (
            "with $x struct.U.V",
            "{{with $x := $}}{{$x.U.V}}{{end}}",
            "v",
            T,
            true,
        ),
        (
            "with variable and action",
            "{{with $x := $}}{{$y := $.U.V}}{{$y}}{{end}}",
            "v",
            T,
            true,
        ),
        (
            "with else with",
            "{{with 0}}{{.}}{{else with true}}{{.}}{{end}}",
            "true",
            T,
            true,
        ),
        (
            "with else with chain",
            "{{with 0}}{{.}}{{else with false}}{{.}}{{else with `notempty`}}{{.}}{{end}}",
            "notempty",
            T,
            true,
        ),
        (
            "range []int",
            "{{range .SI}}-{{.}}-{{end}}",
            "-3--4--5-",
            T,
            true,
        ),
        (
            "range empty no else",
            "{{range .SIEmpty}}-{{.}}-{{end}}",
            "",
            T,
            true,
        ),
        (
            "range []int else",
            "{{range .SI}}-{{.}}-{{else}}EMPTY{{end}}",
            "-3--4--5-",
            T,
            true,
        ),
        (
            "range empty else",
            "{{range .SIEmpty}}-{{.}}-{{else}}EMPTY{{end}}",
            "EMPTY",
            T,
            true,
        ),
        (
            "range []int break else",
            "{{range .SI}}-{{.}}-{{break}}NOTREACHED{{else}}EMPTY{{end}}",
            "-3-",
            T,
            true,
        ),
        (
            "range []int continue else",
            "{{range .SI}}-{{.}}-{{continue}}NOTREACHED{{else}}EMPTY{{end}}",
            "-3--4--5-",
            T,
            true,
        ),
        (
            "range []bool",
            "{{range .SB}}-{{.}}-{{end}}",
            "-true--false-",
            T,
            true,
        ),
        (
            "range []int method",
            "{{range .SI | .MAdd .I}}-{{.}}-{{end}}",
            "-20--21--22-",
            T,
            true,
        ),
        (
            "range map",
            "{{range .MSI}}-{{.}}-{{end}}",
            "-1--3--2-",
            T,
            true,
        ),
        (
            "range empty map no else",
            "{{range .MSIEmpty}}-{{.}}-{{end}}",
            "",
            T,
            true,
        ),
        (
            "range map else",
            "{{range .MSI}}-{{.}}-{{else}}EMPTY{{end}}",
            "-1--3--2-",
            T,
            true,
        ),
        (
            "range empty map else",
            "{{range .MSIEmpty}}-{{.}}-{{else}}EMPTY{{end}}",
            "EMPTY",
            T,
            true,
        ),
        (
            "range empty interface",
            "{{range .Empty3}}-{{.}}-{{else}}EMPTY{{end}}",
            "-7--8-",
            T,
            true,
        ),
        (
            "range empty nil",
            "{{range .Empty0}}-{{.}}-{{end}}",
            "",
            T,
            true,
        ),
        (
            "range $x SI",
            "{{range $x := .SI}}<{{$x}}>{{end}}",
            "<3><4><5>",
            T,
            true,
        ),
        (
            "range $x $y SI",
            "{{range $x, $y := .SI}}<{{$x}}={{$y}}>{{end}}",
            "<0=3><1=4><2=5>",
            T,
            true,
        ),
        (
            "range $x MSIone",
            "{{range $x := .MSIone}}<{{$x}}>{{end}}",
            "<1>",
            T,
            true,
        ),
        (
            "range $x $y MSIone",
            "{{range $x, $y := .MSIone}}<{{$x}}={{$y}}>{{end}}",
            "<one=1>",
            T,
            true,
        ),
        (
            "range $x PSI",
            "{{range $x := .PSI}}<{{$x}}>{{end}}",
            "<21><22><23>",
            T,
            true,
        ),
        (
            "declare in range",
            "{{range $x := .PSI}}<{{$foo:=$x}}{{$x}}>{{end}}",
            "<21><22><23>",
            T,
            true,
        ),
        (
            "range int",
            r#"{{range $v := .}}{{printf "%T%d" $v $v}}{{end}}"#,
            "int0int1int2int3int4",
            V(Value::Int(5)),
            true,
        ),
        (
            "range 5",
            r#"{{range $v := 5}}{{printf "%T%d" $v $v}}{{end}}"#,
            "int0int1int2int3int4",
            Nil,
            true,
        ),
        (
            "range uint",
            r#"{{range $v := .}}{{printf "%T%d" $v $v}}{{end}}"#,
            "uint0uint1uint2uint3uint4",
            V(Value::Uint(5)),
            true,
        ),
        (
            "range int 0 else",
            "{{range $v := .}}{{print $v}}{{else}}empty{{end}}",
            "empty",
            V(Value::Int(0)),
            true,
        ),
        (
            "range int two vars",
            "{{range $i, $c := .}}{{$c}}{{end}}",
            "",
            V(Value::Int(2)),
            false,
        ),
        (
            "or as if true",
            r#"{{or .SI "slice is empty"}}"#,
            "[3 4 5]",
            T,
            true,
        ),
        (
            "or as if false",
            r#"{{or .SIEmpty "slice is empty"}}"#,
            "slice is empty",
            T,
            true,
        ),
        ("error method, error", "{{.MyError true}}", "", T, false),
        (
            "error method, no error",
            "{{.MyError false}}",
            "false",
            T,
            true,
        ),
        ("decimal", "{{print 1234}}", "1234", T, true),
        ("decimal _", "{{print 12_34}}", "1234", T, true),
        ("binary", "{{print 0b101}}", "5", T, true),
        ("binary _", "{{print 0b_1_0_1}}", "5", T, true),
        ("BINARY", "{{print 0B101}}", "5", T, true),
        ("octal0", "{{print 0377}}", "255", T, true),
        ("octal", "{{print 0o377}}", "255", T, true),
        ("octal _", "{{print 0o_3_7_7}}", "255", T, true),
        ("OCTAL", "{{print 0O377}}", "255", T, true),
        ("hex", "{{print 0x123}}", "291", T, true),
        ("hex _", "{{print 0x1_23}}", "291", T, true),
        ("HEX", "{{print 0X123ABC}}", "1194684", T, true),
        ("float", "{{print 123.4}}", "123.4", T, true),
        ("float _", "{{print 0_0_1_2_3.4}}", "123.4", T, true),
        ("hex float", "{{print +0x1.ep+2}}", "7.5", T, true),
        ("hex float _", "{{print +0x_1.e_0p+0_2}}", "7.5", T, true),
        ("HEX float", "{{print +0X1.EP+2}}", "7.5", T, true),
        (
            "print multi",
            "{{print 1_2_3_4 7.5_00_00_00}}",
            "1234 7.5",
            T,
            true,
        ),
        (
            "print multi2",
            "{{print 1234 0x0_1.e_0p+02}}",
            "1234 7.5",
            T,
            true,
        ),
        (
            "bug0",
            "{{range .MSIone}}{{if $.Method1 .}}X{{end}}{{end}}",
            "X",
            T,
            true,
        ),
        ("bug3", "{{with $}}{{.Method0}}{{end}}", "M0", T, true),
        (
            "bug4",
            "{{if .Empty0}}non-nil{{else}}nil{{end}}",
            "nil",
            T,
            true,
        ),
        ("bug5", "{{.Str}}", "foozle", T, true),
        ("bug5a", "{{.Err}}", "erroozle", T, true),
        ("bug7a", "{{3 2}}", "", T, false),
        ("bug7b", "{{$x := 1}}{{$x 2}}", "", T, false),
        ("bug7c", "{{$x := 1}}{{3 | $x}}", "", T, false),
        ("bug8a", "{{3|oneArg}}", "", T, false),
        ("bug8b", "{{4|dddArg 3}}", "", T, false),
        (
            "bug9",
            "{{.cause}}",
            "neglect",
            V(Value::string_map([("cause", "neglect")])),
            true,
        ),
        (
            "bug10",
            "{{mapOfThree.three}}-{{(mapOfThree).three}}",
            "3-3",
            V(Value::Int(0)),
            true,
        ),
        ("bug12xe", "{{printf `%T` 0xef}}", "int", Nil, true),
        ("bug12xE", "{{printf `%T` 0xEE}}", "int", Nil, true),
        ("bug12Xe", "{{printf `%T` 0Xef}}", "int", Nil, true),
        ("bug12XE", "{{printf `%T` 0XEE}}", "int", Nil, true),
        ("bug13", "{{print (.Copy).I}}", "17", T, true),
        ("bug14b", "{{$x := nil}}{{$x.anything}}", "", T, false),
        (
            "bug14c",
            r#"{{$x := (1.0)}}{{$y := ("hello")}}{{$x.anything}}{{$y.true}}"#,
            "",
            T,
            false,
        ),
        ("bug15", "{{valueString returnInt}}", "", T, false),
        ("bug16a", "{{true|printf}}", "", T, false),
        ("bug16b", "{{1|printf}}", "", T, false),
        ("bug16c", "{{1.1|printf}}", "", T, false),
        ("bug16d", "{{'x'|printf}}", "", T, false),
        ("bug16f", "{{true|twoArgs \"xxx\"}}", "", T, false),
        (
            "bug16g",
            "{{\"aaa\" |twoArgs \"bbb\"}}",
            "twoArgs=bbbaaa",
            T,
            true,
        ),
        ("bug16h", "{{1|oneArg}}", "", T, false),
        ("bug16i", "{{\"aaa\"|oneArg}}", "oneArg=aaa", T, true),
        ("bug16k", "{{\"aaa\"|printf }}", "aaa", T, true),
        ("bug17a", "{{.NonEmptyInterface.X}}", "x", T, true),
        (
            "bug17b",
            "-{{.NonEmptyInterface.Method1 1234}}-",
            "-1234-",
            T,
            true,
        ),
        (
            "bug18a",
            "{{eq . '.'}}",
            "true",
            V(Value::Int('.' as i64)),
            true,
        ),
        (
            "bug18b",
            "{{eq . 'e'}}",
            "true",
            V(Value::Int('e' as i64)),
            true,
        ),
        (
            "bug18c",
            "{{eq . 'P'}}",
            "true",
            V(Value::Int('P' as i64)),
            true,
        ),
        (
            "issue56490",
            "{{$i := 0}}{{$x := 0}}{{range $i = .AI}}{{end}}{{$i}}",
            "5",
            T,
            true,
        ),
        (
            "issue60801",
            "{{$k := 0}}{{$v := 0}}{{range $k, $v = .AI}}{{$k}}={{$v}} {{end}}",
            "0=3 1=4 2=5 ",
            T,
            true,
        ),
    ]);
    assert!(n > 250, "{n}");
}

/// Go's cmpTests: `{{if EXPR}}true{{else}}false{{end}}` over a struct of numbers.
#[test]
fn comparison_tests() {
    let data = Value::object(support::Struct {
        name: "*struct",
        fields: vec![
            ("Uthree", Value::Uint(3)),
            ("Ufour", Value::Uint(4)),
            ("NegOne", Value::Int(-1)),
            ("Three", Value::Int(3)),
            ("Map", Value::Nil),
        ],
        stringer: None,
    });
    let cases: &[(&str, &str, bool)] = &[
        ("eq true true", "true", true),
        ("eq true false", "false", true),
        ("eq 1.5 1.5", "true", true),
        ("eq 1.5 2.5", "false", true),
        ("eq 1 1", "true", true),
        ("eq 1 2", "false", true),
        ("eq `xy` `xy`", "true", true),
        ("eq `xy` `xyz`", "false", true),
        ("eq .Uthree .Uthree", "true", true),
        ("eq .Uthree .Ufour", "false", true),
        ("eq 3 4 5 6 3", "true", true),
        ("eq 3 4 5 6 7", "false", true),
        ("ne true true", "false", true),
        ("ne true false", "true", true),
        ("ne 1.5 1.5", "false", true),
        ("ne 1.5 2.5", "true", true),
        ("ne 1 1", "false", true),
        ("ne 1 2", "true", true),
        ("ne `xy` `xy`", "false", true),
        ("ne `xy` `xyz`", "true", true),
        ("ne .Uthree .Uthree", "false", true),
        ("ne .Uthree .Ufour", "true", true),
        ("lt 1.5 1.5", "false", true),
        ("lt 1.5 2.5", "true", true),
        ("lt 1 1", "false", true),
        ("lt 1 2", "true", true),
        ("lt `xy` `xy`", "false", true),
        ("lt `xy` `xyz`", "true", true),
        ("lt .Uthree .Uthree", "false", true),
        ("lt .Uthree .Ufour", "true", true),
        ("le 1.5 1.5", "true", true),
        ("le 1.5 2.5", "true", true),
        ("le 2.5 1.5", "false", true),
        ("le 1 1", "true", true),
        ("le 1 2", "true", true),
        ("le 2 1", "false", true),
        ("le `xy` `xy`", "true", true),
        ("le `xy` `xyz`", "true", true),
        ("le `xyz` `xy`", "false", true),
        ("le .Uthree .Uthree", "true", true),
        ("le .Uthree .Ufour", "true", true),
        ("le .Ufour .Uthree", "false", true),
        ("gt 1.5 1.5", "false", true),
        ("gt 1.5 2.5", "false", true),
        ("gt 1 1", "false", true),
        ("gt 2 1", "true", true),
        ("gt 1 2", "false", true),
        ("gt `xy` `xy`", "false", true),
        ("gt `xy` `xyz`", "false", true),
        ("gt .Uthree .Uthree", "false", true),
        ("gt .Uthree .Ufour", "false", true),
        ("gt .Ufour .Uthree", "true", true),
        ("ge 1.5 1.5", "true", true),
        ("ge 1.5 2.5", "false", true),
        ("ge 2.5 1.5", "true", true),
        ("ge 1 1", "true", true),
        ("ge 1 2", "false", true),
        ("ge 2 1", "true", true),
        ("ge `xy` `xy`", "true", true),
        ("ge `xy` `xyz`", "false", true),
        ("ge `xyz` `xy`", "true", true),
        ("ge .Uthree .Uthree", "true", true),
        ("ge .Uthree .Ufour", "false", true),
        ("ge .Ufour .Uthree", "true", true),
        ("eq .Uthree .Three", "true", true),
        ("eq .Three .Uthree", "true", true),
        ("le .Uthree .Three", "true", true),
        ("le .Three .Uthree", "true", true),
        ("ge .Uthree .Three", "true", true),
        ("ge .Three .Uthree", "true", true),
        ("lt .Uthree .Three", "false", true),
        ("lt .Three .Uthree", "false", true),
        ("gt .Uthree .Three", "false", true),
        ("gt .Three .Uthree", "false", true),
        ("eq .Ufour .Three", "false", true),
        ("lt .Ufour .Three", "false", true),
        ("gt .Ufour .Three", "true", true),
        ("eq .NegOne .Uthree", "false", true),
        ("eq .Uthree .NegOne", "false", true),
        ("ne .NegOne .Uthree", "true", true),
        ("ne .Uthree .NegOne", "true", true),
        ("lt .NegOne .Uthree", "true", true),
        ("lt .Uthree .NegOne", "false", true),
        ("le .NegOne .Uthree", "true", true),
        ("le .Uthree .NegOne", "false", true),
        ("gt .NegOne .Uthree", "false", true),
        ("gt .Uthree .NegOne", "true", true),
        ("ge .NegOne .Uthree", "false", true),
        ("ge .Uthree .NegOne", "true", true),
        ("eq (index `x` 0) 'x'", "true", true),
        ("eq (index `x` 0) 'y'", "false", true),
        ("eq .Map nil", "true", true),
        ("eq nil .Map", "true", true),
        ("eq `xy` 1", "", false),
        ("eq 2 2.0", "", false),
        ("lt true true", "", false),
    ];
    let mut failures = Vec::new();
    for (expr, truth, ok) in cases {
        let text = format!("{{{{if {expr}}}}}true{{{{else}}}}false{{{{end}}}}");
        let t = Template::parse("empty", &text, hearth_template::FuncMap::new()).unwrap();
        match (t.execute("empty", &data), ok) {
            (Ok(out), true) if out == *truth => {}
            (Err(_), false) => {}
            (got, _) => failures.push(format!("{expr}: want {truth} ok={ok}, got {got:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Go's TestInterfaceValues over a `map[string]any`.
#[test]
fn interface_values() {
    let data = Value::map(
        [
            ("Slice", support::ints(&[0, 1, 2, 3])),
            ("One", Value::Int(1)),
            ("Two", Value::Int(2)),
            ("Nil", Value::Nil),
            ("Zero", Value::Int(0)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    );
    let cases = [
        ("{{index .Nil 1}}", "ERROR: index of untyped nil"),
        ("{{index .Slice 2}}", "2"),
        ("{{index .Slice .Two}}", "2"),
        ("{{call .Nil 1}}", "ERROR: non-function"),
        ("{{and (index .Slice 0) true}}", "0"),
        ("{{and .Zero true}}", "0"),
        ("{{and (index .Slice 1) false}}", "false"),
        ("{{and .One false}}", "false"),
        ("{{or (index .Slice 0) false}}", "false"),
        ("{{or .Zero false}}", "false"),
        ("{{or (index .Slice 1) true}}", "1"),
        ("{{or .One true}}", "1"),
        ("{{not (index .Slice 0)}}", "true"),
        ("{{not .Zero}}", "true"),
        ("{{not (index .Slice 1)}}", "false"),
        ("{{not .One}}", "false"),
        ("{{eq (index .Slice 0) .Zero}}", "true"),
        ("{{eq (index .Slice 1) .One}}", "true"),
        ("{{ne (index .Slice 0) .Zero}}", "false"),
        ("{{ne (index .Slice 1) .One}}", "false"),
        ("{{ge (index .Slice 0) .One}}", "false"),
        ("{{ge (index .Slice 1) .Zero}}", "true"),
        ("{{gt (index .Slice 0) .One}}", "false"),
        ("{{gt (index .Slice 1) .Zero}}", "true"),
        ("{{le (index .Slice 0) .One}}", "true"),
        ("{{le (index .Slice 1) .Zero}}", "false"),
        ("{{lt (index .Slice 0) .One}}", "true"),
        ("{{lt (index .Slice 1) .Zero}}", "false"),
    ];
    for (text, want) in cases {
        let got = run("tmpl", text, &data);
        if let Some(e) = want.strip_prefix("ERROR: ") {
            let err = got.expect_err(text);
            assert!(err.contains(e), "{text}: {err}");
        } else {
            assert_eq!(got.as_deref(), Ok(want), "{text}");
        }
    }
}

/// Exact error messages of Go's exec tests.
#[test]
fn exec_error_messages() {
    let text = "line 1\nline 2\nline 3\n{{template \"one\" .}}\n{{define \"one\"}}{{template \"two\" .}}{{end}}\n{{define \"two\"}}{{template \"three\" .}}{{end}}\n{{define \"three\"}}{{index \"hi\" $}}{{end}}";
    let err = run("top", text, &Value::Int(5)).unwrap_err();
    assert_eq!(
        err,
        r#"template: top:7:20: executing "three" at <index "hi" $>: error calling index: index out of range: 5"#
    );
    let cases = [
        (
            "{{doPanic}}",
            r#"template: t:1:2: executing "t" at <die>: error calling die: die"#,
        ),
        (
            "{{call .True}}",
            "error calling call: non-function .True of type bool",
        ),
        (
            "{{call .BinaryFunc 1}}",
            "wrong number of args for .BinaryFunc: got 1 want 2",
        ),
        (
            "{{call .VariadicFuncInt}}",
            "wrong number of args for .VariadicFuncInt: got 0 want at least 1",
        ),
        (
            "{{call (len \"test\")}}",
            "error calling call: non-function len \"test\" of type int",
        ),
        (
            "{{call}}",
            "wrong number of args for call: want at least 1 got 0",
        ),
        (
            "{{call .PanicFunc}}",
            r#"template: t:1:2: executing "t" at <call .PanicFunc>: error calling call: test panic"#,
        ),
        ("hello, {{.X.Y}}", "can't evaluate field Y in type string"),
        (
            "{{.MissingField}}",
            "can't evaluate field MissingField in type *template.T",
        ),
    ];
    for (input, want) in cases {
        let input = input.replace("doPanic", "die");
        let err = run("t", &input, &tval()).unwrap_err();
        assert!(err.contains(want), "{input}: {err}");
    }
    // Nested templates that recurse forever stop at the depth limit.
    let err = run("tmpl", r#"{{template "tmpl" .}}"#, &Value::Nil).unwrap_err();
    assert!(err.contains("exceeded maximum template depth"), "{err}");
    // Unterminated raw string reports the line it starts on.
    let err = run(
        "X",
        "hello\n\n{{`unterminated\n\n\n\n}}\n some more\n\n",
        &Value::Nil,
    )
    .unwrap_err();
    assert!(err.contains("X:3: unterminated raw quoted string"), "{err}");
}

#[test]
fn missing_key_options() {
    use hearth_template::MissingKey;
    let data = support::int_map(&[("x", 99)]);
    let t = Template::parse("t1", "{{.x}} {{.y}}", hearth_template::FuncMap::new()).unwrap();
    assert_eq!(t.execute("t1", &data).unwrap(), "99 <no value>");
    let t = t.with_missing_key(MissingKey::Zero);
    assert_eq!(t.execute("t1", &data).unwrap(), "99 0");
    let t = t.with_missing_key(MissingKey::Error);
    assert!(t.execute("t1", &data).is_err());
    assert!(t.execute("t1", &Value::Nil).is_err());
    // missingkey=zero on map[string]any still prints <no value>, as in Go.
    let any_map = Value::map([("x".to_string(), Value::Int(1))].into_iter().collect());
    let t = Template::parse("t", "{{.y}}", hearth_template::FuncMap::new())
        .unwrap()
        .with_missing_key(MissingKey::Zero);
    assert_eq!(t.execute("t", &any_map).unwrap(), "<no value>");
    let strings = Value::string_map([("x", "1")]);
    assert_eq!(t.execute("t", &strings).unwrap(), "");
    let _ = ElemKind::Any;
}

#[test]
fn block_and_redefinition() {
    let mut t = Template::parse(
        "outer",
        r#"a({{block "inner" .}}bar({{.}})baz{{end}})b"#,
        hearth_template::FuncMap::new(),
    )
    .unwrap();
    assert_eq!(
        t.execute("outer", &Value::from("hello")).unwrap(),
        "a(bar(hello)baz)b"
    );
    t.add_parse("overlay", r#"{{define "inner"}}foo({{.}})bar{{end}}"#)
        .unwrap();
    assert_eq!(
        t.execute("outer", &Value::from("goodbye")).unwrap(),
        "a(foo(goodbye)bar)b"
    );
}

#[test]
fn tree_with_trimming() {
    // Go's TestTree with the default delimiters.
    struct Tree {
        val: i64,
        left: Option<Box<Tree>>,
        right: Option<Box<Tree>>,
    }
    fn leaf(v: i64) -> Option<Box<Tree>> {
        Some(Box::new(Tree {
            val: v,
            left: None,
            right: None,
        }))
    }
    fn node(v: i64, l: Option<Box<Tree>>, r: Option<Box<Tree>>) -> Option<Box<Tree>> {
        Some(Box::new(Tree {
            val: v,
            left: l,
            right: r,
        }))
    }
    fn to_value(t: &Option<Box<Tree>>) -> Value {
        match t {
            None => Value::Nil,
            Some(t) => Value::object(support::Struct {
                name: "*template.Tree",
                fields: vec![
                    ("Val", Value::Int(t.val)),
                    ("Left", to_value(&t.left)),
                    ("Right", to_value(&t.right)),
                ],
                stringer: None,
            }),
        }
    }
    let tree = node(
        1,
        node(2, node(3, leaf(4), None), node(5, leaf(6), None)),
        node(7, node(8, leaf(9), None), node(10, leaf(11), None)),
    );
    let text = "\n\t{{- define \"tree\" -}}\n\t[\n\t\t{{- .Val -}}\n\t\t{{- with .Left -}}\n\t\t\t{{template \"tree\" . -}}\n\t\t{{- end -}}\n\t\t{{- with .Right -}}\n\t\t\t{{- template \"tree\" . -}}\n\t\t{{- end -}}\n\t]\n\t{{- end -}}\n";
    let t = Template::parse("root", text, hearth_template::FuncMap::new()).unwrap();
    assert_eq!(
        t.execute("tree", &to_value(&tree)).unwrap(),
        "[1[2[3[4]][5[6]]][7[8[9]][10[11]]]]"
    );
}

#[test]
fn printf_verbs() {
    let cases = [
        (r#"{{printf "%d %s %v" 1 "a" true}}"#, "1 a true"),
        (
            r#"{{printf "%5d|%-5d|%05d" 42 42 42}}"#,
            "   42|42   |00042",
        ),
        (r#"{{printf "%+d % d" 5 5}}"#, "+5  5"),
        (
            r#"{{printf "%x %X %o %b %c %U" 255 255 8 5 65 65}}"#,
            "ff FF 10 101 A U+0041",
        ),
        (r#"{{printf "%#x %#o" 255 8}}"#, "0xff 010"),
        (
            r#"{{printf "%.2f %.0f %f" 3.14159 2.5 1.0}}"#,
            "3.14 2 1.000000",
        ),
        (
            r#"{{printf "%e %E %.2e" 1234.5678 0.000123 1e10}}"#,
            "1.234568e+03 1.230000E-04 1.00e+10",
        ),
        (
            r#"{{printf "%g %g %g %g" 100000.0 1000000.0 0.0001 0.00001}}"#,
            "100000 1e+06 0.0001 1e-05",
        ),
        (r#"{{printf "%.3g %.10g" 1234.5678 1.0}}"#, "1.23e+03 1"),
        (r#"{{printf "%q %q" "hi\n" 65}}"#, r#""hi\n" 'A'"#),
        (r#"{{printf "%x %X" "hi" "hi"}}"#, "6869 6869"),
        (
            r#"{{printf "%8.3f|%-8.2f|" 3.14159 2.5}}"#,
            "   3.142|2.50    |",
        ),
        (
            r#"{{printf "%s|%10s|%-10s|%.2s" "abc" "abc" "abc" "abc"}}"#,
            "abc|       abc|abc       |ab",
        ),
        (r#"{{printf "%t %v" true false}}"#, "true false"),
        (
            r#"{{printf "%T %T %T %T" 1 1.5 "s" true}}"#,
            "int float64 string bool",
        ),
        (r#"{{printf "%d%%" 50}}"#, "50%"),
        (r#"{{printf "%d %d" 1}}"#, "1 %!d(MISSING)"),
        (r#"{{printf "%d" "x"}}"#, "%!d(string=x)"),
        (r#"{{printf "%s" 1}}"#, "%!s(int=1)"),
        (r#"{{printf "%d" 1 2}}"#, "1%!(EXTRA int=2)"),
        (r#"{{printf "%v" .}}"#, "[1 2]"),
        (r#"{{printf "%d" .}}"#, "[1 2]"),
        (
            r#"{{printf "%.1f %.1f %.1f" 0.25 0.35 -0.05}}"#,
            "0.2 0.3 -0.1",
        ),
        (r#"{{printf "%6.2f%%" 99.5}}"#, " 99.50%"),
        (r#"{{printf "%v %v" 1e21 1e-7}}"#, "1e+21 1e-07"),
        (r#"{{printf "%*d" 5 1}}"#, "    1"),
        (r#"{{printf "%!"}}"#, "%!!(MISSING)"),
        (r#"{{printf "%"}}"#, "%!(NOVERB)"),
    ];
    for (text, want) in cases {
        assert_eq!(
            run("p", text, &support::ints(&[1, 2])).as_deref(),
            Ok(want),
            "{text}"
        );
    }
}
