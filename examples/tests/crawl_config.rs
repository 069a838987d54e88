//! Config checks of the real `crawl` binary: exit 2 before touching the
//! database, with a message naming the file, the line, the key and the collection.

mod support;

use support::{crawl, write};

/// Two collections; the second one's name is `second`.
fn two_collections(second: &str) -> String {
    format!(
        "[runtime]\ndatabase = \"sqlite://never.db\"\n\n[[collection]]\nname = \"users\"\nurl = \"http://127.0.0.1:9/\"\n\n[[collection]]\nname = \"{second}\"\nurl = \"http://127.0.0.1:9/\"\n"
    )
}

/// Runs the binary on `text`; asserts exit 2, that every part is named in
/// stderr, and that no database was created.
fn assert_refused(text: &str, parts: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "names.toml", text);
    let out = crawl(&[&config], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for part in parts {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
    assert!(
        !dir.path().join("never.db").exists(),
        "refused before opening the database"
    );
}

#[test]
fn names_differing_only_in_case_exit_2() {
    assert_refused(
        &two_collections("Users"),
        &[
            "names.toml",
            "line 9",
            "collection \"Users\": name",
            "differ only in case",
        ],
    );
}

#[test]
fn reserved_names_exit_2() {
    for reserved in [
        "pipeline_checkpoints",
        "Pipeline_Locks",
        "users__staging",
        "Orders__STAGING",
    ] {
        assert_refused(
            &two_collections(reserved),
            &[
                "names.toml",
                "line 9",
                &format!("collection \"{reserved}\": name"),
                "reserved",
            ],
        );
    }
}

#[test]
fn a_bad_default_names_the_collection_and_the_defaults_line() {
    let text = "[defaults]\nretry = { max_attempts = 2, backof_ms = 5 }\n\n[[collection]]\nname = \"users\"\nurl = \"http://127.0.0.1:9/\"\n";
    assert_refused(
        text,
        &["names.toml", "line 2", "collection \"users\"", "backof_ms"],
    );
}
