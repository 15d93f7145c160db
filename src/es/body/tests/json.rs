use super::*;

fn string(s: &str) -> Result<String, JsonError> {
    Reader::new(s.as_bytes()).string().map(|c| c.into_owned())
}

fn skip(s: &str) -> Result<(), JsonErrorKind> {
    let mut r = Reader::new(s.as_bytes());
    r.skip_value().map_err(|e| e.kind)?;
    if r.at_end() {
        Ok(())
    } else {
        Err(JsonErrorKind::Syntax)
    }
}

#[test]
fn strings() {
    assert_eq!(string(r#""plain""#).unwrap(), "plain");
    assert_eq!(
        string(r#""a\"b\\c\/d\b\f\n\r\t""#).unwrap(),
        "a\"b\\c/d\u{8}\u{c}\n\r\t"
    );
    assert_eq!(
        string(r#""\u0041\u00e9\u20AC""#).unwrap(),
        "A\u{e9}\u{20ac}"
    );
    assert_eq!(string(r#""\ud83d\ude00x""#).unwrap(), "\u{1F600}x");
    assert_eq!(string(r#""\u0000""#).unwrap(), "\0");
    assert_eq!(string("\"\u{e9}\u{1F600}\"").unwrap(), "\u{e9}\u{1F600}");
    for bad in [
        r#""\ud800""#,
        r#""\udc00""#,
        r#""\ud800\u0041""#,
        r#""\ud800x""#,
        r#""\x""#,
        r#""\u12""#,
        r#""\u12G4""#,
        "\"a\nb\"",
        "\"a\u{1}\"",
        r#""unterminated"#,
        r#""\"#,
        "'single'",
    ] {
        assert!(string(bad).is_err(), "{bad:?}");
    }
    assert!(Reader::new(b"\"\xff\"").string().is_err());
    assert!(Reader::new(b"\"\xc3\"").string().is_err());
    assert!(
        Reader::new(b"\"\xed\xa0\x80\"").string().is_err(),
        "UTF-8 encoded surrogate"
    );
}

#[test]
fn values() {
    for ok in [
        "0",
        "-0",
        "1.5",
        "-1.5e10",
        "1E+2",
        "1e-2",
        "123",
        "true",
        "false",
        "null",
        "\"s\"",
        "[]",
        "{}",
        "[1,[2,[3]],{\"a\":{\"b\":[]}}]",
        " { \"a\" : 1 , \"b\" : [ true , null ] } ",
    ] {
        assert_eq!(skip(ok), Ok(()), "{ok:?}");
    }
    for bad in [
        "",
        "01",
        "1.",
        ".5",
        "-",
        "1e",
        "+1",
        "tru",
        "nul",
        "True",
        "NaN",
        "Infinity",
        "[1,]",
        "[,1]",
        "{\"a\":1,}",
        "{\"a\"}",
        "{\"a\" 1}",
        "{1:2}",
        "[}",
        "{]",
        "[1 2]",
        "{\"a\":1 \"b\":2}",
        "/*c*/1",
        "[1]//c",
        "'a'",
        "{a:1}",
        "\u{b}1",
    ] {
        assert!(skip(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn depth() {
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert_eq!(skip(&nested(MAX_JSON_DEPTH)), Ok(()));
    assert_eq!(
        skip(&nested(MAX_JSON_DEPTH + 1)),
        Err(JsonErrorKind::TooDeep)
    );
    let objects = format!(
        "{}1{}",
        "{\"a\":".repeat(MAX_JSON_DEPTH),
        "}".repeat(MAX_JSON_DEPTH)
    );
    assert_eq!(skip(&objects), Ok(()));
    assert_eq!(skip(&"[".repeat(10_000_000)), Err(JsonErrorKind::TooDeep));
    // Mixed nesting closes in the right order only.
    assert!(skip("[{\"a\":[{}]}]").is_ok());
    assert!(skip("[{\"a\":[{}}]]").is_err());
}

#[test]
fn objects_and_arrays() {
    let mut r = Reader::new(br#" { "k" : [ "a" , "b" ] , "\u006b2" : null } "#);
    r.begin_object().unwrap();
    let mut first = true;
    assert_eq!(r.next_key(&mut first).unwrap().as_deref(), Some(&b"k"[..]));
    r.begin_array().unwrap();
    let mut afirst = true;
    let mut got = Vec::new();
    while r.next_element(&mut afirst).unwrap() {
        got.push(r.string().unwrap().into_owned());
    }
    assert_eq!(got, ["a", "b"]);
    assert_eq!(r.next_key(&mut first).unwrap().as_deref(), Some(&b"k2"[..]));
    assert!(r.take_null().unwrap());
    assert_eq!(r.next_key(&mut first).unwrap(), None);
    assert!(r.at_end());
}
