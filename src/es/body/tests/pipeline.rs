use super::*;
use serde_json::json;

#[test]
fn a_definition_is_read_as_written() {
    let body = br#"{"description":"d","processors":[{"set":{"field":"_\u0069ndex","value":"s","ignore_failure":true,"tag":null}}],"version":3,"_meta":{"n":-1.5}}"#;
    assert_eq!(
        read_pipeline_definition(body),
        Some(json!({
            "description": "d",
            "processors": [{"set": {"field": "_index", "value": "s", "ignore_failure": true, "tag": null}}],
            "version": 3,
            "_meta": {"n": -1.5},
        }))
    );
    // Any JSON value: its shape is for the analysis to judge.
    assert_eq!(read_pipeline_definition(b" [1] "), Some(json!([1])));
}

#[test]
fn what_cannot_be_read_is_no_definition() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let cases: &[&[u8]] = &[
        b"",
        b"processors: []",
        b"{\"processors\":[]",
        b"{\"processors\":[]} {}",
        b"{\"processors\":[] /* c */}",
        b"{\"processors\":[{\"set\":{\"field\":\"_index\",\"field\":\"a\",\"value\":\"s\"}}]}",
        b"{\"processors\":[{\"script\":{}}],\"processors\":[]}",
        b"{\"processors\":[],\"d\":\"\\ud800\"}",
        b"{\"processors\":[],\"d\":\"\xff\"}",
        deep.as_bytes(),
    ];
    for body in cases {
        assert_eq!(
            read_pipeline_definition(body),
            None,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}
