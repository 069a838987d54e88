use serde_json::json;

use super::*;

fn transform(toml_text: &str) -> Result<RecordTransform, String> {
    #[derive(Deserialize)]
    struct Holder {
        transform: RecordTransform,
    }
    toml::from_str::<Holder>(toml_text)
        .map(|h| h.transform)
        .map_err(|e| e.to_string())
}

#[test]
fn added_fields_read_the_record_as_it_arrived_and_keep_their_type() {
    let t = transform(
        r##"transform = { add = { "/id_copy" = "{/id}", "/label" = "#{/id} {/name}", "/n" = 3, "/flag" = true, "/meta/source" = "api", "/name" = "renamed {/name}" } }"##,
    )
    .unwrap();
    let mut r = json!({"id": 7, "name": "a"});
    t.apply(&mut r);
    assert_eq!(
        r,
        json!({"id": 7, "id_copy": 7, "label": "#7 a", "n": 3, "flag": true, "meta": {"source": "api"}, "name": "renamed a"})
    );
}

#[test]
fn missing_and_null_fields_are_null_alone_and_nothing_in_text() {
    let t = RecordTransform::new(
        [
            ("/a".to_owned(), json!("{/missing}")),
            ("/b".to_owned(), json!("x{/missing}y{/nul}")),
            ("/c".to_owned(), json!("{/obj}")),
            ("/d".to_owned(), json!("{/obj}!")),
        ],
        [],
    )
    .unwrap();
    let mut r = json!({"nul": null, "obj": {"k": [1]}});
    t.apply(&mut r);
    assert_eq!(r["a"], Value::Null);
    assert_eq!(r["b"], json!("xy"));
    assert_eq!(r["c"], json!({"k": [1]}));
    assert_eq!(r["d"], json!("{\"k\":[1]}!"));
}

#[test]
fn parent_fields_are_bound_per_parent() {
    let t = RecordTransform::new(
        [
            ("/repo_id".to_owned(), json!("{parent/id}")),
            (
                "/path".to_owned(),
                json!("{parent/owner/login}/{parent/name}#{/n}"),
            ),
        ],
        [],
    )
    .unwrap();
    assert_eq!(t.parent_fields().collect::<Vec<_>>(), ["/path", "/repo_id"]);
    let bound = t.for_parent(&json!({"id": 42, "name": "r", "owner": {"login": "o"}}));
    assert_eq!(bound.parent_fields().count(), 0);
    let mut r = json!({"n": 5});
    bound.apply(&mut r);
    assert_eq!(r, json!({"n": 5, "repo_id": 42, "path": "o/r#5"}));
}

#[test]
fn now_is_rendered_for_the_run() {
    let t = RecordTransform::new([("/day".to_owned(), json!("{now-1d|date}"))], []).unwrap();
    let now: Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
    let mut r = json!({});
    t.at(now).apply(&mut r);
    assert_eq!(r, json!({"day": "2026-03-01"}));
}

#[test]
fn removed_fields_follow_pointers_and_wildcards() {
    let t = transform(
        r#"transform = { remove = ["/_links", "/items/*/url", "/a~1b", "/missing/x", "/list/0"] }"#,
    )
    .unwrap();
    let mut r = json!({
        "id": 1, "_links": {"self": "x"}, "a/b": 2, "list": [1, 2],
        "items": [{"url": "u", "k": 1}, {"k": 2}, "scalar"]
    });
    t.apply(&mut r);
    assert_eq!(
        r,
        json!({"id": 1, "list": [2], "items": [{"k": 1}, {"k": 2}, "scalar"]})
    );
    let t = transform(r#"transform = { remove = ["/m/*/secret"] }"#).unwrap();
    let mut r = json!({"m": {"x": {"secret": 1, "k": 1}, "y": {"k": 2}}});
    t.apply(&mut r);
    assert_eq!(r, json!({"m": {"x": {"k": 1}, "y": {"k": 2}}}));
}

#[test]
fn added_fields_come_before_removals_and_create_objects() {
    let t = transform(r#"transform = { add = { "/a/b/c" = "{/a}" }, remove = ["/x"] }"#).unwrap();
    let mut r = json!({"a": 1, "x": 2});
    t.apply(&mut r);
    assert_eq!(r, json!({"a": {"b": {"c": 1}}}));
}

#[test]
fn braces_escape_and_bad_templates_are_refused() {
    let t = RecordTransform::new([("/q".to_owned(), json!("{{literal}} {/id}"))], []).unwrap();
    let mut r = json!({"id": 1});
    t.apply(&mut r);
    assert_eq!(r["q"], json!("{literal} 1"));
    for bad in ["{id}", "{/id", "a}b", "{now|%Q%Q}x{", "{parent-id}"] {
        let e = RecordTransform::new([("/q".to_owned(), json!(bad))], []).unwrap_err();
        assert!(matches!(e, TransformError::Template { .. }), "{bad}: {e}");
    }
    assert!(
        transform(r#"transform = { add = { "q" = "x" } }"#)
            .unwrap_err()
            .contains("starts with '/'")
    );
    assert!(
        transform(r#"transform = { add = { "/a/*" = "x" } }"#)
            .unwrap_err()
            .contains("`*`")
    );
    assert!(
        transform(r#"transform = { drop = ["/a"] }"#)
            .unwrap_err()
            .contains("unknown field")
    );
}
