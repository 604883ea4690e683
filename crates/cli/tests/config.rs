//! `brickyard config ...` end to end, on the embedded store and a real etcd.

use std::path::Path;

use brickyard_testkit::{Etcd, Run, TempStore, repo_root, run};

const BIN: &str = env!("CARGO_BIN_EXE_brickyard");

fn by(store: &str, args: &[&str]) -> Run {
    let mut all = vec!["--store", store];
    all.extend_from_slice(args);
    run(BIN, &all, &[])
}

fn example(path: &str) -> String {
    repo_root()
        .join("examples")
        .join(path)
        .display()
        .to_string()
}

/// A valid config for a third host joining the two-host example.
fn host9() -> serde_json::Value {
    serde_json::json!({
        "HostName": "atomic-9",
        "GlusterNodeName": "gluster-9",
        "IPAddress": "10.1.1.9/24",
        "BrickDevice": "/dev/sdb",
        "ZapDevice": "false",
        "PeerList": [ { "IP": "10.1.1.1" }, { "IP": "10.1.1.2" } ]
    })
}

fn with(field: &str, value: serde_json::Value) -> String {
    let mut v = host9();
    v[field] = value;
    v.to_string()
}

fn without(field: &str) -> String {
    let mut v = host9();
    v.as_object_mut().expect("object").remove(field);
    v.to_string()
}

/// One malformed input: the files to load, and the one error it must produce.
struct Case {
    name: &'static str,
    files: Vec<(&'static str, String)>,
    field: &'static str,
    says: &'static str,
}

fn cases() -> Vec<Case> {
    use serde_json::json;
    let c = |name, files: Vec<(&'static str, String)>, field, says| Case {
        name,
        files,
        field,
        says,
    };
    let one = |s: String| vec![("atomic-9.json", s)];
    let twin = |field: &str, value: serde_json::Value| {
        let mut other = host9();
        other["HostName"] = json!("atomic-10");
        other["GlusterNodeName"] = json!("gluster-10");
        other["IPAddress"] = json!("10.1.1.10/24");
        other[field] = value;
        vec![
            ("atomic-9.json", host9().to_string()),
            ("atomic-10.json", other.to_string()),
        ]
    };
    vec![
        c(
            "bad JSON",
            one("{ \"HostName\": \"atomic-9\" \"IPAddress\": 1 }".into()),
            "",
            "not valid JSON at line 1",
        ),
        c(
            "truncated JSON",
            one(host9().to_string()[..40].to_owned()),
            "",
            "not valid JSON",
        ),
        c("not an object", one("[1, 2]".into()), "", "not an object"),
        c(
            "HostName missing",
            one(without("HostName")),
            "HostName",
            "is missing",
        ),
        c(
            "HostName with underscore",
            one(with("HostName", json!("atomic_9"))),
            "HostName",
            "not a valid host name",
        ),
        c(
            "HostName a number",
            one(with("HostName", json!(9))),
            "HostName",
            "not a string",
        ),
        c(
            "GlusterNodeName bad",
            one(with("GlusterNodeName", json!("-gluster"))),
            "GlusterNodeName",
            "not a valid host name",
        ),
        c(
            "IPAddress without prefix",
            one(with("IPAddress", json!("10.1.1.9"))),
            "IPAddress",
            "no prefix length",
        ),
        c(
            "IPAddress bad octet",
            one(with("IPAddress", json!("10.1.1.300/24"))),
            "IPAddress",
            "not an IPv4 or IPv6 address",
        ),
        c(
            "IPAddress bad prefix",
            one(with("IPAddress", json!("10.1.1.9/33"))),
            "IPAddress",
            "not an IPv4 or IPv6 address",
        ),
        c(
            "IPAddress loopback",
            one(with("IPAddress", json!("127.0.0.9/8"))),
            "IPAddress",
            "loopback",
        ),
        c(
            "IPAddress network address",
            one(with("IPAddress", json!("10.1.1.0/24"))),
            "IPAddress",
            "network address",
        ),
        c(
            "IPAddress a number",
            one(with("IPAddress", json!(10))),
            "IPAddress",
            "not a string",
        ),
        c(
            "BrickDevice relative",
            one(with("BrickDevice", json!("sdb"))),
            "BrickDevice",
            "not an absolute path",
        ),
        c(
            "BrickDevice escaping",
            one(with("BrickDevice", json!("/dev/../etc/passwd"))),
            "BrickDevice",
            "normal form",
        ),
        c(
            "BrickDevice with shell syntax",
            one(with("BrickDevice", json!("/dev/sdb;reboot"))),
            "BrickDevice",
            "contains ';'",
        ),
        c(
            "BrickDevice missing",
            one(without("BrickDevice")),
            "BrickDevice",
            "is missing",
        ),
        c(
            "ZapDevice yes",
            one(with("ZapDevice", json!("yes"))),
            "ZapDevice",
            "neither true nor false",
        ),
        c(
            "ZapDevice number",
            one(with("ZapDevice", json!(1))),
            "ZapDevice",
            "neither true nor false",
        ),
        c(
            "PeerList a string",
            one(with("PeerList", json!("10.1.1.1"))),
            "PeerList",
            "not an array",
        ),
        c(
            "peer with prefix",
            one(with("PeerList", json!([{"IP": "10.1.1.1/24"}]))),
            "PeerList[0].IP",
            "not an IP address",
        ),
        c(
            "peer without IP",
            one(with("PeerList", json!([{"Ip": "10.1.1.1"}]))),
            "PeerList[0].IP",
            "is missing",
        ),
        c(
            "peer is itself",
            one(with("PeerList", json!([{"IP": "10.1.1.9"}]))),
            "PeerList[0].IP",
            "never lists itself",
        ),
        c(
            "peer twice",
            one(with(
                "PeerList",
                json!([{"IP": "10.1.1.1"}, {"IP": "10.1.1.1"}]),
            )),
            "PeerList[1].IP",
            "listed twice",
        ),
        c(
            "Zone with a space",
            one(with("Zone", json!("rack 1"))),
            "Zone",
            "not a valid zone",
        ),
        c(
            "the same disk twice",
            one(with("ExtraBrickDevices", json!(["/dev/sdc", "/dev/sdb"]))),
            "ExtraBrickDevices[1]",
            "is the same device as BrickDevice",
        ),
        c(
            "ExtraBrickDevices a string",
            one(with("ExtraBrickDevices", json!("/dev/sdc"))),
            "ExtraBrickDevices",
            "not an array",
        ),
        c(
            "duplicate IP across files",
            twin("IPAddress", json!("10.1.1.9/24")),
            "IPAddress",
            "also the IPAddress of host atomic-9",
        ),
        c(
            "duplicate node name across files",
            twin("GlusterNodeName", json!("gluster-9")),
            "GlusterNodeName",
            "also the GlusterNodeName",
        ),
        c(
            "duplicate HostName across files",
            twin("HostName", json!("atomic-9")),
            "HostName",
            "also the HostName of",
        ),
        c(
            "IP of a host already in the store",
            one({
                let mut v = host9();
                v["IPAddress"] = json!("10.1.1.2/24");
                v["PeerList"] = json!([{"IP": "10.1.1.1"}]);
                v.to_string()
            }),
            "IPAddress",
            "also the IPAddress of host atomic-2",
        ),
    ]
}

/// What the store holds, compared before and after a refused load.
fn snapshot(store: &str) -> String {
    by(store, &["config", "list", "--output", "json"])
        .ok()
        .stdout
}

fn check_refused(store: &str, dir: &Path) {
    let before = snapshot(store);
    assert!(
        before.contains("atomic-1"),
        "the store starts with the example cluster"
    );
    let cases = cases();
    assert!(cases.len() >= 20);
    for case in cases {
        let case_dir = dir.join(case.name.replace(' ', "-"));
        std::fs::create_dir_all(&case_dir).expect("case dir");
        let mut args = vec!["config".to_owned(), "load".to_owned()];
        for (name, body) in &case.files {
            let p = case_dir.join(name);
            std::fs::write(&p, body).expect("write case file");
            args.push(p.display().to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = by(store, &args).fails();
        let errors: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: ") && !l.contains("nothing was written"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "case {:?} must give exactly one error:\n{r}",
            case.name
        );
        let line = errors[0];
        let needle = if case.field.is_empty() {
            ".json: ".to_owned()
        } else {
            format!(".json: {}", case.field)
        };
        assert!(
            line.contains(&needle),
            "case {:?}: field not named:\n{r}",
            case.name
        );
        assert!(
            line.contains(case.says),
            "case {:?}: expected {:?}:\n{r}",
            case.name,
            case.says
        );
        assert!(
            r.stderr.contains("nothing was written"),
            "case {:?}: must say nothing was written:\n{r}",
            case.name
        );
        assert_eq!(
            snapshot(store),
            before,
            "case {:?} changed the store",
            case.name
        );
    }
}

#[test]
fn malformed_configs_are_refused_and_leave_both_stores_unchanged() {
    let etcd = Etcd::start();
    let file = TempStore::new();
    let work = tempfile::tempdir().expect("temp dir");
    for store in [file.url(), etcd.url()] {
        by(&store, &["config", "load", &example("two-hosts")]).ok();
        check_refused(&store, work.path());
    }
    // The file store's files are untouched too, not just what list shows.
    let kv: Vec<_> = std::fs::read_dir(file.path().join("kv"))
        .expect("kv dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(kv.len(), 2, "{kv:?}");
}

#[test]
fn one_bad_file_among_good_ones_writes_nothing() {
    let store = TempStore::new();
    let work = tempfile::tempdir().expect("temp dir");
    let bad = work.path().join("bad.json");
    std::fs::write(&bad, with("IPAddress", serde_json::json!("10.1.1.9"))).expect("write");
    let r = by(
        &store.url(),
        &[
            "config",
            "load",
            &example("two-hosts/atomic-1.json"),
            &example("two-hosts/atomic-2.json"),
            &bad.display().to_string(),
        ],
    )
    .fails();
    assert!(r.stderr.contains("nothing was written"), "{r}");
    let list = by(&store.url(), &["config", "list", "--output", "json"]).ok();
    assert_eq!(list.stdout.trim(), "[]", "{list}");
}

#[test]
fn the_seed_config_round_trips_through_etcd_exactly() {
    let etcd = Etcd::start();
    let seed = example("two-hosts/atomic-1.json");
    let original = std::fs::read(&seed).expect("read the example");
    // Loading one host of a pair warns about the peer not loaded yet, and still loads.
    let r = by(&etcd.url(), &["config", "load", &seed]).ok();
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains("PeerList[0].IP"),
        "{r}"
    );
    let out = etcd.etcdctl(&["get", "gluster/config/atomic-1", "--print-value-only"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // etcdctl adds one newline after the value.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", String::from_utf8_lossy(&original))
    );
    let got = by(&etcd.url(), &["config", "get", "atomic-1"]).ok();
    assert_eq!(got.stdout.as_bytes(), original.as_slice());
    // The seed's KV_IP variable reaches the same etcd when no --store is given.
    let via_kv_ip = run(
        BIN,
        &["config", "get", "atomic-1"],
        &[("KV_IP", &etcd.endpoint)],
    )
    .ok();
    assert_eq!(via_kv_ip.stdout.as_bytes(), original.as_slice());
}

#[test]
fn unknown_fields_and_zap_spelling_survive_a_round_trip() {
    let store = TempStore::new();
    let work = tempfile::tempdir().expect("temp dir");
    let mut v = host9();
    v["ZapDevice"] = serde_json::json!(true);
    v["Owner"] = serde_json::json!({"team": "storage", "ticket": 42});
    let text = serde_json::to_string_pretty(&v).expect("json");
    let f = work.path().join("atomic-9.json");
    std::fs::write(&f, &text).expect("write");
    by(&store.url(), &["config", "load", &f.display().to_string()]).ok();
    let got = by(&store.url(), &["config", "get", "atomic-9"]).ok();
    assert_eq!(got.stdout.trim_end(), text);
    let list = by(&store.url(), &["config", "list", "-o", "json"]).ok();
    let parsed: serde_json::Value = serde_json::from_str(&list.stdout).expect("json list");
    assert_eq!(parsed[0]["config"]["Owner"]["ticket"], 42);
    assert_eq!(parsed[0]["config"]["ZapDevice"], true);
}

#[test]
fn validate_reports_and_exits_non_zero_only_on_errors() {
    let ok = run(BIN, &["config", "validate", &example("four-hosts")], &[]).ok();
    assert!(
        ok.stdout
            .contains("4 file(s) checked: 0 error(s), 0 warning(s)"),
        "{ok}"
    );
    let work = tempfile::tempdir().expect("temp dir");
    let other_net = work.path().join("atomic-9.json");
    std::fs::write(
        &other_net,
        with("IPAddress", serde_json::json!("10.2.0.9/24")),
    )
    .expect("write");
    // A host in another subnet is reported, but is not an error.
    let warn = run(
        BIN,
        &[
            "config",
            "validate",
            &example("two-hosts"),
            &other_net.display().to_string(),
        ],
        &[],
    )
    .ok();
    assert!(
        warn.stderr
            .contains("is in subnet 10.2.0.0/24, while 2 host(s) are in 10.1.1.0/24"),
        "{warn}"
    );
    let json = run(
        BIN,
        &[
            "config",
            "validate",
            "-o",
            "json",
            &other_net.display().to_string(),
        ],
        &[],
    )
    .ok();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(v["errors"], 0);
    assert_eq!(v["warnings"], 2, "{json}");
    let bad = work.path().join("bad.json");
    std::fs::write(&bad, "{").expect("write");
    let r = run(
        BIN,
        &["config", "validate", &bad.display().to_string()],
        &[],
    )
    .fails();
    assert!(r.stderr.contains("bad.json: not valid JSON"), "{r}");
}

#[test]
fn get_delete_and_a_missing_host() {
    let store = TempStore::new();
    let s = store.url();
    by(&s, &["config", "load", &example("four-hosts")]).ok();
    let table = by(&s, &["config", "list"]).ok();
    assert!(table.stdout.starts_with("HOST"), "{table}");
    assert!(
        table
            .stdout
            .contains("atomic-3  gluster-3  10.1.1.3/24  /dev/sdb,/dev/sdc  rack-2"),
        "{table}"
    );
    by(&s, &["config", "delete", "atomic-4"]).ok();
    let r = by(&s, &["config", "get", "atomic-4"]).fails();
    assert!(r.stderr.contains("no config for host atomic-4"), "{r}");
    by(&s, &["config", "delete", "atomic-4"]).fails();
    let r = by(&s, &["config", "get", "../../etc"]).fails();
    assert!(
        r.stderr.contains("not a valid") || r.stderr.contains("host name"),
        "{r}"
    );
    // Loading the same files again changes nothing.
    let again = by(
        &s,
        &["config", "load", &example("four-hosts/atomic-1.json")],
    )
    .ok();
    assert!(again.stdout.contains("unchanged atomic-1"), "{again}");
}

#[test]
fn an_unreachable_store_fails_in_bounded_time_naming_the_endpoint() {
    let port = brickyard_testkit::free_port();
    let url = format!("etcd://127.0.0.1:{port}");
    let start = std::time::Instant::now();
    let r = by(&url, &["config", "list"]).fails();
    assert!(
        start.elapsed() < std::time::Duration::from_secs(15),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        r.stderr
            .contains(&format!("127.0.0.1:{port} is unreachable")),
        "{r}"
    );
    assert!(r.stderr.contains("check that etcd is running"), "{r}");
    let r = by("etcd://", &["config", "list"]).fails();
    assert!(r.stderr.contains("no endpoint"), "{r}");
    let r = by("file://relative", &["config", "list"]).fails();
    assert!(r.stderr.contains("absolute directory"), "{r}");
}

#[test]
fn many_processes_load_into_one_file_store() {
    let store = TempStore::new();
    let work = tempfile::tempdir().expect("temp dir");
    let url = store.url();
    let children: Vec<_> = (1..=12)
        .map(|i| {
            let mut v = host9();
            v["HostName"] = serde_json::json!(format!("h-{i}"));
            v["GlusterNodeName"] = serde_json::json!(format!("g-{i}"));
            v["IPAddress"] = serde_json::json!(format!("10.9.0.{i}/24"));
            v["PeerList"] = serde_json::json!([]);
            let f = work.path().join(format!("h-{i}.json"));
            std::fs::write(&f, v.to_string()).expect("write");
            std::process::Command::new(BIN)
                .args(["--store", &url, "config", "load", &f.display().to_string()])
                .output()
        })
        .collect();
    for c in children {
        let out = c.expect("run brickyard");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = by(&url, &["config", "list", "-o", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(12));
}
