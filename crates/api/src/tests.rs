//! The router in process, over a temporary file store holding the two-host example.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use brickyard_model::keys::status_key;
use brickyard_model::records::agent::{AgentState, AgentStatus};
use brickyard_model::{Sourced, parse_host_config};
use brickyard_store::{EtcdOptions, EtcdStore, FileStore, Store, Timeouts, configs};
use serde_json::Value;
use tower::ServiceExt as _;

use crate::{ApiConfig, AppState, Auth, Token, router, routes};

const TOKEN: &str = "0123456789abcdef";
const JSON: &str = "application/json";

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
}

async fn fixture() -> Fixture {
    fixture_of("two-hosts", &["atomic-1", "atomic-2"]).await
}

/// A file store holding the host configs of `examples/<example>`.
async fn fixture_of(example: &str, hosts: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(FileStore::open(dir.path()).expect("open file store"));
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(example);
    let mut incoming = Vec::new();
    for host in hosts {
        let name = format!("{host}.json");
        let bytes = std::fs::read(examples.join(&name)).expect("read example");
        let (cfg, report) = parse_host_config(&name, &bytes);
        let config = cfg.unwrap_or_else(|| panic!("{name}: {report:?}"));
        incoming.push(Sourced {
            source: name,
            config,
        });
    }
    configs::load(store.as_ref(), &incoming, false)
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

/// Sends one request without a body; `bearer` is the token to present, if any.
async fn call(
    app: &axum::Router,
    method: Method,
    path: &str,
    bearer: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    send(app, method, path, bearer, None).await
}

/// Sends one request with an optional `(content type, body)`.
async fn send(
    app: &axum::Router,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<(&str, &str)>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match body {
        Some((content_type, text)) => {
            req = req.header(header::CONTENT_TYPE, content_type);
            Body::from(text.to_owned())
        }
        None => Body::empty(),
    };
    let resp = app
        .clone()
        .oneshot(req.body(body).expect("request"))
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
            // With the token the request reaches its handler, whatever that then answers
            // (no volume of that name, no body).
            let (status, _, body) = call(&app, method.clone(), &path, Some(TOKEN)).await;
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            assert!(
                !body.contains("no endpoint named"),
                "{method} {path}: {body}"
            );
            if method == Method::GET && !path.starts_with("/v1/volumes/") {
                assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
            }
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
        schema: 1,
        extra: Default::default(),
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
        reconcile: Default::default(),
        bricks: every_mount(),
        failed_disks: Vec::new(),
        heal_index: Default::default(),
        open_files: None,
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
    use brickyard_observe::{Observed, assess};
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
        for m in &r.methods {
            let op = &doc["paths"][r.path][m.as_str().to_lowercase()];
            let open = op["security"].as_array().is_some_and(Vec::is_empty);
            assert_eq!(open, !r.auth, "{m} {}", r.path);
        }
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
    for path in [
        "/healthz",
        "/v1/hosts",
        "/v1/status",
        "/metrics",
        "/v1/volumes",
        "/v1/volumes/gv0",
    ] {
        let (status, _, body) = call(&app, Method::GET, path, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert!(error_of(&body).contains("unreachable"), "{body}");
    }
    let (status, _, body) = send(
        &app,
        Method::POST,
        "/v1/volumes",
        Some(TOKEN),
        Some((JSON, r#"{"name": "gv0", "replica": 2}"#)),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

/// Every brick mount a config may list, reported mounted with 1 TiB free.
fn every_mount() -> Vec<brickyard_model::records::agent::BrickSpace> {
    (1..=8)
        .map(|n| brickyard_model::records::agent::BrickSpace {
            mount_point: format!("/gluster/brick{n}"),
            size_bytes: 1 << 40,
            free_bytes: 1 << 40,
        })
        .collect()
}

/// A live agent's record for `host` (placement puts bricks on live hosts only).
async fn make_live(store: &dyn Store, host: &str, ip: &str) {
    let agent = AgentStatus {
        schema: 1,
        extra: Default::default(),
        host: host.into(),
        node_name: host.replace("atomic", "gluster"),
        ip: ip.parse().expect("ip"),
        uuid: None,
        state: AgentState::Running,
        glusterd_pid: None,
        glusterd_restarts: 0,
        peers: vec![],
        problems: vec![],
        version: "test".into(),
        started_at: 1,
        updated_at: 2,
        reconcile: Default::default(),
        bricks: every_mount(),
        failed_disks: Vec::new(),
        heal_index: Default::default(),
        open_files: None,
    };
    store
        .put(
            &status_key(host),
            &serde_json::to_vec(&agent).expect("json"),
            None,
        )
        .await
        .expect("put agent status");
}

const FOUR: [(&str, &str); 4] = [
    ("atomic-1", "10.1.1.1"),
    ("atomic-2", "10.1.1.2"),
    ("atomic-3", "10.1.1.3"),
    ("atomic-4", "10.1.1.4"),
];

/// The four-host example (zones rack-1 and rack-2; atomic-3 and -4 with two brick
/// devices), every agent live.
async fn four_live_hosts() -> Fixture {
    let hosts: Vec<&str> = FOUR.iter().map(|(h, _)| *h).collect();
    let f = fixture_of("four-hosts", &hosts).await;
    for (host, ip) in FOUR {
        make_live(f.store.as_ref(), host, ip).await;
    }
    f
}

async fn post_json(app: &axum::Router, path: &str, body: &str) -> (StatusCode, String) {
    let (status, _, body) = send(app, Method::POST, path, Some(TOKEN), Some((JSON, body))).await;
    (status, body)
}

/// The record stored for `name`, as JSON.
async fn stored(store: &dyn Store, name: &str) -> Option<Value> {
    store
        .get(&format!("gluster/volumes/{name}"))
        .await
        .expect("read the store")
        .map(|e| serde_json::from_slice(&e.value).expect("a JSON record"))
}

#[tokio::test]
async fn a_volume_is_created_changed_and_deleted_through_the_api() {
    let f = four_live_hosts().await;
    let app = app(f.store.clone(), token());

    let (status, headers, body) = send(
        &app,
        Method::POST,
        "/v1/volumes",
        Some(TOKEN),
        Some((
            JSON,
            r#"{"name": "gv0", "replica": 2, "profile": "small-files"}"#,
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers[header::LOCATION], "/v1/volumes/gv0");
    let created: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        stored(f.store.as_ref(), "gv0").await.as_ref(),
        Some(&created)
    );
    assert_eq!(
        created["layout"],
        serde_json::json!({"kind": {"type": "replicate", "replica": 2, "arbiter": false}, "sets": 1})
    );
    assert_eq!(created["profile"], "small-files");
    assert_eq!(created["state"], "started");
    // One brick in each zone: rack-1 is atomic-1 and -2, rack-2 is atomic-3 and -4.
    let hosts: Vec<&str> = created["bricks"]
        .as_array()
        .expect("bricks")
        .iter()
        .filter_map(|b| b["host"].as_str())
        .collect();
    assert_eq!(hosts.len(), 2, "{created}");
    assert_ne!(hosts[0] <= "atomic-2", hosts[1] <= "atomic-2", "{created}");

    let (status, body) =
        post_json(&app, "/v1/volumes", r#"{"name": "gv0", "distribute": 1}"#).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        error_of(&body).starts_with("volume gv0 already exists (state started)"),
        "{body}"
    );

    let all = get_json(&app, "/v1/volumes").await;
    assert_eq!(all["volumes"].as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(all["volumes"][0]["record"], created);
    assert_eq!(all["volumes"][0]["status"], Value::Null);
    assert_eq!(all["unmanaged"], serde_json::json!([]));

    // Expand: a second replica set, again one brick per zone; a third finds rack-1 full.
    let (status, body) = post_json(&app, "/v1/volumes/gv0/expand", "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let expanded: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(expanded["layout"]["sets"], 2);
    assert_eq!(expanded["bricks"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        stored(f.store.as_ref(), "gv0").await,
        Some(expanded.clone())
    );
    let (status, body) = post_json(&app, "/v1/volumes/gv0/expand", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(error_of(&body).contains("needs 2"), "{body}");

    // Replace-brick: every host's one mount holds a brick of gv0, so there is no room
    // outside the brick's set; a brick it does not have and an unknown field are refused.
    let first = format!(
        "{}:{}",
        expanded["bricks"][0]["host"].as_str().expect("host"),
        expanded["bricks"][0]["path"].as_str().expect("path")
    );
    let (status, body) = post_json(
        &app,
        "/v1/volumes/gv0/replace-brick",
        &format!(r#"{{"brick": "{first}"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_of(&body).contains("cannot be moved"), "{body}");
    let (status, body) = post_json(
        &app,
        "/v1/volumes/gv0/replace-brick",
        r#"{"brick": "nohost:/gluster/brick1/gv0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        error_of(&body).contains("is not one of its bricks"),
        "{body}"
    );
    let (status, body) = post_json(
        &app,
        "/v1/volumes/gv0/replace-brick",
        &format!(r#"{{"brick": "{first}", "too": "x"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        stored(f.store.as_ref(), "gv0").await,
        Some(expanded.clone())
    );
    // Draining a host: no room elsewhere, so nothing moves, and the refusal says why.
    let host = expanded["bricks"][0]["host"].as_str().expect("host");
    let (status, body) = post_json(&app, &format!("/v1/hosts/{host}/drain"), "{}").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        error_of(&body).starts_with(&format!("host {host} cannot be drained: volume gv0:")),
        "{body}"
    );
    assert!(error_of(&body).contains("--force"), "{body}");
    assert_eq!(
        stored(f.store.as_ref(), "gv0").await,
        Some(expanded.clone())
    );

    let state = |v: Option<Value>| v.map(|r| r["state"].clone());
    let (status, body) = post_json(&app, "/v1/volumes/gv0/stop", "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        state(stored(f.store.as_ref(), "gv0").await),
        Some("stopped".into())
    );
    let (status, body) = post_json(&app, "/v1/volumes/gv0/start", "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        state(stored(f.store.as_ref(), "gv0").await),
        Some("started".into())
    );

    // A started volume is deleted only with force.
    let (status, _, body) = call(&app, Method::DELETE, "/v1/volumes/gv0", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_of(&body).contains("stop it first"), "{body}");
    let (status, _, body) = call(
        &app,
        Method::DELETE,
        "/v1/volumes/gv0?force=maybe",
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).starts_with("query: "), "{body}");
    let (status, _, body) = call(
        &app,
        Method::DELETE,
        "/v1/volumes/gv0?force=true",
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        state(stored(f.store.as_ref(), "gv0").await),
        Some("deleted".into())
    );
    let (status, body) = post_json(&app, "/v1/volumes/gv0/start", "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_of(&body).contains("being deleted"), "{body}");

    // With no live agent, gluster cannot be asked: the detail says so and claims no
    // difference it cannot know.
    for (host, _) in FOUR {
        f.store
            .delete(&status_key(host))
            .await
            .expect("remove the agent");
    }
    let one = get_json(&app, "/v1/volumes/gv0").await;
    assert_eq!(one["record"]["state"], "deleted");
    assert_eq!(one["status"], Value::Null);
    assert_eq!(one["gluster"], Value::Null);
    assert_eq!(one["gluster_error"], "no live agent to ask");
    assert_eq!(one["differences"], serde_json::json!([]));
}

#[tokio::test]
async fn a_stopped_volume_is_deleted_without_force() {
    let f = four_live_hosts().await;
    let app = app(f.store.clone(), token());
    let (status, body) = post_json(&app, "/v1/volumes", r#"{"name": "d1", "distribute": 2}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post_json(&app, "/v1/volumes/d1/stop", "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _, body) = call(
        &app,
        Method::DELETE,
        "/v1/volumes/d1?force=false",
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let record: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(record["state"], "deleted");
}

#[tokio::test]
async fn bad_volume_requests_are_refused_naming_the_field() {
    let f = four_live_hosts().await;
    let app = app(f.store.clone(), token());
    for (body, status, starts) in [
        (
            r#"{"name": "../x", "replica": 2}"#,
            StatusCode::BAD_REQUEST,
            "name: volume name \"../x\"",
        ),
        (
            r#"{"name": "-x"}"#,
            StatusCode::BAD_REQUEST,
            "name: volume name \"-x\"",
        ),
        (
            r#"{"name": "gv1", "replica": 2, "size": 10}"#,
            StatusCode::BAD_REQUEST,
            "body: unknown field `size`",
        ),
        (
            r#"{"replica": 2}"#,
            StatusCode::BAD_REQUEST,
            "body: missing field `name`",
        ),
        (
            r#"{"name": "gv1", "replica": "two"}"#,
            StatusCode::BAD_REQUEST,
            "body: invalid type",
        ),
        ("", StatusCode::BAD_REQUEST, "body: a JSON object is needed"),
        ("{", StatusCode::BAD_REQUEST, "body: EOF"),
        (
            r#"{"name": "gv1", "replica": 4}"#,
            StatusCode::BAD_REQUEST,
            "replica: replica 4: use 2 or 3",
        ),
        (
            r#"{"name": "gv1", "replica": 3, "arbiter": true}"#,
            StatusCode::BAD_REQUEST,
            "arbiter: replica 3 with an arbiter",
        ),
        (
            r#"{"name": "gv1", "disperse": 4, "redundancy": 2}"#,
            StatusCode::BAD_REQUEST,
            "redundancy: disperse 4 redundancy 2",
        ),
        (
            r#"{"name": "gv1", "disperse": 3}"#,
            StatusCode::BAD_REQUEST,
            "redundancy: disperse needs redundancy",
        ),
        (
            r#"{"name": "gv1", "replica": 2, "disperse": 3, "redundancy": 1}"#,
            StatusCode::BAD_REQUEST,
            "disperse: replica and disperse exclude each other",
        ),
        (
            r#"{"name": "gv1", "distribute": 0}"#,
            StatusCode::BAD_REQUEST,
            "distribute: 0 sets",
        ),
        (
            r#"{"name": "gv1", "replica": 2, "profile": "fast"}"#,
            StatusCode::BAD_REQUEST,
            "profile: volume gv1: unknown profile \"fast\"; use one of: default, small-files",
        ),
        // Replica 3 needs three zones; the example has two.
        (
            r#"{"name": "gv1"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "volume gv1: replica 3 needs 3",
        ),
    ] {
        let (got, answer) = post_json(&app, "/v1/volumes", body).await;
        assert_eq!(got, status, "{body}: {answer}");
        let error = error_of(&answer);
        assert!(error.starts_with(starts), "{body}: {error}");
    }
    // Nothing was written by any of them.
    assert_eq!(
        get_json(&app, "/v1/volumes").await["volumes"],
        serde_json::json!([])
    );

    let (status, _, body) = send(
        &app,
        Method::POST,
        "/v1/volumes",
        Some(TOKEN),
        Some(("application/x-www-form-urlencoded", "name=gv1")),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(
        error_of(&body).contains("Content-Type: application/json"),
        "{body}"
    );

    // Parameters of the media type do not matter.
    let (status, _, body) = send(
        &app,
        Method::POST,
        "/v1/volumes",
        Some(TOKEN),
        Some((
            "application/json; charset=utf-8",
            r#"{"name": "gv2", "replica": 2}"#,
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A body without a Content-Type is read as JSON.
    let req = Request::post("/v1/volumes")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from(r#"{"name": "gv3", "replica": 2}"#))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("answer");
    assert_eq!(resp.status(), StatusCode::CREATED);

    for (method, path) in [
        (Method::GET, "/v1/volumes/nope"),
        (Method::DELETE, "/v1/volumes/nope"),
        (Method::POST, "/v1/volumes/nope/start"),
        (Method::POST, "/v1/volumes/nope/stop"),
        (Method::POST, "/v1/volumes/nope/expand"),
    ] {
        let (status, _, body) = call(&app, method.clone(), path, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert_eq!(error_of(&body), "no volume named \"nope\"");
    }
    for (method, path) in [
        (Method::GET, "/v1/volumes/x.y"),
        (Method::DELETE, "/v1/volumes/x.y"),
        (Method::POST, "/v1/volumes/x.y/stop"),
    ] {
        let (status, _, body) = call(&app, method.clone(), path, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
        assert!(
            error_of(&body).starts_with("name: volume name \"x.y\""),
            "{body}"
        );
    }
}

#[tokio::test]
async fn volume_changes_need_the_token() {
    let f = four_live_hosts().await;
    let app = app(f.store.clone(), token());
    let (status, _, body) = send(
        &app,
        Method::POST,
        "/v1/volumes",
        None,
        Some((JSON, r#"{"name": "gv0", "replica": 2}"#)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(stored(f.store.as_ref(), "gv0").await, None);
}

#[tokio::test]
async fn an_unreadable_volume_record_is_listed_as_such_and_500_alone() {
    let f = four_live_hosts().await;
    f.store
        .put("gluster/volumes/broken", b"{not json", None)
        .await
        .expect("put");
    let app = app(f.store.clone(), token());
    // The listing still answers, naming the record that cannot be used and the way out.
    let list = get_json(&app, "/v1/volumes").await;
    assert_eq!(
        list["invalid"][0]["key"], "gluster/volumes/broken",
        "{list}"
    );
    assert!(
        list["invalid"][0]["fix"]
            .as_str()
            .is_some_and(|f| f.contains("brickyard volume forget broken")),
        "{list}"
    );
    let (status, _, body) = call(&app, Method::GET, "/v1/volumes/broken", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        error_of(&body).starts_with("record gluster/volumes/broken cannot be used"),
        "{body}"
    );
}

#[test]
fn every_volume_error_has_its_status() {
    use brickyard_volumes::VolumeError;
    use brickyard_volumes::placement::PlacementError;
    let name = || "gv0".to_owned();
    let cases = [
        (
            VolumeError::BadName(
                brickyard_model::names::check_volume_name("-x").expect_err("bad name"),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            VolumeError::BadLayout {
                name: name(),
                reason: "r".into(),
            },
            StatusCode::BAD_REQUEST,
        ),
        (
            VolumeError::UnknownProfile {
                name: name(),
                profile: "p".into(),
                known: "default".into(),
            },
            StatusCode::BAD_REQUEST,
        ),
        (
            VolumeError::NotFound { name: name() },
            StatusCode::NOT_FOUND,
        ),
        (
            VolumeError::Exists {
                name: name(),
                state: "started".into(),
            },
            StatusCode::CONFLICT,
        ),
        (
            VolumeError::Refused {
                name: name(),
                reason: "r".into(),
            },
            StatusCode::CONFLICT,
        ),
        (
            VolumeError::Contended { name: name() },
            StatusCode::CONFLICT,
        ),
        (
            VolumeError::Placement {
                name: name(),
                reason: Box::new(PlacementError::NotEnough {
                    layout: "replica 3".into(),
                    needed: 3,
                    what: "distinct hosts".into(),
                    have: 2,
                    detail: "h1, h2".into(),
                    fix: "add hosts",
                }),
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            VolumeError::Invalid(brickyard_model::records::RecordError {
                key: "gluster/volumes/gv0".into(),
                problem: "r".into(),
                fix: "f".into(),
            }),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            VolumeError::Store(brickyard_store::StoreError::Unreachable {
                endpoint: "127.0.0.1:1".into(),
                reason: "refused".into(),
                hint: "start etcd".into(),
            }),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ];
    for (e, status) in cases {
        let text = format!("{e:?}");
        assert_eq!(crate::ApiError::from(e).status(), status, "{text}");
    }
}

#[tokio::test]
async fn metrics_show_each_agents_reconcile_passes_errors_and_duration() {
    let f = fixture().await;
    let agent = AgentStatus {
        schema: 1,
        extra: Default::default(),
        host: "atomic-1".into(),
        node_name: "gluster-1".into(),
        ip: "10.1.1.1".parse().expect("ip"),
        uuid: None,
        state: AgentState::Running,
        glusterd_pid: Some(42),
        glusterd_restarts: 0,
        peers: vec![],
        problems: vec![],
        version: "test".into(),
        started_at: 1,
        updated_at: 2,
        reconcile: brickyard_model::records::agent::ReconcileStats {
            passes: 7,
            errors: 1,
            last_duration_ms: 120,
        },
        bricks: every_mount(),
        failed_disks: Vec::new(),
        heal_index: Default::default(),
        open_files: None,
    };
    f.store
        .put(
            &status_key("atomic-1"),
            &serde_json::to_vec(&agent).expect("json"),
            None,
        )
        .await
        .expect("put");
    let app = app(f.store.clone(), token());
    let (status, _, body) = call(&app, Method::GET, "/metrics", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        "brickyard_host_reconcile_passes_total{host=\"atomic-1\"} 7",
        "brickyard_host_reconcile_errors_total{host=\"atomic-1\"} 1",
        "brickyard_host_reconcile_last_duration_milliseconds{host=\"atomic-1\"} 120",
    ] {
        assert!(body.lines().any(|l| l == line), "{line:?} missing:\n{body}");
    }
}

#[tokio::test]
async fn status_and_metrics_share_one_observation_per_interval() {
    let f = fixture().await;
    let state = AppState::new(f.store.clone(), ApiConfig::new(token()));
    let (a, b) = tokio::join!(state.observation(), state.observation());
    let (a, b) = (a.expect("observe"), b.expect("observe"));
    assert!(
        Arc::ptr_eq(&a, &b),
        "two callers at once share one observation"
    );
    let mut config = ApiConfig::new(token());
    config.observe_every = std::time::Duration::ZERO;
    let state = AppState::new(f.store.clone(), config);
    let a = state.observation().await.expect("observe");
    let b = state.observation().await.expect("observe");
    assert!(!Arc::ptr_eq(&a, &b), "an expired observation is made again");
}

#[tokio::test]
async fn cluster_settings_are_read_changed_and_refused_strictly() {
    let f = fixture().await;
    let app = app(f.store.clone(), token());
    let got = get_json(&app, "/v1/cluster/settings").await;
    assert_eq!(got["brick_multiplex"], false, "{got}");
    let put = |body: &'static str| {
        let app = app.clone();
        async move {
            send(
                &app,
                Method::PUT,
                "/v1/cluster/settings",
                Some(TOKEN),
                Some(("application/json", body)),
            )
            .await
        }
    };
    let (status, _, body) = put(r#"{"brick_multiplex": true}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        get_json(&app, "/v1/cluster/settings").await["brick_multiplex"],
        true
    );
    // An unknown field or a wrong type changes nothing.
    for (bad, says) in [
        (
            r#"{"brick_multiplexing": false}"#,
            "unknown field `brick_multiplexing`",
        ),
        (r#"{"brick_multiplex": "off"}"#, "expected a boolean"),
    ] {
        let (status, _, body) = put(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(error_of(&body).contains(says), "{body}");
    }
    assert_eq!(
        get_json(&app, "/v1/cluster/settings").await["brick_multiplex"],
        true
    );
    // A stored record that cannot be used is named, not taken for the defaults.
    f.store
        .put(
            brickyard_model::keys::CLUSTER_SETTINGS,
            b"{\"schema\": 9}",
            None,
        )
        .await
        .expect("put");
    let (status, _, body) = call(&app, Method::GET, "/v1/cluster/settings", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        error_of(&body).contains("gluster/cluster/settings"),
        "{body}"
    );
    // And the cluster's status names it among its problems.
    let health = get_json(&app, "/v1/status").await;
    assert!(
        health["problems"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p
                .as_str()
                .is_some_and(|p| p.starts_with("record gluster/cluster/settings cannot be used")))),
        "{health}"
    );
}

#[tokio::test]
async fn a_refused_request_with_a_body_closes_its_connection() {
    let f = fixture().await;
    let app = app(f.store.clone(), token());
    // Its body is never read: the connection cannot carry another request.
    let (status, headers, _) = send(
        &app,
        Method::POST,
        "/v1/volumes",
        Some("not-the-token"),
        Some(("application/json", r#"{"name": "gv0"}"#)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers.get(header::CONNECTION).map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    // Without a body the connection stays usable.
    let (status, headers, _) = call(&app, Method::GET, "/v1/volumes", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers.get(header::CONNECTION), None);
}
