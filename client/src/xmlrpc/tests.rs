use super::*;

#[test]
fn parses_typed_untyped_and_nested_values() {
    let body = br#"<?xml version="1.0"?>
<methodCall><methodName> supervisor.startProcess </methodName>
<params><param><value>web:web_0&amp;&#65;&lt;</value></param>
<param><value><boolean>1</boolean></value></param>
<param><value><i4>-3</i4></value></param>
<param><value><array><data><value><string>a</string></value><value><int>2</int></value></data></array></value></param>
<param><value><struct><member><name>k</name><value><string><![CDATA[<x>]]></string></value></member></struct></value></param>
</params></methodCall>"#;
    let call = parse_call(body).unwrap();
    assert_eq!(call.method, "supervisor.startProcess");
    assert_eq!(
        call.params,
        vec![
            Value::str("web:web_0&A<"),
            Value::Bool(true),
            Value::Int(-3),
            Value::Array(vec![Value::str("a"), Value::Int(2)]),
            Value::Struct(vec![("k".into(), Value::str("<x>"))]),
        ]
    );
}

#[test]
fn params_may_be_missing() {
    let call = parse_call(b"<methodCall><methodName>system.listMethods</methodName></methodCall>")
        .unwrap();
    assert_eq!(call.params, vec![]);
}

#[test]
fn refuses_what_is_not_a_call() {
    for body in [
        &b"not xml"[..],
        b"<methodCall><methodName>x</methodName>",
        b"<methodResponse/>",
        b"<methodCall><params/></methodCall>",
        b"<methodCall><methodName>x</methodName><params><param><value><int>z</int></value></param></params></methodCall>",
        b"<methodCall><methodName>x</methodName><params><param><value>&foo;</value></param></params></methodCall>",
        b"\xff\xfe",
    ] {
        assert!(parse_call(body).is_err(), "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn encodes_typed_values_and_faults() {
    let v = Value::record([
        ("name", Value::str("a<b\x01")),
        ("pid", Value::Int(12)),
        ("ok", Value::Bool(true)),
        ("none", Value::Nil),
    ]);
    let xml = encode_response(&v);
    assert!(xml.contains("<string>a&lt;b\u{FFFD}</string>"), "{xml}");
    assert!(xml.contains("<int>12</int>") && xml.contains("<boolean>1</boolean>"));
    assert!(!xml.contains("nil"), "{xml}");
    // What we send, we read back.
    let call = format!(
        "<methodCall><methodName>m</methodName><params><param>{}</param></params></methodCall>",
        &xml[xml.find("<value>").unwrap()..xml.rfind("</value>").unwrap() + 8]
    );
    let back = parse_call(call.as_bytes()).unwrap();
    assert_eq!(back.params[0].member("pid"), Some(&Value::Int(12)));
    let f = Fault::with(Code::BadName, "foo").encode();
    assert!(f.contains("<int>10</int>") && f.contains("<string>BAD_NAME: foo</string>"));
}

#[test]
fn a_call_we_encode_parses_back() {
    let xml = encode_call(
        "supervisor.startProcess",
        &[Value::str("celery:worker_00&<"), Value::Bool(true)],
    );
    let call = parse_call(xml.as_bytes()).unwrap();
    assert_eq!(call.method, "supervisor.startProcess");
    assert_eq!(
        call.params,
        vec![Value::str("celery:worker_00&<"), Value::Bool(true)]
    );
}

#[test]
fn reads_answers_and_faults() {
    let ok = encode_response(&Value::Array(vec![Value::record([
        ("name", Value::str("w")),
        ("pid", Value::Int(7)),
    ])]));
    let v = parse_response(ok.as_bytes()).unwrap().unwrap();
    let Value::Array(items) = v else {
        panic!("{v:?}")
    };
    assert_eq!(items[0].member("pid"), Some(&Value::Int(7)));
    let f = Fault::with(Code::AlreadyStarted, "celery:w").encode();
    let fault = parse_response(f.as_bytes()).unwrap().unwrap_err();
    assert_eq!(fault.code, 60);
    assert_eq!(fault.name(), Some("ALREADY_STARTED"));
    assert_eq!(fault.text, "ALREADY_STARTED: celery:w");
    let unknown = r#"<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>999</int></value></member></struct></value></fault></methodResponse>"#;
    assert_eq!(
        parse_response(unknown.as_bytes())
            .unwrap()
            .unwrap_err()
            .name(),
        None
    );
}

#[test]
fn refuses_what_is_not_an_answer() {
    let deep = format!(
        "<methodResponse><params><param><value>{}</value></param></params></methodResponse>",
        "<array><data><value>".repeat(40)
    );
    for body in [
        &b"<html>proxy error</html>"[..],
        b"<methodCall><methodName>x</methodName></methodCall>",
        b"<methodResponse><params/></methodResponse>",
        b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]><methodResponse><params><param><value>&a;</value></param></params></methodResponse>",
        deep.as_bytes(),
    ] {
        assert!(
            parse_response(body).is_err(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}
