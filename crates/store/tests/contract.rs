//! The Store contract, checked on both stores: the embedded file store and a real etcd.
//!
//! Each check is one async function over `&dyn Store`; every test runs it on both.

use std::sync::Arc;
use std::time::Duration;

use brickyard_store::{
    EtcdOptions, EtcdStore, Expect, FileStore, Lock, Op, Store, StoreError, Timeouts, Txn,
    WatchEvent,
};
use brickyard_testkit::{Etcd, TempStore};

struct Both {
    _etcd: Etcd,
    _dir: TempStore,
    stores: Vec<Arc<dyn Store>>,
}

async fn both() -> Both {
    let etcd = Etcd::start();
    let dir = TempStore::new();
    let file: Arc<dyn Store> = Arc::new(FileStore::open(dir.path()).expect("open file store"));
    let etcd_store: Arc<dyn Store> = Arc::new(
        EtcdStore::connect(EtcdOptions {
            endpoints: vec![etcd.endpoint.clone()],
            ..EtcdOptions::default()
        })
        .await
        .expect("connect to the test etcd"),
    );
    Both {
        _etcd: etcd,
        _dir: dir,
        stores: vec![file, etcd_store],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_put_delete_list() {
    let b = both().await;
    for s in &b.stores {
        let s = s.as_ref();
        let ep = s.endpoint();
        assert_eq!(s.get("gluster/config/a").await.expect("get"), None, "{ep}");
        s.put("gluster/config/a", b"{\"x\":1}", None)
            .await
            .expect("put");
        s.put("gluster/config/b", b"two", None).await.expect("put");
        s.put("gluster/other/c", b"three", None).await.expect("put");
        let a = s
            .get("gluster/config/a")
            .await
            .expect("get")
            .expect("present");
        assert_eq!(a.value, b"{\"x\":1}", "{ep}");
        assert!(
            a.create_revision > 0 && a.mod_revision >= a.create_revision,
            "{ep}"
        );
        let keys: Vec<String> = s
            .list("gluster/config/")
            .await
            .expect("list")
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["gluster/config/a", "gluster/config/b"], "{ep}");
        // Binary values survive too.
        s.put("gluster/bin", &[0, 159, 146, 150], None)
            .await
            .expect("put binary");
        assert_eq!(
            s.get("gluster/bin")
                .await
                .expect("get")
                .expect("present")
                .value,
            [0, 159, 146, 150],
            "{ep}"
        );
        assert!(s.delete("gluster/config/a").await.expect("delete"), "{ep}");
        assert!(!s.delete("gluster/config/a").await.expect("delete"), "{ep}");
        assert_eq!(s.get("gluster/config/a").await.expect("get"), None, "{ep}");
        // An update keeps the create revision and moves the mod revision.
        let before = s
            .get("gluster/config/b")
            .await
            .expect("get")
            .expect("present");
        s.put("gluster/config/b", b"2", None).await.expect("put");
        let after = s
            .get("gluster/config/b")
            .await
            .expect("get")
            .expect("present");
        assert_eq!(after.create_revision, before.create_revision, "{ep}");
        assert!(after.mod_revision > before.mod_revision, "{ep}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_are_refused() {
    let b = both().await;
    for s in &b.stores {
        for key in ["../etc/passwd", "a//b", "a b", "/abs", ""] {
            let err = s.put(key, b"x", None).await.expect_err(key);
            assert!(matches!(err, StoreError::BadKey { .. }), "{key}: {err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_and_transactions() {
    let b = both().await;
    for s in &b.stores {
        let s = s.as_ref();
        let ep = s.endpoint();
        assert!(
            s.compare_and_swap("k", Expect::Absent, b"1", None)
                .await
                .expect("cas"),
            "{ep}"
        );
        assert!(
            !s.compare_and_swap("k", Expect::Absent, b"2", None)
                .await
                .expect("cas"),
            "{ep}"
        );
        let e = s.get("k").await.expect("get").expect("present");
        assert!(
            !s.compare_and_swap("k", Expect::ModRevision(e.mod_revision - 1), b"3", None)
                .await
                .expect("cas"),
            "{ep}"
        );
        assert!(
            s.compare_and_swap("k", Expect::ModRevision(e.mod_revision), b"4", None)
                .await
                .expect("cas"),
            "{ep}"
        );
        assert_eq!(
            s.get("k").await.expect("get").expect("present").value,
            b"4",
            "{ep}"
        );

        // A failed guard applies nothing, even the ops on other keys.
        let applied = s
            .commit(Txn {
                guards: vec![("k".into(), Expect::Absent)],
                ops: vec![
                    Op::Put {
                        key: "t1".into(),
                        value: b"x".to_vec(),
                        lease: None,
                    },
                    Op::Delete { key: "k".into() },
                ],
            })
            .await
            .expect("commit");
        assert!(!applied, "{ep}");
        assert_eq!(s.get("t1").await.expect("get"), None, "{ep}");
        assert!(s.get("k").await.expect("get").is_some(), "{ep}");

        // A passing guard applies everything at one revision.
        let applied = s
            .commit(Txn {
                guards: vec![("t1".into(), Expect::Absent)],
                ops: vec![
                    Op::Put {
                        key: "t1".into(),
                        value: b"x".to_vec(),
                        lease: None,
                    },
                    Op::Put {
                        key: "t2".into(),
                        value: b"y".to_vec(),
                        lease: None,
                    },
                    Op::Delete { key: "k".into() },
                ],
            })
            .await
            .expect("commit");
        assert!(applied, "{ep}");
        let t1 = s.get("t1").await.expect("get").expect("t1");
        let t2 = s.get("t2").await.expect("get").expect("t2");
        assert_eq!(t1.mod_revision, t2.mod_revision, "{ep}");
        assert_eq!(s.get("k").await.expect("get"), None, "{ep}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_key_have_one_winner() {
    let b = both().await;
    for s in &b.stores {
        let mut tasks = Vec::new();
        for i in 0..20u8 {
            let s = Arc::clone(s);
            tasks.push(tokio::spawn(async move {
                s.compare_and_swap("gluster/volumes/one", Expect::Absent, &[i], None)
                    .await
                    .expect("cas")
            }));
        }
        let mut winners = 0;
        for t in tasks {
            if t.await.expect("task") {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "{}", s.endpoint());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_expire_and_can_be_kept_alive_or_revoked() {
    let b = both().await;
    let ttl = Duration::from_secs(5);
    let mut expiring = Vec::new();
    for s in &b.stores {
        let s = s.as_ref();
        let ep = s.endpoint();
        // Revoking removes the lease's keys at once.
        let l = s.grant_lease(ttl).await.expect("grant");
        s.put("gluster/status/h1", b"up", Some(l))
            .await
            .expect("put");
        assert_eq!(
            s.get("gluster/status/h1")
                .await
                .expect("get")
                .expect("present")
                .lease,
            Some(l),
            "{ep}"
        );
        s.revoke_lease(l).await.expect("revoke");
        assert_eq!(s.get("gluster/status/h1").await.expect("get"), None, "{ep}");
        let err = s.keep_alive(l).await.expect_err("lease is gone");
        assert!(matches!(err, StoreError::LeaseGone(_)), "{ep}: {err}");
        let err = s
            .put("gluster/status/h1", b"up", Some(l))
            .await
            .expect_err("put on a revoked lease");
        assert!(matches!(err, StoreError::LeaseGone(_)), "{ep}: {err}");

        // One lease is kept alive, the other left to expire.
        let kept = s.grant_lease(ttl).await.expect("grant");
        let left = s.grant_lease(ttl).await.expect("grant");
        s.put("gluster/status/kept", b"up", Some(kept))
            .await
            .expect("put");
        s.put("gluster/status/left", b"up", Some(left))
            .await
            .expect("put");
        expiring.push((s, kept));
    }
    // Past one TTL, renewing `kept` every second.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (s, kept) in &expiring {
            s.keep_alive(*kept).await.expect("keep alive");
        }
    }
    for (s, _) in &expiring {
        let ep = s.endpoint();
        assert!(
            s.get("gluster/status/kept").await.expect("get").is_some(),
            "{ep}"
        );
        assert_eq!(
            s.get("gluster/status/left").await.expect("get"),
            None,
            "{ep}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sees_puts_and_deletes_under_its_prefix() {
    let b = both().await;
    for s in &b.stores {
        let s = s.as_ref();
        let ep = s.endpoint();
        let mut w = s.watch("gluster/volumes/").await.expect("watch");
        s.put("gluster/other", b"ignored", None).await.expect("put");
        s.put("gluster/volumes/gv0", b"v1", None)
            .await
            .expect("put");
        let ev = tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .expect("an event within 5s")
            .expect("watch open")
            .expect("no error");
        match ev {
            WatchEvent::Put(e) => {
                assert_eq!(e.key, "gluster/volumes/gv0", "{ep}");
                assert_eq!(e.value, b"v1", "{ep}");
            }
            other => panic!("{ep}: unexpected {other:?}"),
        }
        s.delete("gluster/volumes/gv0").await.expect("delete");
        let ev = tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .expect("an event within 5s")
            .expect("watch open")
            .expect("no error");
        assert_eq!(
            ev,
            WatchEvent::Delete {
                key: "gluster/volumes/gv0".into()
            },
            "{ep}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_backed_lock_has_one_holder_and_fences_a_lost_one() {
    let b = both().await;
    for s in &b.stores {
        let s = s.as_ref();
        let ep = s.endpoint();
        let l1 = s.grant_lease(Duration::from_secs(5)).await.expect("grant");
        let l2 = s.grant_lease(Duration::from_secs(5)).await.expect("grant");
        let a = Lock::new("pool", "host-a");
        let bb = Lock::new("pool", "host-b");
        let held = a.try_acquire(s, l1).await.expect("acquire");
        assert!(held.is_some(), "{ep}");
        assert_eq!(bb.try_acquire(s, l2).await.expect("acquire"), None, "{ep}");
        assert_eq!(
            a.holder(s).await.expect("holder").as_deref(),
            Some("host-a"),
            "{ep}"
        );
        // The same lease takes it again: the same hold, the same fence.
        assert_eq!(a.try_acquire(s, l1).await.expect("again"), held, "{ep}");
        // The same name under another lease is another holder (an agent and a `node
        // bootstrap` beside it, or two agents given the same --host): it does not lead.
        let l3 = s.grant_lease(Duration::from_secs(5)).await.expect("grant");
        let twin = Lock::new("pool", "host-a");
        assert_eq!(twin.try_acquire(s, l3).await.expect("twin"), None, "{ep}");
        // Releasing by a non-holder does nothing.
        bb.release(s, l2).await.expect("release");
        twin.release(s, l3).await.expect("release");
        assert_eq!(
            a.holder(s).await.expect("holder").as_deref(),
            Some("host-a"),
            "{ep}"
        );
        let held = held.expect("held");
        let fenced_write = |value: &'static [u8]| Txn {
            guards: vec![held.guard()],
            ops: vec![Op::Put {
                key: "test/fenced".into(),
                value: value.to_vec(),
                lease: None,
            }],
        };
        assert!(s.commit(fenced_write(b"1")).await.expect("commit"), "{ep}");
        // The holder's lease lapses and another takes over: the first holder's writes fail.
        s.revoke_lease(l1).await.expect("revoke");
        assert_eq!(a.holder(s).await.expect("holder"), None, "{ep}");
        assert!(!held.still_held(s).await.expect("ask"), "{ep}");
        assert!(
            bb.try_acquire(s, l2).await.expect("acquire").is_some(),
            "{ep}"
        );
        assert!(!s.commit(fenced_write(b"2")).await.expect("commit"), "{ep}");
        assert_eq!(
            s.get("test/fenced").await.expect("get").map(|e| e.value),
            Some(b"1".to_vec()),
            "{ep}"
        );
        s.revoke_lease(l2).await.expect("revoke");
        s.revoke_lease(l3).await.expect("revoke");
        s.delete("test/fenced").await.expect("delete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_etcd_fails_fast_with_the_endpoint() {
    let port = brickyard_testkit::free_port();
    let start = std::time::Instant::now();
    let store = EtcdStore::connect(EtcdOptions {
        endpoints: vec![format!("127.0.0.1:{port}")],
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(2),
        },
        ..EtcdOptions::default()
    })
    .await
    .expect("connecting is lazy");
    let err = store
        .get("gluster/config/x")
        .await
        .expect_err("nothing listens there");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

/// Several processes' worth of writers on one file store directory: each opens its own
/// handle, as separate agents on one machine do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_is_safe_for_many_writers() {
    let dir = TempStore::new();
    let mut threads = Vec::new();
    for t in 0..8 {
        let path = dir.path().to_owned();
        threads.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let s = FileStore::open(&path).expect("open");
                for i in 0..25 {
                    s.put(&format!("w/{t}/{i}"), format!("{t}-{i}").as_bytes(), None)
                        .await
                        .expect("put");
                    // A counter updated by read-modify-write under CAS.
                    loop {
                        let cur = s.get("counter").await.expect("get");
                        let (n, expect) = match &cur {
                            Some(e) => (
                                String::from_utf8_lossy(&e.value)
                                    .parse::<u64>()
                                    .expect("number"),
                                Expect::ModRevision(e.mod_revision),
                            ),
                            None => (0, Expect::Absent),
                        };
                        if s.compare_and_swap(
                            "counter",
                            expect,
                            (n + 1).to_string().as_bytes(),
                            None,
                        )
                        .await
                        .expect("cas")
                        {
                            break;
                        }
                    }
                }
            });
        }));
    }
    for t in threads {
        t.join().expect("writer thread");
    }
    let s = FileStore::open(dir.path()).expect("open");
    assert_eq!(s.list("w/").await.expect("list").len(), 200);
    assert_eq!(
        s.get("counter").await.expect("get").expect("counter").value,
        b"200"
    );
    // No temporary or journal files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("kv"))
        .expect("kv dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!dir.path().join("journal.json").exists());
}

/// A transaction interrupted after its journal was written is completed by the next reader
/// or writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_completes_an_interrupted_transaction() {
    let dir = TempStore::new();
    let s = FileStore::open(dir.path()).expect("open");
    s.put("a", b"old", None).await.expect("put");
    // What a writer that died between journal and apply leaves behind.
    let journal = serde_json::json!({
        "revision": 7,
        "changes": [
            ["a", {"create_revision": 1, "mod_revision": 7, "value": "new"}],
            ["b", {"create_revision": 7, "mod_revision": 7, "value": "also"}]
        ]
    });
    std::fs::write(dir.path().join("journal.json"), journal.to_string()).expect("write journal");
    // A reader completes it too: it never sees the transaction half applied.
    assert_eq!(s.get("b").await.expect("get").expect("b").value, b"also");
    assert!(!dir.path().join("journal.json").exists());
    s.put("c", b"next", None).await.expect("put after a crash");
    assert_eq!(s.get("a").await.expect("get").expect("a").value, b"new");
    assert_eq!(s.get("b").await.expect("get").expect("b").value, b"also");
    assert_eq!(s.get("c").await.expect("get").expect("c").mod_revision, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sees_a_lapsed_lease_and_many_quick_changes() {
    let b = both().await;
    for s in &b.stores {
        let s = s.as_ref();
        let ep = s.endpoint();
        let mut w = s.watch("gluster/status/").await.expect("watch");
        let l = s.grant_lease(Duration::from_secs(2)).await.expect("grant");
        s.put("gluster/status/gone", b"up", Some(l))
            .await
            .expect("put");
        // Changes in a burst: the watch reports the last value of each key.
        for i in 0..50 {
            s.put("gluster/status/busy", format!("{i}").as_bytes(), None)
                .await
                .expect("put");
        }
        let mut busy_last = Vec::new();
        let mut gone = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !(gone && busy_last == b"49") {
            let ev = tokio::time::timeout_at(deadline, w.next())
                .await
                .unwrap_or_else(|_| panic!("{ep}: no lapse or last value within 15s"))
                .expect("watch open")
                .expect("no error");
            match ev {
                WatchEvent::Put(e) if e.key == "gluster/status/busy" => busy_last = e.value,
                WatchEvent::Put(_) => {}
                WatchEvent::Delete { key } => {
                    assert_eq!(key, "gluster/status/gone", "{ep}");
                    gone = true;
                }
            }
        }
    }
}
