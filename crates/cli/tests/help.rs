//! The help: each command shows its own options; the global ones are documented once, in
//! `brickyard --help`, and still accepted anywhere on the command line.

use brickyard_testkit::run;

const BIN: &str = env!("CARGO_BIN_EXE_brickyard");

const GLOBALS: &[&str] = &[
    "--store",
    "--etcd-ca",
    "--etcd-cert",
    "--etcd-key",
    "--etcd-user",
    "--etcd-password-file",
    "--log-format",
    "--verbose",
];

#[test]
fn global_options_are_documented_once() {
    let top = run(BIN, &["--help"], &[]).ok().stdout;
    let (commands, globals) = top
        .split_once("Global options (accepted by every command):")
        .expect("a section for the global options");
    for option in GLOBALS {
        assert!(
            !commands.contains(option),
            "{option} before its section:\n{top}"
        );
        let entries = globals
            .lines()
            .map(|l| l.trim_start().trim_start_matches("-v, "))
            .filter(|l| l.starts_with(option))
            .count();
        assert_eq!(entries, 1, "{option}:\n{top}");
    }

    for command in [
        &["volume", "create"][..],
        &["status"],
        &["lab"],
        &["lab", "up"],
        &["kube", "csi"],
        &["node", "run"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let help = run(BIN, &args, &[]).ok().stdout;
        let (own, footer) = help
            .split_once("Global options (")
            .unwrap_or_else(|| panic!("{command:?}: no line naming the global options:\n{help}"));
        let footer = footer.replace('\n', " ");
        assert!(footer.contains("see `brickyard --help`"), "{footer}");
        for option in GLOBALS {
            let entry = own
                .lines()
                .map(|l| l.trim_start().trim_start_matches("-v, "))
                .any(|l| l.starts_with(option));
            assert!(!entry, "{command:?} repeats {option}:\n{help}");
            assert!(
                footer.contains(&format!("{option},")) || footer.contains(&format!("{option})")),
                "{command:?} footer lacks {option}: {footer}"
            );
        }
    }
}

#[test]
fn global_options_are_accepted_after_the_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("file://{}", dir.path().display());
    for args in [
        &["volume", "list", "--store", &store, "--output", "json"][..],
        &["--store", &store, "volume", "list", "--output", "json"],
        &[
            "volume",
            "--log-format",
            "json",
            "list",
            "-v",
            "--store",
            &store,
        ],
    ] {
        run(BIN, args, &[]).ok();
    }
    let bad = run(BIN, &["volume", "list", "--log-format", "xml"], &[]).fails();
    assert!(bad.stderr.contains("--log-format"), "{bad}");
}
