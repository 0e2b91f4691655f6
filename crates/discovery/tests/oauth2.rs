#![allow(clippy::unwrap_used, clippy::expect_used)]
//! OAuth2 client credentials against a loopback token endpoint: the form and basic auth
//! the endpoint receives, the bearer token a protected endpoint then sees, caching while
//! the token is valid, refetching when it is about to expire or the secret file changes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hearth_discovery::HttpClientConfig;

#[derive(Default)]
struct Seen {
    token_requests: Vec<(String, String)>,
    bearer: Vec<String>,
}

async fn token(
    State((seen, expires)): State<(Arc<Mutex<Seen>>, u64)>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut s = seen.lock().unwrap();
    s.token_requests.push((auth, body));
    let n = s.token_requests.len();
    (
        StatusCode::OK,
        format!(r#"{{"access_token":"tok-{n}","token_type":"bearer","expires_in":{expires}}}"#),
    )
}

async fn protected(State((seen, _)): State<(Arc<Mutex<Seen>>, u64)>, headers: HeaderMap) -> String {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    seen.lock().unwrap().bearer.push(auth);
    "[]".into()
}

async fn serve(expires: u64) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = axum::Router::new()
        .route("/token", axum::routing::post(token))
        .route("/data", axum::routing::get(protected))
        .with_state((seen.clone(), expires));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), seen)
}

fn client_config(yaml: &str) -> HttpClientConfig {
    #[derive(serde::Deserialize)]
    struct Wrap {
        oauth2: hearth_discovery::http_client::OAuth2,
    }
    let w: Wrap = serde_saphyr::from_str(yaml).unwrap();
    let mut c = HttpClientConfig {
        oauth2: Some(w.oauth2),
        ..HttpClientConfig::default()
    };
    c.validate().unwrap();
    c
}

async fn get(c: &HttpClientConfig, url: &str, tok: &hearth_discovery::oauth2::OAuth2Token) {
    let client = c.build_client("t").unwrap();
    let req = c.authorize_with(client.get(url), Some(tok)).await.unwrap();
    assert_eq!(req.send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn token_is_fetched_once_and_sent_as_bearer() {
    let (base, seen) = serve(3600).await;
    let c = client_config(&format!(
        "oauth2:\n  client_id: my id\n  client_secret: s3cr&t\n  scopes: [read, write]\n  \
         token_url: {base}/token\n  endpoint_params: {{audience: hearth}}\n"
    ));
    let tok = c.oauth2_token("t").unwrap().unwrap();
    get(&c, &format!("{base}/data"), &tok).await;
    get(&c, &format!("{base}/data"), &tok).await;
    let s = seen.lock().unwrap();
    assert_eq!(s.bearer, ["Bearer tok-1", "Bearer tok-1"]);
    assert_eq!(s.token_requests.len(), 1, "cached: {:?}", s.token_requests);
    let (auth, body) = &s.token_requests[0];
    // Basic auth of the form-escaped ID and secret, as x/oauth2 sends them.
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode("my+id:s3cr%26t");
    assert_eq!(auth, &format!("Basic {expected}"));
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["scope"], "read write");
    assert_eq!(form["audience"], "hearth");
}

#[tokio::test]
async fn expiring_tokens_and_changed_secret_files_refetch() {
    // Tokens valid for 5 s are inside the 10 s refresh margin: every use refetches.
    let (base, seen) = serve(5).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "one\n").unwrap();
    let c = client_config(&format!(
        "oauth2:\n  client_id: id\n  client_secret_file: {}\n  token_url: {base}/token\n",
        secret.display()
    ));
    let tok = c.oauth2_token("t").unwrap().unwrap();
    get(&c, &format!("{base}/data"), &tok).await;
    get(&c, &format!("{base}/data"), &tok).await;
    assert_eq!(
        seen.lock().unwrap().bearer,
        ["Bearer tok-1", "Bearer tok-2"]
    );

    let (base, seen) = serve(3600).await;
    let c = client_config(&format!(
        "oauth2:\n  client_id: id\n  client_secret_file: {}\n  token_url: {base}/token\n",
        secret.display()
    ));
    let tok = c.oauth2_token("t").unwrap().unwrap();
    get(&c, &format!("{base}/data"), &tok).await;
    std::fs::write(&secret, "two\n").unwrap();
    get(&c, &format!("{base}/data"), &tok).await;
    let s = seen.lock().unwrap();
    assert_eq!(s.bearer, ["Bearer tok-1", "Bearer tok-2"]);
    use base64::Engine as _;
    let two = base64::engine::general_purpose::STANDARD.encode("id:two");
    assert_eq!(s.token_requests[1].0, format!("Basic {two}"));
}

#[tokio::test]
async fn token_endpoint_errors_are_reported() {
    let c = client_config(
        "oauth2:\n  client_id: id\n  client_secret: x\n  token_url: http://127.0.0.1:1/token\n",
    );
    let tok = c.oauth2_token("t").unwrap().unwrap();
    let err = tok.header().await.unwrap_err().to_string();
    assert!(err.starts_with("oauth2: cannot fetch token"), "{err}");
    // Without the token source, an oauth2 configuration refuses to send unauthenticated.
    let client = c.build_client("t").unwrap();
    assert!(c.authorize(client.get("http://127.0.0.1:1/")).is_err());
}
