//! Choosing the parser for a scrape body: the `Accept` header sent (from
//! `scrape_protocols`), the `Content-Type` received, and `fallback_scrape_protocol` when
//! the target sends none or one hearth cannot read (upstream's `textparse.New`).

use hearth_config::ScrapeProtocol;
use hearth_exposition::{
    Entry, OpenMetricsOptions, OpenMetricsParser, ParseError, ProtobufOptions, ProtobufParser,
    TextParser,
};
use hearth_model::names::go_quote;

/// The exposition formats a scrape can be parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
    Protobuf,
}

impl Format {
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain",
            Format::OpenMetrics => "application/openmetrics-text",
            Format::Protobuf => "application/vnd.google.protobuf",
        }
    }

    fn from_media_type(m: &str) -> Option<Format> {
        match m {
            "text/plain" => Some(Format::Text),
            "application/openmetrics-text" => Some(Format::OpenMetrics),
            "application/vnd.google.protobuf" => Some(Format::Protobuf),
            _ => None,
        }
    }

    /// The format a scrape protocol names (for `fallback_scrape_protocol`).
    pub fn of_protocol(p: ScrapeProtocol) -> Format {
        match p {
            ScrapeProtocol::PrometheusProto => Format::Protobuf,
            ScrapeProtocol::PrometheusText0_0_4 | ScrapeProtocol::PrometheusText1_0_0 => {
                Format::Text
            }
            ScrapeProtocol::OpenMetricsText0_0_1 | ScrapeProtocol::OpenMetricsText1_0_0 => {
                Format::OpenMetrics
            }
        }
    }
}

/// Upstream's `acceptHeader`: the protocols in order of preference with falling `q`
/// weights, the escaping scheme on the 1.0.0 text formats, and `*/*` last.
pub fn accept_header(protocols: &[ScrapeProtocol], escaping: &str) -> String {
    const ALL_PROTOCOLS: usize = 5;
    let mut weight = ALL_PROTOCOLS + 1;
    let mut out = String::new();
    for p in protocols {
        out.push_str(p.header());
        if matches!(
            p,
            ScrapeProtocol::PrometheusText1_0_0 | ScrapeProtocol::OpenMetricsText1_0_0
        ) {
            out.push_str(";escaping=");
            out.push_str(escaping);
        }
        out.push_str(&format!(";q=0.{weight},"));
        weight = weight.saturating_sub(1);
    }
    out.push_str(&format!("*/*;q=0.{weight}"));
    out
}

fn is_token_char(c: char) -> bool {
    c > ' ' && c < '\x7f' && !" ()<>@,;:\\\"/[]?=".contains(c)
}

fn consume_token(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
    s.split_at(end)
}

/// Go's `mime.ParseMediaType`, returning only the lower-cased media type.
fn parse_media_type(v: &str) -> Result<String, &'static str> {
    let (base, params) = v.split_once(';').unwrap_or((v, ""));
    let base = base.trim().to_ascii_lowercase();
    let (typ, rest) = consume_token(&base);
    if typ.is_empty() {
        return Err("mime: no media type");
    }
    if !rest.is_empty() {
        let Some(rest) = rest.strip_prefix('/') else {
            return Err("mime: expected slash after first token");
        };
        let (sub, rest) = consume_token(rest);
        if sub.is_empty() {
            return Err("mime: expected token after slash");
        }
        if !rest.is_empty() {
            return Err("mime: unexpected content after media subtype");
        }
    }
    for p in params.split(';') {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let Some((k, _)) = p.split_once('=') else {
            return Err("mime: invalid media parameter");
        };
        let (key, rest) = consume_token(k.trim());
        if key.is_empty() || !rest.is_empty() {
            return Err("mime: invalid media parameter");
        }
    }
    Ok(base)
}

/// Upstream's `extractMediaType`: the format to parse with and, when the fallback was
/// used, why (logged at debug level). `Err` when nothing can parse the body.
pub fn select_format(
    content_type: &str,
    fallback: Option<Format>,
) -> Result<(Format, Option<String>), String> {
    if content_type.is_empty() {
        let Some(fb) = fallback else {
            return Err("non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target".into());
        };
        return Ok((
            fb,
            Some(format!(
                "non-compliant scrape target sending blank Content-Type, using fallback_scrape_protocol {}",
                go_quote(fb.media_type())
            )),
        ));
    }
    let quoted = go_quote(content_type);
    match parse_media_type(content_type) {
        Err(e) => match fallback {
            None => Err(format!(
                "cannot parse Content-Type {quoted} and no fallback_scrape_protocol for target\n{e}"
            )),
            Some(fb) => Ok((
                fb,
                Some(format!(
                    "could not parse received Content-Type {quoted}, using fallback_scrape_protocol {}\n{e}",
                    go_quote(fb.media_type())
                )),
            )),
        },
        Ok(m) => match (Format::from_media_type(&m), fallback) {
            (Some(f), _) => Ok((f, None)),
            (None, None) => Err(format!(
                "received unsupported Content-Type {quoted} and no fallback_scrape_protocol specified for target"
            )),
            (None, Some(fb)) => Ok((
                fb,
                Some(format!(
                    "received unsupported Content-Type {quoted}, using fallback_scrape_protocol {}",
                    go_quote(fb.media_type())
                )),
            )),
        },
    }
}

/// One of the three streaming parsers.
// One per scrape, on the stack: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Parser<'a> {
    Text(TextParser<'a>),
    OpenMetrics(OpenMetricsParser<'a>),
    Protobuf(ProtobufParser<'a>),
}

impl<'a> Parser<'a> {
    pub fn new(
        body: &'a [u8],
        format: Format,
        native_histograms: bool,
        parse_classic_histograms: bool,
    ) -> Result<Parser<'a>, ParseError> {
        Ok(match format {
            Format::Text => Parser::Text(TextParser::new(body)?),
            Format::OpenMetrics => {
                Parser::OpenMetrics(OpenMetricsParser::new(body, OpenMetricsOptions::default())?)
            }
            Format::Protobuf => Parser::Protobuf(ProtobufParser::new(
                body,
                ProtobufOptions {
                    parse_classic_histograms,
                    ignore_native_histograms: !native_histograms,
                },
            )),
        })
    }

    #[inline]
    pub fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        match self {
            Parser::Text(p) => p.next(),
            Parser::OpenMetrics(p) => p.next(),
            Parser::Protobuf(p) => p.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_config::DEFAULT_SCRAPE_PROTOCOLS;

    #[test]
    fn accept_header_as_upstream() {
        assert_eq!(
            accept_header(DEFAULT_SCRAPE_PROTOCOLS, "underscores"),
            "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=underscores;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
        assert_eq!(
            accept_header(&[ScrapeProtocol::PrometheusProto], "allow-utf-8"),
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,*/*;q=0.5"
        );
    }

    #[test]
    fn content_types() {
        let ok = |ct: &str| select_format(ct, None).map(|r| r.0);
        assert_eq!(
            ok("text/plain; version=0.0.4; charset=utf-8"),
            Ok(Format::Text)
        );
        assert_eq!(
            ok("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            Ok(Format::OpenMetrics)
        );
        assert_eq!(
            ok(
                "Application/Vnd.Google.Protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            ),
            Ok(Format::Protobuf)
        );
        assert_eq!(
            ok("text/html").unwrap_err(),
            r#"received unsupported Content-Type "text/html" and no fallback_scrape_protocol specified for target"#
        );
        assert!(
            ok("")
                .unwrap_err()
                .starts_with("non-compliant scrape target")
        );
        assert!(
            ok("text/")
                .unwrap_err()
                .starts_with("cannot parse Content-Type")
        );
        let (f, why) = select_format("text/html", Some(Format::Text)).unwrap();
        assert_eq!(f, Format::Text);
        assert!(
            why.unwrap()
                .contains("using fallback_scrape_protocol \"text/plain\"")
        );
    }
}
