//! `brickyard serve` end to end: the real binary on a free loopback port, over the embedded
//! store and a real etcd, called over plain HTTP.
//!
//! The OpenAPI document is checked with `openapi-spec-validator` from PyPI (installed by
//! `make deps`); the test fails, never skips, when it is missing.

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use brickyard_testkit::{Etcd, TempStore, free_port, run};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_brickyard");
const TOKEN: &str = "b7f3c1e0a9d24f6e8c5b1a2d3e4f5a6b";
const VALIDATOR_PIP: &str = "python3 -m pip install openapi-spec-validator==0.7.2";

/// An answer: status, headers (names in lower case) and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.body))
    }
}

/// An HTTP(S) client for the API that returns every answer, error statuses included; for
/// HTTPS it trusts only `ca` (PEM).
fn client(ca: Option<&str>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)));
    if let Some(pem) = ca {
        let cert = ureq::tls::Certificate::from_pem(pem.as_bytes()).expect("a PEM certificate");
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![
                    cert.to_owned(),
                ])))
                .build(),
        );
    }
    config.build().into()
}

/// One request, with an optional JSON body; panics when no answer comes.
fn request(
    agent: &ureq::Agent,
    base: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json: Option<&str>,
) -> Answer {
    try_request(agent, base, method, path, bearer, json)
        .unwrap_or_else(|e| panic!("{method} {base}{path}: {e}"))
}

/// One request, with an optional JSON body; an error when no answer comes.
fn try_request(
    agent: &ureq::Agent,
    base: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json: Option<&str>,
) -> Result<Answer, ureq::Error> {
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    if let Some(t) = bearer {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if json.is_some() {
        req = req.header("Content-Type", "application/json");
    }
    let req = req
        .body(json.unwrap_or_default().to_owned())
        .expect("a request");
    let mut resp = agent.run(req)?;
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    Ok(Answer {
        status: resp.status().as_u16(),
        headers,
        body: resp.body_mut().read_to_string()?,
    })
}

/// A running `brickyard serve`; stopped (SIGTERM, then SIGKILL) on drop.
struct Server {
    child: Child,
    base: String,
    agent: ureq::Agent,
    log: tempfile::NamedTempFile,
}

impl Server {
    /// Starts the server and waits until /healthz answers 200.
    fn start(store: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_with_ca(store, args, env, None)
    }

    /// Starts the server; with `ca`, over HTTPS trusting that CA.
    fn start_with_ca(store: &str, args: &[&str], env: &[(&str, &str)], ca: Option<&str>) -> Self {
        let port = free_port();
        let scheme = if ca.is_some() { "https" } else { "http" };
        let log = tempfile::NamedTempFile::new().expect("log file");
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(BIN);
        cmd.args(["--store", store, "-v", "serve", "--listen", &listen])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("reopen the log"));
        let mut me = Self {
            child: cmd.spawn().expect("spawn brickyard serve"),
            base: format!("{scheme}://127.0.0.1:{port}"),
            agent: client(ca),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("brickyard serve exited with {status}:\n{}", me.log());
            }
            // Asked until it answers: a bare connect is no proof, since a connect to a free
            // port in the ephemeral range can meet itself (TCP self-connect).
            let healthz = try_request(&me.agent, &me.base, "GET", "/healthz", None, None);
            if healthz.is_ok_and(|a| a.status == 200) {
                return me;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "brickyard serve did not answer /healthz within 20s:\n{}",
            me.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn get(&self, path: &str, bearer: Option<&str>) -> Answer {
        request(&self.agent, &self.base, "GET", path, bearer, None)
    }

    fn send(&self, method: &str, path: &str, bearer: Option<&str>, json: Option<&str>) -> Answer {
        request(&self.agent, &self.base, method, path, bearer, json)
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    fn stop(mut self) -> (ExitStatus, String) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "brickyard serve did not stop within 10s of SIGTERM:\n{}",
            self.log()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Writes a file only its owner may read, as a secret must be.
fn write_secret(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write a secret");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// Runs the binary expecting it to exit by itself within 20 s (a server that started by
/// mistake would otherwise hang the test).
fn run_expecting_exit(args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let log = tempfile::NamedTempFile::new().expect("log file");
    let mut child = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().expect("reopen the log"))
        .spawn()
        .expect("spawn brickyard");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return (
                status,
                std::fs::read_to_string(log.path()).unwrap_or_default(),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "brickyard {} kept running:\n{}",
        args.join(" "),
        std::fs::read_to_string(log.path()).unwrap_or_default()
    );
}

fn load_two_hosts(store: &str) {
    // This crate's own directory, not testkit's: the example must come from this tree.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/two-hosts");
    run(
        BIN,
        &[
            "--store",
            store,
            "config",
            "load",
            &dir.display().to_string(),
        ],
        &[],
    )
    .ok();
}

/// The body of a create the two-host example can hold.
const GV0: &str = r#"{"name": "gv0", "replica": 2}"#;

/// Runs `f` on the store at `url`, opened directly as the agents would.
fn with_store<T>(url: &str, f: impl AsyncFnOnce(&dyn brickyard_store::Store) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let parsed = url.parse().expect("a store URL");
        let store = brickyard_store::open(&parsed, &brickyard_store::EtcdOptions::default())
            .await
            .expect("open the store");
        f(store.as_ref()).await
    })
}

/// Makes exactly `hosts` (name, address) look live, as their agents' liveness records do.
fn set_live(url: &str, hosts: &[(&str, &str)]) {
    with_store(url, async |store| {
        for e in store
            .list(brickyard_model::keys::STATUS_PREFIX)
            .await
            .expect("list agents")
        {
            store.delete(&e.key).await.expect("remove an agent");
        }
        for (host, ip) in hosts {
            let agent = brickyard_model::records::agent::AgentStatus {
                schema: 1,
                extra: Default::default(),
                host: (*host).into(),
                node_name: host.replace("atomic", "gluster"),
                ip: ip.parse().expect("an address"),
                uuid: None,
                state: brickyard_model::records::agent::AgentState::Running,
                glusterd_pid: None,
                glusterd_restarts: 0,
                peers: vec![],
                problems: vec![],
                version: "test".into(),
                started_at: 1,
                updated_at: 1,
                reconcile: Default::default(),
                // Every brick mount a config may list is mounted.
                bricks: (1..=8)
                    .map(|n| brickyard_model::records::agent::BrickSpace {
                        mount_point: format!("/gluster/brick{n}"),
                        size_bytes: 1 << 40,
                        free_bytes: 1 << 40,
                    })
                    .collect(),
                failed_disks: Vec::new(),
                heal_index: Default::default(),
                open_files: None,
            };
            let value = serde_json::to_vec(&agent).expect("JSON");
            store
                .put(&brickyard_model::keys::status_key(host), &value, None)
                .await
                .expect("write an agent's liveness");
        }
    });
}

/// The volume record stored under `name`, as JSON.
fn stored_volume(url: &str, name: &str) -> Option<Value> {
    with_store(url, async |store| {
        store
            .get(&brickyard_model::keys::volume_key(name))
            .await
            .expect("read the store")
            .map(|e| serde_json::from_slice(&e.value).expect("a JSON record"))
    })
}

/// Every route of the router, with each of its methods, is in the served document, and
/// the document has nothing the router does not serve.
fn check_every_route_documented(doc: &Value) {
    let mut served = std::collections::BTreeSet::new();
    for r in brickyard_api::routes() {
        for m in r.methods {
            served.insert((m.as_str().to_lowercase(), r.path.to_owned()));
        }
    }
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for key in item.as_object().expect("a path item").keys() {
            if key != "parameters" {
                documented.insert((key.clone(), path.clone()));
            }
        }
    }
    assert_eq!(documented, served);
}

fn python(args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .args(args)
        .output()
        .expect("run python3 (Debian's python3)")
}

/// Validates the document with openapi-spec-validator, then each answer against the
/// schema the document gives for it.
fn validate_openapi(doc: &Value, answers: &[(&str, Value)]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let doc_path = dir.path().join("openapi.json");
    std::fs::write(&doc_path, doc.to_string()).expect("write the document");
    let out = python(&[
        "-m",
        "openapi_spec_validator",
        &doc_path.display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named"),
        "openapi-spec-validator is missing; install it with: {VALIDATOR_PIP}\n{stderr}"
    );
    assert!(
        out.status.success(),
        "the OpenAPI document is invalid:\n{}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    // jsonschema comes with openapi-spec-validator; OpenAPI 3.1 schemas are JSON Schema
    // 2020-12, so the real answers can be checked against them directly.
    let script = r##"
import json, sys
from jsonschema import Draft202012Validator
doc = json.load(open(sys.argv[1]))
bad = 0
for name, path in zip(sys.argv[2::2], sys.argv[3::2]):
    schema = {"$ref": "#/components/schemas/" + name, "components": doc["components"]}
    for e in Draft202012Validator(schema).iter_errors(json.load(open(path))):
        bad += 1
        print(f"{name}: {list(e.absolute_path)}: {e.message}")
sys.exit(1 if bad else 0)
"##;
    let mut args = vec![
        "-c".to_owned(),
        script.to_owned(),
        doc_path.display().to_string(),
    ];
    for (i, (schema, value)) in answers.iter().enumerate() {
        let p = dir.path().join(format!("answer-{i}.json"));
        std::fs::write(&p, value.to_string()).expect("write an answer");
        args.push((*schema).to_owned());
        args.push(p.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = python(&args);
    assert!(
        out.status.success(),
        "answers do not match the OpenAPI schemas:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks every line of a Prometheus text exposition: `# HELP`/`# TYPE` lines, and samples
/// `name{labels} value` whose family was declared by a `# TYPE` line before them.
fn check_prometheus_text(text: &str) {
    let mut typed: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE NAME KIND");
            assert!(
                ["gauge", "counter", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            typed.push(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(rest.split_once(' ').is_some(), "{line}");
        } else {
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            let (series, value) = line.rsplit_once(' ').expect("NAME VALUE");
            value
                .parse::<f64>()
                .unwrap_or_else(|e| panic!("{line}: value: {e}"));
            let name = series.split('{').next().expect("a name");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{line}"
            );
            if let Some(labels) = series.strip_prefix(name) {
                if !labels.is_empty() {
                    assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
                    for pair in labels[1..labels.len() - 1].split(',') {
                        let (k, v) = pair.split_once('=').expect("label=value");
                        assert!(
                            !k.is_empty() && v.starts_with('"') && v.ends_with('"'),
                            "{line}"
                        );
                    }
                }
            }
            assert!(
                typed
                    .iter()
                    .any(|t| name == t || name.starts_with(&format!("{t}_"))),
                "{name} has no # TYPE line before it"
            );
        }
    }
}

/// Everything a client sees, over one store holding the two-host example.
fn exercise(store: &str) {
    load_two_hosts(store);
    let token_dir = tempfile::tempdir().expect("temp dir");
    let token_file = token_dir.path().join("token");
    write_secret(&token_file, &format!("{TOKEN}\n"));
    let server = Server::start(
        store,
        &["--token-file", &token_file.display().to_string()],
        &[],
    );

    let health = server.get("/healthz", None);
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));

    // Every route the router has, as the binary serves it: the token is needed, and
    // nothing is written without it.
    for route in brickyard_api::routes().into_iter().filter(|r| r.auth) {
        let path = route.path.replace("{name}", "gv0");
        for method in &route.methods {
            for bearer in [None, Some("not-the-token"), Some(&TOKEN[1..])] {
                let body = (*method == "POST").then_some(GV0);
                let a = server.send(method.as_str(), &path, bearer, body);
                assert_eq!(a.status, 401, "{method} {path} with {bearer:?}: {}", a.body);
                assert!(a.json()["error"].is_string(), "{}", a.body);
            }
        }
    }

    let hosts = server.get("/v1/hosts", Some(TOKEN));
    assert_eq!(hosts.status, 200, "{}", hosts.body);
    let hosts = hosts.json();
    let names: Vec<&str> = hosts["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert_eq!(names, ["atomic-1", "atomic-2"]);
    assert_eq!(hosts["hosts"][1]["ip_address"], "10.1.1.2/24");
    assert_eq!(hosts["hosts"][1]["agent"]["live"], false);

    let host = server.get("/v1/hosts/atomic-1", Some(TOKEN));
    assert_eq!(host.status, 200, "{}", host.body);
    assert_eq!(host.json(), hosts["hosts"][0]);
    let missing = server.get("/v1/hosts/atomic-7", Some(TOKEN));
    assert_eq!(missing.status, 404, "{}", missing.body);

    // No agent runs: the cluster is degraded, and that is a successful answer.
    let status = server.get("/v1/status", Some(TOKEN));
    assert_eq!(status.status, 200, "{}", status.body);
    let status = status.json();
    assert_eq!(status["healthy"], false);
    assert_eq!(status["hosts"].as_array().map(Vec::len), Some(2));
    assert!(
        status["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .any(|p| p == "host atomic-1 (10.1.1.1): no live agent"),
        "{status}"
    );

    let metrics = server.get("/metrics", Some(TOKEN));
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    check_prometheus_text(&metrics.body);
    for line in ["brickyard_hosts 2", "brickyard_hosts_agent_live 0"] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "{line}:\n{}",
            metrics.body
        );
    }

    // A volume: placement needs live agents, so both hosts get a liveness record.
    set_live(store, &[("atomic-1", "10.1.1.1"), ("atomic-2", "10.1.1.2")]);
    let created = server.send("POST", "/v1/volumes", Some(TOKEN), Some(GV0));
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("location"), Some("/v1/volumes/gv0"));
    let created = created.json();
    assert_eq!(stored_volume(store, "gv0").as_ref(), Some(&created));
    assert_eq!(created["bricks"].as_array().map(Vec::len), Some(2));
    let again = server.send("POST", "/v1/volumes", Some(TOKEN), Some(GV0));
    assert_eq!(again.status, 409, "{}", again.body);
    let unknown = server.send(
        "POST",
        "/v1/volumes",
        Some(TOKEN),
        Some(r#"{"name": "gv1", "replicas": 2}"#),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    let volumes = server.get("/v1/volumes", Some(TOKEN));
    assert_eq!(volumes.status, 200, "{}", volumes.body);
    let volumes = volumes.json();
    assert_eq!(volumes["volumes"][0]["record"], created);
    let stopped = server.send("POST", "/v1/volumes/gv0/stop", Some(TOKEN), None);
    assert_eq!(stopped.status, 202, "{}", stopped.body);
    assert_eq!(
        stored_volume(store, "gv0").map(|r| r["state"].clone()),
        Some("stopped".into())
    );
    // Without live agents gluster is not asked, so the answer does not depend on what
    // else runs on this machine.
    set_live(store, &[]);
    let detail = server.get("/v1/volumes/gv0", Some(TOKEN));
    assert_eq!(detail.status, 200, "{}", detail.body);
    let detail = detail.json();
    assert_eq!(detail["gluster_error"], "no live agent to ask");
    let deleted = server.send("DELETE", "/v1/volumes/gv0?force=false", Some(TOKEN), None);
    assert_eq!(deleted.status, 202, "{}", deleted.body);

    let doc = server.get("/openapi.json", Some(TOKEN));
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    check_every_route_documented(&doc);
    validate_openapi(
        &doc,
        &[
            ("Hosts", hosts.clone()),
            ("Host", hosts["hosts"][0].clone()),
            ("ClusterHealth", status.clone()),
            ("Error", missing.json()),
            ("VolumeRecord", created),
            ("Error", again.json()),
            ("Error", unknown.json()),
            ("Volumes", volumes),
            ("VolumeRecord", stopped.json()),
            ("VolumeDetail", detail),
            ("VolumeRecord", deleted.json()),
        ],
    );

    let (exit, log) = server.stop();
    assert!(exit.success(), "{exit}:\n{log}");
    assert!(
        log.contains("serving the REST API on http://127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains("path=\"/v1/status\" status=200"), "{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(
        !log.contains(TOKEN),
        "the token must never be logged:\n{log}"
    );
}

#[test]
fn serves_the_embedded_store() {
    let store = TempStore::new();
    exercise(&store.url());
}

#[test]
fn serves_etcd() {
    let etcd = Etcd::start();
    exercise(&etcd.url());
}

/// Extra arguments, environment, and what the refusal must say.
type Refusal<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn refuses_to_start_without_a_token() {
    let store = TempStore::new();
    let url = store.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty");
    write_secret(&empty, "\n");
    let shared = dir.path().join("shared");
    std::fs::write(&shared, format!("{TOKEN}\n")).expect("write");
    let shared = shared.display().to_string();
    let empty = empty.display().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let base = [
        "--store",
        url.as_str(),
        "serve",
        "--listen",
        listen.as_str(),
    ];
    let cases: [Refusal; 6] = [
        (&[], &[], "refusing to serve without authentication"),
        (&["--token-file", &empty], &[], "the API token is empty"),
        // A token anyone on the machine can read is no secret.
        (
            &["--token-file", &shared],
            &[],
            "lets others read it; run `chmod 600",
        ),
        // Mutual TLS to etcd needs both halves.
        (
            &["--etcd-key", &empty],
            &[("BRICKYARD_API_TOKEN", TOKEN)],
            "--etcd-key was given without --etcd-cert",
        ),
        (
            &[],
            &[("BRICKYARD_API_TOKEN", " ")],
            "the API token is empty",
        ),
        (
            &["--insecure-no-auth"],
            &[("BRICKYARD_API_TOKEN", TOKEN)],
            "drop one of them",
        ),
    ];
    for (extra, env, says) in cases {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (status, stderr) = run_expecting_exit(&args, env);
        assert!(!status.success(), "{args:?} started");
        assert!(
            stderr.contains(says),
            "{args:?}: expected {says:?} in:\n{stderr}"
        );
    }
}

#[test]
fn the_token_may_come_from_the_environment_and_auth_may_be_turned_off() {
    let store = TempStore::new();
    load_two_hosts(&store.url());

    let server = Server::start(&store.url(), &[], &[("BRICKYARD_API_TOKEN", TOKEN)]);
    assert_eq!(server.get("/v1/hosts", None).status, 401);
    assert_eq!(server.get("/v1/hosts", Some(TOKEN)).status, 200);
    let (exit, log) = server.stop();
    assert!(exit.success(), "{log}");

    let server = Server::start(&store.url(), &["--insecure-no-auth"], &[]);
    assert_eq!(server.get("/v1/hosts", None).status, 200);
    assert!(
        server.log().contains("WITHOUT authentication"),
        "{}",
        server.log()
    );
    let (exit, log) = server.stop();
    assert!(exit.success(), "{log}");
}

#[test]
fn serves_https_and_bounds_its_connections() {
    let store = TempStore::new();
    load_two_hosts(&store.url());
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .expect("a self-signed certificate");
    let cert_pem = cert.cert.pem();
    let cert_path = dir.path().join("tls.crt");
    let key_path = dir.path().join("tls.key");
    std::fs::write(&cert_path, &cert_pem).expect("write the certificate");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write the key");
    let (cert_s, key_s) = (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    );
    let token = dir.path().join("token");
    write_secret(&token, TOKEN);
    let token_s = token.display().to_string();

    // A key others may read is refused before anything listens.
    let listen = format!("127.0.0.1:{}", free_port());
    let (status, stderr) = run_expecting_exit(
        &[
            "--store",
            &store.url(),
            "serve",
            "--listen",
            &listen,
            "--token-file",
            &token_s,
            "--tls-cert",
            &cert_s,
            "--tls-key",
            &key_s,
        ],
        &[],
    );
    assert!(
        !status.success() && stderr.contains("the TLS key"),
        "{stderr}"
    );
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let args = [
        "--token-file",
        token_s.as_str(),
        "--tls-cert",
        cert_s.as_str(),
        "--tls-key",
        key_s.as_str(),
        "--max-connections",
        "2",
        "--header-timeout",
        "1",
    ];
    let server = Server::start_with_ca(&store.url(), &args, &[], Some(&cert_pem));
    let hosts = server.get("/v1/hosts", Some(TOKEN));
    assert_eq!(hosts.status, 200, "{}", hosts.body);
    assert!(server.log().contains("https://"), "{}", server.log());
    // Plain HTTP to the HTTPS port gets no answer.
    let plain = server.base.replace("https://", "http://");
    let refused = client(None).get(&format!("{plain}/healthz")).call();
    assert!(refused.is_err(), "{refused:?}");

    // Two idle connections hold both slots; the next request waits until one ends.
    let port = server.base.rsplit(':').next().expect("a port").to_owned();
    let addr = format!("127.0.0.1:{port}");
    let idle1 = TcpStream::connect(&addr).expect("connect");
    let idle2 = TcpStream::connect(&addr).expect("connect");
    std::thread::sleep(Duration::from_millis(300));
    let waiting = {
        // A new client: the server's own keeps a connection open (keep-alive), which a
        // request of it would reuse.
        let agent = client(Some(&cert_pem));
        let base = server.base.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let a = request(&agent, &base, "GET", "/healthz", None, None);
            (a.status, started.elapsed())
        })
    };
    // The server closes connections that send nothing within the header timeout (1 s),
    // which frees the slots: the waiting request is answered then.
    let (code, waited) = waiting.join().expect("the waiting request");
    assert_eq!(code, 200);
    assert!(
        waited >= Duration::from_millis(500),
        "answered after {waited:?}"
    );
    for mut idle in [idle1, idle2] {
        idle.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let mut buf = [0u8; 16];
        let n = std::io::Read::read(&mut idle, &mut buf).unwrap_or(0);
        assert_eq!(n, 0, "the server closed the idle connection");
    }
    let (exit, log) = server.stop();
    assert!(exit.success(), "{log}");
}

/// Whether each value is valid against the document's schema `name` (jsonschema, as for
/// the answers).
fn schema_accepts(doc: &Value, name: &str, values: &[Value]) -> Vec<bool> {
    let dir = tempfile::tempdir().expect("temp dir");
    let doc_path = dir.path().join("openapi.json");
    std::fs::write(&doc_path, doc.to_string()).expect("write the document");
    let values_path = dir.path().join("values.json");
    std::fs::write(&values_path, Value::Array(values.to_vec()).to_string()).expect("write");
    let script = r##"
import json, sys
from jsonschema import Draft202012Validator
doc = json.load(open(sys.argv[1]))
schema = {"$ref": "#/components/schemas/" + sys.argv[2], "components": doc["components"]}
v = Draft202012Validator(schema)
print(json.dumps([v.is_valid(x) for x in json.load(open(sys.argv[3]))]))
"##;
    let out = python(&[
        "-c",
        script,
        &doc_path.display().to_string(),
        name,
        &values_path.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON list of verdicts")
}

#[test]
fn a_request_the_document_allows_is_one_the_server_reads() {
    // A client generated from the document must not send what the server refuses as
    // malformed: every constraint the server enforces on a create is in the schema.
    let store = TempStore::new();
    load_two_hosts(&store.url());
    let server = Server::start(&store.url(), &[], &[("BRICKYARD_API_TOKEN", TOKEN)]);
    let doc = server.get("/openapi.json", Some(TOKEN)).json();
    use serde_json::json;
    let bodies = [
        json!({"name": "gv0"}),
        json!({"name": "gv0", "replica": 2, "arbiter": true}),
        json!({"name": "gv0", "disperse": 6, "redundancy": 2, "distribute": 2}),
        json!({"name": "gv0", "distribute": 4, "profile": "small-files"}),
        json!({"name": "../x"}),
        json!({"name": "gv0", "replica": 4}),
        json!({"name": "gv0", "replica": 3, "disperse": 3, "redundancy": 1}),
        json!({"name": "gv0", "disperse": 3}),
        json!({"name": "gv0", "redundancy": 1}),
        json!({"name": "gv0", "arbiter": true}),
        json!({"name": "gv0", "replica": 3, "arbiter": true}),
        json!({"name": "gv0", "distribute": 65}),
        json!({"name": "gv0", "disperse": 17, "redundancy": 1}),
        json!({"name": "gv0", "disperse": 4, "redundancy": 2}),
        json!({"name": "gv0", "disperse": 5, "redundancy": 2}),
        json!({"name": "gv0", "profile": "fast"}),
        json!({"name": "gv0", "size": 1}),
    ];
    let verdicts = schema_accepts(&doc, "CreateVolume", &bodies);
    for (body, allowed) in bodies.iter().zip(verdicts) {
        let answer = server.send("POST", "/v1/volumes", Some(TOKEN), Some(&body.to_string()));
        // Without live hosts a well-formed request is 422 (no room), never 400.
        let read = answer.status != 400;
        assert_eq!(
            allowed,
            read,
            "{body}: the document {} it, the server answered {} {}",
            if allowed { "allows" } else { "refuses" },
            answer.status,
            answer.body
        );
    }
}
