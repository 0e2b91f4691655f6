//! The email integration over SMTP (`lettre`): implicit TLS on port 465, STARTTLS
//! when offered (required by default, as upstream's `require_tls`), PLAIN/LOGIN auth,
//! upstream's default subject and HTML body templates.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{BoxFuture, Integration, Notification, NotifyError, read_secret_file};
use crate::config::EmailConfig;

pub struct Email {
    conf: EmailConfig,
}

impl Email {
    pub fn new(conf: &EmailConfig) -> Result<Email, String> {
        Ok(Email { conf: conf.clone() })
    }

    async fn send(&self, n: &Notification<'_>) -> Result<(), NotifyError> {
        let c = &self.conf;
        let data = hearth_template::Value::object(n.template_data());
        let t = |s: &str| n.text(&data, s);
        let to = t(&c.to)?;
        let from = t(&c.from)?;
        let parse_box = |s: &str, what: &str| -> Result<Vec<Mailbox>, NotifyError> {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(|x| {
                    x.parse::<Mailbox>().map_err(|e| {
                        NotifyError::permanent(format!("parse '{what}' addresses: {e}"))
                    })
                })
                .collect()
        };
        let mut b = Message::builder();
        for m in parse_box(&from, "from")? {
            b = b.from(m);
        }
        for m in parse_box(&to, "to")? {
            b = b.to(m);
        }
        let mut subject = r#"{{ template "email.default.subject" . }}"#.to_string();
        for (k, v) in &c.headers {
            let v = t(v)?;
            match k.as_str() {
                "Subject" => subject = v,
                "To" | "From" => {}
                _ => {
                    if let (Ok(name), Ok(())) = (
                        header::HeaderName::new_from_ascii(k.clone()),
                        Ok::<(), ()>(()),
                    ) {
                        b = b.raw_header(header::HeaderValue::new(name, v));
                    }
                }
            }
        }
        let subject = if c.headers.contains_key("Subject") {
            subject
        } else {
            t(&subject)?
        };
        b = b.subject(subject);
        let text = t(&c.text)?;
        let html = self
            .conf
            .html
            .is_empty()
            .then(String::new)
            .map_or_else(|| n.templates.execute_html_string(&c.html, &data), Ok)
            .map_err(|e| NotifyError::permanent(e.to_string()))?;
        let msg = match (text.is_empty(), html.is_empty()) {
            (false, false) => b.multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::plain(text))
                    .singlepart(SinglePart::html(html)),
            ),
            (false, true) => b.singlepart(SinglePart::plain(text)),
            _ => b.singlepart(SinglePart::html(html)),
        }
        .map_err(|e| NotifyError::permanent(e.to_string()))?;

        let host = c.smarthost.host.clone();
        let port: u16 = c.smarthost.port.parse().map_err(|_| {
            NotifyError::permanent(format!("invalid smarthost port {:?}", c.smarthost.port))
        })?;
        let tls_cfg = c.tls_config.clone().unwrap_or_default();
        let server_name = if tls_cfg.server_name.is_empty() {
            host.clone()
        } else {
            tls_cfg.server_name.clone()
        };
        let params = TlsParameters::builder(server_name)
            .dangerous_accept_invalid_certs(tls_cfg.insecure_skip_verify)
            .build_rustls()
            .map_err(|e| NotifyError::permanent(format!("TLS parameters: {e}")))?;
        let tls = if port == 465 {
            Tls::Wrapper(params)
        } else if c.require_tls.unwrap_or(true) {
            Tls::Required(params)
        } else {
            Tls::Opportunistic(params)
        };
        let mut tb = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)));
        if !c.hello.is_empty() {
            tb = tb.hello_name(lettre::transport::smtp::extension::ClientId::Domain(
                c.hello.clone(),
            ));
        }
        if !c.auth_username.is_empty() {
            let pass = if c.auth_password_file.is_empty() {
                c.auth_password.expose().to_string()
            } else {
                read_secret_file(&c.auth_password_file)?
            };
            tb = tb.credentials(Credentials::new(c.auth_username.clone(), pass));
        }
        let transport = tb.build();
        transport.send(msg).await.map(|_| ()).map_err(|e| {
            // Permanent SMTP errors (5xx) are not retried; network problems are.
            NotifyError {
                retry: !e.is_permanent(),
                message: format!("send: {e}"),
            }
        })
    }
}

impl Integration for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    fn send_resolved(&self) -> bool {
        self.conf.send_resolved
    }

    fn notify<'a>(&'a self, n: &'a Notification<'a>) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(self.send(n))
    }
}
