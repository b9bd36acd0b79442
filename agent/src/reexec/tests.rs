use super::state::{self, Handoff, Request, FORMAT_MAJOR, FORMAT_MINOR};
use crate::supervisor::Table;

fn sample() -> Handoff {
    Handoff {
        format_major: FORMAT_MAJOR,
        format_minor: FORMAT_MINOR,
        version: "0.1.0".into(),
        binary: "/usr/bin/fleet-agent".into(),
        config: "/etc/fleet/agent.toml".into(),
        image_fd: 4,
        notify_socket: None,
        unix_fd: 7,
        tcp_fd: None,
        pipes: vec![],
        request: Request {
            id: None,
            binary: "/usr/bin/fleet-agent".into(),
            arrived: 1,
        },
        table: Table::default(),
    }
}

#[test]
fn unknown_fields_are_read_past_at_every_level() {
    let mut v = serde_json::to_value(sample()).unwrap();
    v["from_the_future"] = serde_json::json!({"x": 1});
    v["table"]["also_new"] = serde_json::json!([1, 2]);
    v["format_minor"] = serde_json::json!(FORMAT_MINOR + 5);
    let h = state::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(h.unix_fd, 7);
}

#[test]
fn another_major_is_refused_whatever_else_is_there() {
    let mut v = serde_json::to_value(sample()).unwrap();
    v["format_major"] = serde_json::json!(FORMAT_MAJOR + 1);
    let e = state::parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(e.contains("state format 2.x"), "{e}");
    // Even when the rest would not parse as this build's shape.
    let e = state::parse(br#"{"format_major": 9, "format_minor": 0, "table": 3}"#).unwrap_err();
    assert!(e.contains("9.x"), "{e}");
    assert!(super::resume::check("9.0").starts_with("no: "));
    assert!(super::resume::check(&format!("{FORMAT_MAJOR}.99")).starts_with("yes "));
    assert!(super::resume::check("one").starts_with("no: "));
}
