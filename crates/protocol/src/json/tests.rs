use super::*;

#[test]
fn view_keeps_members_in_order_with_spans() {
    let body = br#" {"model": "a/b", "x": [1, {"y": 2}], "stream": true} "#;
    let view = ObjectView::parse(body).unwrap();
    let keys: Vec<_> = view.members().map(|m| m.key).collect();
    assert_eq!(keys, ["model", "x", "stream"]);
    let model = view.get("model").unwrap();
    assert_eq!(&body[view.span_of(model)], br#""a/b""#);
    assert_eq!(view.get("x").unwrap().get(), r#"[1, {"y": 2}]"#);
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let err = ObjectView::parse(b"{\n  \"model\": \"x\",\n  oops\n}").unwrap_err();
    match err {
        JsonError::Syntax { line, column, .. } => assert_eq!((line, column), (3, 3)),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err_text(b"{\"a\": 1} trailing").contains("line 1"));
}

fn err_text(body: &[u8]) -> String {
    ObjectView::parse(body).unwrap_err().to_string()
}

#[test]
fn non_objects_and_duplicates_are_rejected() {
    assert_eq!(
        ObjectView::parse(b"[1,2]").unwrap_err(),
        JsonError::NotAnObject
    );
    assert_eq!(
        ObjectView::parse(b"\"s\"").unwrap_err(),
        JsonError::NotAnObject
    );
    assert_eq!(
        ObjectView::parse(b"12").unwrap_err(),
        JsonError::NotAnObject
    );
    assert_eq!(
        ObjectView::parse(br#"{"model":"a","model":"b"}"#).unwrap_err(),
        JsonError::DuplicateKey("model".into())
    );
}

#[test]
fn escaped_keys_are_decoded() {
    let view = ObjectView::parse(br#"{"mo\u0064el": "m"}"#).unwrap();
    assert!(view.get("model").is_some());
}

#[test]
fn types_and_strings() {
    let view =
        ObjectView::parse(br#"{"a":null,"b":false,"c":-1.5,"d":"x\"y","e":[],"f":{},"g":42}"#)
            .unwrap();
    let t = |k| JsonType::of(view.get(k).unwrap());
    assert_eq!(t("a"), JsonType::Null);
    assert_eq!(t("b"), JsonType::Bool);
    assert_eq!(t("c"), JsonType::Number);
    assert_eq!(t("d"), JsonType::String);
    assert_eq!(t("e"), JsonType::Array);
    assert_eq!(t("f"), JsonType::Object);
    assert!(is_integer(view.get("g").unwrap()));
    assert!(!is_integer(view.get("c").unwrap()));
    assert_eq!(as_str(view.get("d").unwrap()).unwrap(), "x\"y");
}

#[test]
fn splicer_replaces_and_appends_without_touching_the_rest() {
    let body = br#"{"model":"p/m", "unknown_field": {"keep": [1,2,3]}, "stream": false}"#;
    let view = ObjectView::parse(body).unwrap();
    let mut s = Splicer::new(body);
    s.replace(view.span_of(view.get("model").unwrap()), b"\"m\"".to_vec());
    s.append("stream_options", br#"{"include_usage":true}"#);
    let out = String::from_utf8(s.finish()).unwrap();
    assert_eq!(
        out,
        r#"{"model":"m", "unknown_field": {"keep": [1,2,3]}, "stream": false,"stream_options":{"include_usage":true}}"#
    );
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["unknown_field"]["keep"][2], 3);
}

#[test]
fn splicer_appends_into_empty_object() {
    let mut s = Splicer::new(b"{ }");
    s.append("a", b"1");
    assert_eq!(s.finish(), b"{ \"a\":1}");
}

#[test]
fn json_strings_are_escaped() {
    let mut out = Vec::new();
    push_json_string(&mut out, "a\"b\\c\n\u{1}é");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\"a\\\"b\\\\c\\n\\u0001é\""
    );
}

/// `{"k0":0,"k1":0,…}` with `n` distinct keys, then `tail` (e.g. a repeated key).
fn many_keys(n: usize, tail: &str) -> Vec<u8> {
    let mut body = String::from("{");
    for i in 0..n {
        body.push_str(&format!("\"k{i}\":0,"));
    }
    body.push_str(tail);
    body.push('}');
    body.into_bytes()
}

#[test]
fn the_number_of_top_level_keys_is_capped() {
    // a 1 MiB body of distinct keys used to take a quadratic scan (seconds; hours at 32 MiB)
    let body = many_keys(100_000, "\"last\":1");
    assert_eq!(
        ObjectView::parse(&body).unwrap_err(),
        JsonError::TooManyKeys(MAX_KEYS)
    );
    assert!(err_text(&body).contains(&MAX_KEYS.to_string()));
    // up to the cap: accepted, and a duplicate is still found (the last key repeats the first)
    let body = many_keys(MAX_KEYS - 1, "\"last\":1");
    assert_eq!(
        ObjectView::parse(&body).unwrap().members().count(),
        MAX_KEYS
    );
    let body = many_keys(MAX_KEYS - 1, "\"k0\":1");
    assert_eq!(
        ObjectView::parse(&body).unwrap_err(),
        JsonError::DuplicateKey("k0".into())
    );
}
