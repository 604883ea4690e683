//! The router in process, over a temporary file store holding the two-host example.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use brickyard_agent::{AgentState, AgentStatus};
use brickyard_model::keys::status_key;
use brickyard_model::{Sourced, parse_host_config};
use brickyard_store::{EtcdOptions, EtcdStore, FileStore, Store, Timeouts, configs};
use serde_json::Value;
use tower::ServiceExt as _;

use crate::{ApiConfig, AppState, Auth, Token, router, routes};

const TOKEN: &str = "0123456789abcdef";

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(FileStore::open(dir.path()).expect("open file store"));
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/two-hosts");
    let mut incoming = Vec::new();
    for name in ["atomic-1.json", "atomic-2.json"] {
        let bytes = std::fs::read(examples.join(name)).expect("read example");
        let (cfg, report) = parse_host_config(name, &bytes);
        let config = cfg.unwrap_or_else(|| panic!("{name}: {report:?}"));
        incoming.push(Sourced {
            source: name.into(),
            config,
        });
    }
    configs::load(store.as_ref(), &incoming)
        .await
        .expect("load the example");
    Fixture { _dir: dir, store }
}

fn app(store: Arc<dyn Store>, auth: Auth) -> axum::Router {
    router(AppState::new(store, ApiConfig::new(auth)))
}

fn token() -> Auth {
    Auth::Token(Token::new(TOKEN).expect("token"))
}

/// Sends one request; `bearer` is the token to present, if any.
async fn call(
    app: &axum::Router,
    method: Method,
    path: &str,
    bearer: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("router answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

async fn get_json(app: &axum::Router, path: &str) -> Value {
    let (status, _, body) = call(app, Method::GET, path, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

fn error_of(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    let obj = v.as_object().expect("an object");
    assert_eq!(obj.len(), 1, "only `error`: {body}");
    obj["error"].as_str().expect("error is a string").to_owned()
}

#[tokio::test]
async fn healthz_needs_no_token() {
    let f = fixture().await;
    let app = app(f.store.clone(), token());
    let (status, _, body) = call(&app, Method::GET, "/healthz", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn every_other_route_needs_the_token() {
    let f = fixture().await;
    let app = app(f.store.clone(), token());
    for route in routes().into_iter().filter(|r| r.auth) {
        let path = route.path.replace("{name}", "atomic-1");
        for method in route.methods {
            for (bearer, why) in [
                (None, "Authorization"),
                (Some("wrong-token-0000"), "wrong"),
                (Some(&TOKEN[..TOKEN.len() - 1]), "wrong"),
                (Some(""), "wrong"),
            ] {
                let (status, headers, body) = call(&app, method.clone(), &path, bearer).await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} {bearer:?}"
                );
                assert!(error_of(&body).contains(why), "{body}");
                assert!(headers.contains_key(header::WWW_AUTHENTICATE));
            }
            let (status, _, body) = call(&app, method.clone(), &path, Some(TOKEN)).await;
            assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
        }
    }
    // Another scheme carrying the right secret is not a bearer token.
    let req = Request::get("/v1/hosts")
        .header(header::AUTHORIZATION, format!("Basic {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("answer");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_auth_anyone_may_call() {
    let f = fixture().await;
    let app = app(f.store.clone(), Auth::Disabled);
    let (status, _, body) = call(&app, Method::GET, "/v1/hosts", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn hosts_show_the_configs_and_agents() {
    let f = fixture().await;
    let agent = AgentStatus {
        host: "atomic-1".into(),
        node_name: "gluster-1".into(),
        ip: "10.1.1.1".parse().expect("ip"),
        uuid: Some("6f1c3c5e-0000-4000-8000-000000000001".into()),
        state: AgentState::Running,
        glusterd_pid: Some(42),
        glusterd_restarts: 0,
        peers: vec![],
        problems: vec![],
        version: "test".into(),
        started_at: 1,
        updated_at: 2,
    };
    f.store
        .put(
            &status_key("atomic-1"),
            &serde_json::to_vec(&agent).expect("json"),
            None,
        )
        .await
        .expect("put agent status");
    let app = app(f.store.clone(), token());

    let all = get_json(&app, "/v1/hosts").await;
    let hosts = all["hosts"].as_array().expect("hosts array");
    let names: Vec<&str> = hosts.iter().filter_map(|h| h["host"].as_str()).collect();
    assert_eq!(names, ["atomic-1", "atomic-2"]);
    assert_eq!(hosts[0]["ip_address"], "10.1.1.1/24");
    assert_eq!(hosts[0]["gluster_node_name"], "gluster-1");
    assert_eq!(hosts[0]["config"]["ZapDevice"], "true");
    assert_eq!(hosts[0]["agent"]["live"], true);
    assert_eq!(hosts[0]["agent"]["state"], "running");
    assert_eq!(hosts[1]["agent"]["live"], false);
    assert_eq!(hosts[1]["agent"]["status"], Value::Null);

    let one = get_json(&app, "/v1/hosts/atomic-2").await;
    assert_eq!(one, hosts[1]);

    let (status, _, body) = call(&app, Method::GET, "/v1/hosts/atomic-9", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body), "no host named \"atomic-9\"");

    let (status, _, body) = call(&app, Method::GET, "/v1/hosts/bad_name", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_of(&body).starts_with("name: host name \"bad_name\""),
        "{body}"
    );
}

#[tokio::test]
async fn status_is_the_judgement_of_brickyard_status() {
    let f = fixture().await;
    let app = app(f.store.clone(), token());
    let v = get_json(&app, "/v1/status").await;
    assert_eq!(v["healthy"], false);
    let hosts: Vec<&str> = v["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert_eq!(hosts, ["atomic-1", "atomic-2"]);
    let problems: Vec<&str> = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        problems,
        [
            "host atomic-1 (10.1.1.1): no live agent",
            "host atomic-2 (10.1.1.2): no live agent",
            "no glusterd answered for volumes: no live agent to ask",
        ]
    );
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let f = fixture().await;
    let app = app(f.store.clone(), token());
    let (status, headers, body) = call(&app, Method::GET, "/metrics", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    for line in [
        "# TYPE brickyard_hosts gauge",
        "brickyard_hosts 2",
        "brickyard_hosts_agent_live 0",
        "brickyard_host_agent_live{host=\"atomic-1\"} 0",
        "brickyard_host_peers_connected{host=\"atomic-2\"} 0",
        "brickyard_cluster_healthy 0",
        "brickyard_gluster_answered 0",
    ] {
        assert!(body.lines().any(|l| l == line), "{line:?} missing:\n{body}");
    }
    assert!(!body.contains("# EOF"), "{body}");

    let req = Request::get("/metrics")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::ACCEPT, "application/openmetrics-text;version=1.0.0")
        .body(Body::empty())
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("answer");
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("application/openmetrics-text")
    );
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    assert!(body.ends_with(b"# EOF\n"));
}

#[test]
fn volume_metrics_follow_the_judgement() {
    use brickyard_agent::health::{Observed, assess};
    let o = Observed {
        volumes: Some(vec![]),
        ..Observed::default()
    };
    let text = crate::metrics::render(&o, &assess(&o)).expect("render");
    for state in ["Created", "Started", "Stopped", "Unknown"] {
        let line = format!("brickyard_volumes{{state=\"{state}\"}} 0");
        assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
    }
    assert!(text.contains("brickyard_gluster_answered 1"), "{text}");
}

#[tokio::test]
async fn openapi_describes_exactly_the_routes() {
    let f = fixture().await;
    let app = app(f.store.clone(), token());
    let doc = get_json(&app, "/openapi.json").await;
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if method != "parameters" {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = routes()
        .into_iter()
        .flat_map(|r| {
            r.methods
                .into_iter()
                .map(move |m| (m.to_string(), r.path.to_owned()))
        })
        .collect();
    assert_eq!(documented, served);
    // Only /healthz is documented as needing no token, as the router has it.
    for r in routes() {
        let op = &doc["paths"][r.path]["get"];
        let open = op["security"].as_array().is_some_and(Vec::is_empty);
        assert_eq!(open, !r.auth, "{}", r.path);
    }
}

#[tokio::test]
async fn unknown_paths_are_404_with_a_json_error() {
    let f = fixture().await;
    let app = app(f.store.clone(), token());
    let (status, _, body) = call(&app, Method::GET, "/v2/nothing", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body), "no endpoint named \"GET /v2/nothing\"");
}

#[tokio::test]
async fn an_unreachable_store_is_503() {
    // Nothing listens on port 1 of loopback; connections are refused at once.
    let store = EtcdStore::connect(EtcdOptions {
        endpoints: vec!["127.0.0.1:1".into()],
        ca: None,
        cert: None,
        key: None,
        user: None,
        password: None,
        timeouts: Timeouts {
            connect: Duration::from_secs(1),
            request: Duration::from_secs(1),
        },
    })
    .await;
    let store: Arc<dyn Store> = match store {
        Ok(s) => Arc::new(s),
        Err(e) => panic!("a lazy etcd connection should not fail yet: {e}"),
    };
    let app = app(store, token());
    for path in ["/healthz", "/v1/hosts", "/v1/status", "/metrics"] {
        let (status, _, body) = call(&app, Method::GET, path, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert!(error_of(&body).contains("unreachable"), "{body}");
    }
}
