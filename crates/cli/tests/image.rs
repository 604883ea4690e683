//! The node agent's image on a real lab (root, podman): `scripts/image.sh` builds an image
//! from this build's binary, `lab up --runtime image` runs every host's `host prepare` and
//! `node run` in containers of it, joined to the hosts' networks with their directories
//! bind-mounted, as the first seed deployed gluster. The pool forms, a replica-3 volume serves
//! a file through FUSE, and a host whose container is killed with `podman kill` comes back
//! with the same gluster UUID and its brick mounted.
//!
//! The image is tagged for this test and removed at the end, as is the lab, also when the test
//! fails. The base image the script imports (`localhost/brickyard-base:<hash>`) and its cached
//! root file system stay: they are the build cache every `make image` shares.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brickyard_testkit::{Run, repo_root, run};

const BIN: &str = env!("CARGO_BIN_EXE_brickyard");
const LAB: &str = "bytimg";

fn by(args: &[&str]) -> Run {
    run(BIN, args, &[])
}

fn lab(cmd: &str, rest: &[&str]) -> Run {
    let mut v = vec!["lab", cmd, "--name", LAB];
    v.extend_from_slice(rest);
    by(&v)
}

/// Runs a command inside lab host `index` (its container).
fn on_host(index: usize, argv: &[&str]) -> Run {
    let i = index.to_string();
    let mut rest = vec![i.as_str(), "--"];
    rest.extend_from_slice(argv);
    lab("exec", &rest)
}

/// Removes the lab, the FUSE mount and the test's image when dropped, so a failing test
/// leaves nothing behind.
struct Cleanup {
    image: String,
    mount: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = run("umount", &[&self.mount.display().to_string()], &[]);
        let down = lab("down", &[]);
        if down.code != Some(0) {
            eprintln!("cleanup failed:\n{down}");
        }
        let _ = std::fs::remove_dir(&self.mount);
        let rmi = run("podman", &["rmi", "--force", &self.image], &[]);
        if rmi.code != Some(0) {
            eprintln!("removing the test image failed:\n{rmi}");
        }
    }
}

/// Waits up to `limit` for `check`, returning how long it took.
fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what} did not happen within {limit:?}");
}

fn uuid_of(index: usize) -> String {
    on_host(index, &["cat", "/var/lib/glusterd/glusterd.info"])
        .ok()
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("UUID="))
        .expect("glusterd.info names the UUID")
        .to_owned()
}

fn pool_connected(index: usize, peers: usize) -> bool {
    let out = on_host(index, &["gluster", "pool", "list"]);
    out.code == Some(0) && out.stdout.matches("Connected").count() == peers + 1
}

#[test]
fn agents_in_the_image_form_the_pool_serve_a_volume_and_survive_podman_kill() {
    let image = format!("localhost/brickyard:test-{}", std::process::id());
    let mnt = PathBuf::from(format!("/mnt/{LAB}-gv0"));
    let _cleanup = Cleanup {
        image: image.clone(),
        mount: mnt.clone(),
    };
    let _ = lab("down", &[]);

    let built = run(
        repo_root().join("scripts/image.sh"),
        &["--binary", BIN, "--tag", &image],
        &[],
    )
    .ok();
    eprintln!("{}", built.stderr.trim());

    // No image, no lab: the refusal names the image and how to build it.
    let missing = lab(
        "up",
        &[
            "--runtime",
            "image",
            "--image",
            "localhost/brickyard:no-such-tag",
        ],
    )
    .fails();
    assert!(
        missing.stderr.contains("no-such-tag") && missing.stderr.contains("make image"),
        "{missing}"
    );
    assert!(!Path::new(&format!("/var/lib/brickyard/lab/{LAB}")).exists());

    let up = lab(
        "up",
        &["--runtime", "image", "--image", &image, "--wait", "240"],
    )
    .ok();
    assert!(up.stdout.contains("trusted pool of 3 hosts formed"), "{up}");
    let containers = run("podman", &["ps", "--format", "{{.Names}} {{.Image}}"], &[]).ok();
    for i in 1..=3 {
        assert!(
            containers
                .stdout
                .contains(&format!("byl-{LAB}-{i} {image}")),
            "{containers}"
        );
    }
    // The image seeded the host's empty directories from its own copy of the package's files
    // (the lab does not seed hosts that run an image).
    assert!(
        on_host(1, &["test", "-f", "/etc/glusterfs/glusterd.vol"]).code == Some(0),
        "glusterd.vol was not seeded"
    );

    let lab_dir = PathBuf::from(format!("/var/lib/brickyard/lab/{LAB}"));
    let store = format!("file://{}", lab_dir.join("store").display());
    by(&[
        "--store",
        &store,
        "volume",
        "create",
        "gv0",
        "--replica",
        "3",
    ])
    .ok();
    lab("mount", &["gv0", &mnt.display().to_string()]).ok();
    let content = format!("written through FUSE by test {}\n", std::process::id());
    std::fs::write(mnt.join("hello.txt"), &content).expect("write through FUSE");
    for i in 1..=3 {
        let on_brick = on_host(i, &["cat", "/gluster/brick1/gv0/hello.txt"]).ok();
        assert_eq!(on_brick.stdout, content, "brick of host {i}");
    }

    // The seed's promise: a container that dies starts again where it left off.
    let uuid = uuid_of(1);
    run("podman", &["kill", &format!("byl-{LAB}-1")], &[]).ok();
    let back = wait_for(
        "host 1's new container with its brick mounted and all peers connected",
        Duration::from_secs(120),
        || {
            on_host(1, &["findmnt", "-n", "/gluster/brick1"]).code == Some(0)
                && pool_connected(1, 2)
                && pool_connected(2, 2)
        },
    );
    eprintln!("host 1 back {back:?} after podman kill");
    assert_eq!(uuid_of(1), uuid, "the restarted host kept its UUID");
    let status = on_host(1, &["gluster", "volume", "status", "gv0"]).ok();
    assert!(
        status.stdout.contains("/gluster/brick1/gv0"),
        "the brick is served again: {status}"
    );
    assert_eq!(
        std::fs::read_to_string(mnt.join("hello.txt")).expect("read through FUSE"),
        content
    );

    run("umount", &[&mnt.display().to_string()], &[]).ok();
    lab("down", &[]).ok();
    let left = run("podman", &["ps", "-a", "--format", "{{.Names}}"], &[]).ok();
    assert!(
        !left.stdout.contains(&format!("byl-{LAB}-")),
        "containers left: {left}"
    );
    assert!(!lab_dir.exists(), "the lab directory is gone");
}
