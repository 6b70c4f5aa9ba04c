//! Every way a command can be refused gives one clear `silt: ...` line on stderr and a
//! non-zero exit (2 for bad arguments, 1 otherwise), never a panic or a backtrace.

mod cli_support;

use std::process::Stdio;

use cli_support::{assert_fails, wait_for_exit, Lines, Seed, Silt, CHILD_DEADLINE};

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let silt = Silt::new();
    for args in [
        &["frobnicate"][..],
        &["topics", "create", "t"],
        &["topics", "create", "t", "--partitions", "many"],
        &["topics", "create", "t", "--partitions", "-1"],
        &["topics", "list", "--bogus"],
        &["produce"],
        &["produce", "t", "--acks", "3"],
        &["consume", "t", "--max-messages", "x"],
        &["groups", "describe"],
        &["groups", "reset-offsets", "g", "--topic", "t"],
        &["demo", "--records", "lots"],
    ] {
        let line = silt.fails(args, 2);
        assert!(line.ends_with("(see silt --help)"), "{args:?}: {line}");
    }
    // The line names what is wrong.
    let line = silt.fails(&["topics", "create", "t", "--partitions", "many"], 2);
    assert!(
        line.contains("--partitions") && line.contains("many"),
        "{line}"
    );
    let line = silt.fails(&["groups", "reset-offsets", "g", "--topic", "t"], 2);
    assert!(line.contains("--to-earliest"), "{line}");
}

#[test]
fn a_missing_subcommand_prints_the_help_and_one_line() {
    let silt = Silt::new();
    let output = silt.run(&["topics"]);
    assert_fails(&output, 2, "silt topics");
    assert!(String::from_utf8_lossy(&output.stdout).contains("Usage: silt topics"));
}

#[test]
fn help_and_version_succeed() {
    let silt = Silt::new();
    assert!(silt.ok(&["--help"]).contains("consume"));
    assert!(silt.ok(&["consume", "--help"]).contains("--from-beginning"));
    assert!(silt.ok(&["--version"]).starts_with("silt "));
}

#[test]
fn unknown_topics_are_named() {
    let silt = Silt::new();
    for args in [
        &["topics", "describe", "nope"][..],
        &["topics", "delete", "nope"],
        &["topics", "alter", "nope", "--partitions", "2"],
        &["produce", "nope"],
        &["consume", "nope", "--timeout-ms", "10"],
        &[
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "nope",
            "--to-latest",
        ],
    ] {
        let line = silt.fails(args, 1);
        assert_eq!(line, "silt: unknown topic \"nope\"", "{args:?}");
    }
}

#[test]
fn unknown_groups_are_named() {
    let silt = Silt::new();
    for args in [
        &["groups", "describe", "nope"][..],
        &["groups", "delete", "nope"],
    ] {
        let line = silt.fails(args, 1);
        assert_eq!(line, "silt: unknown consumer group \"nope\"", "{args:?}");
    }
}

#[test]
fn a_directory_held_by_an_engine_is_refused() {
    let silt = Silt::new();
    let engine = silt.engine();
    engine.create_topic(silt::NewTopic::new("t", 1)).unwrap();
    for args in [
        &["topics", "list"][..],
        &["topics", "create", "u", "--partitions", "1"],
        &["produce", "t"],
        &["consume", "t", "--timeout-ms", "10"],
        &["groups", "list"],
        &["demo", "--records", "10"],
    ] {
        let line = silt.fails(args, 1);
        assert!(line.contains("is already open"), "{args:?}: {line}");
        assert!(
            line.contains(&silt.data_dir().display().to_string()),
            "{line}"
        );
    }
    engine.close().unwrap();
    silt.ok(&["topics", "list"]);
}

#[test]
fn a_directory_held_by_another_silt_process_is_refused() {
    let silt = Silt::new();
    silt.seed("t", 1, &[Seed::new(0, "k", "v")]);
    let mut holder = silt
        .command(&["consume", "t", "--from-beginning"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once it printed the record, the child holds the directory (and waits for more).
    let lines = Lines::new(holder.stdout.take().unwrap());
    assert_eq!(lines.next().as_deref(), Some("v"));
    let output = silt.run_with_input(&["produce", "t"], b"x\n");
    let line = assert_fails(
        &output,
        1,
        "produce while another process holds the directory",
    );
    assert!(line.contains("is already open"), "{line}");
    // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
    assert_eq!(
        unsafe { libc::kill(holder.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    assert!(wait_for_exit(&mut holder, CHILD_DEADLINE).success());
    silt.ok_with_input(&["produce", "t"], b"x\n");
}

#[test]
fn a_data_dir_that_is_a_file_is_refused() {
    let silt = Silt::new();
    let file = silt.data_dir().join("plain-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_silt"))
        .args(["topics", "list"])
        .env("SILT_DATA_DIR", &file)
        .output()
        .unwrap();
    let line = assert_fails(&output, 1, "a file as data directory");
    assert!(line.contains("plain-file"), "{line}");
}
