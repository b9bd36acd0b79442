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
        tails: None,
    }
}

#[test]
fn a_handoff_without_tails_reads_as_none() {
    // What an older (1.0) image writes: no `tails`.
    let mut v = serde_json::to_value(sample()).unwrap();
    v.as_object_mut().unwrap().remove("tails");
    v["format_minor"] = serde_json::json!(0);
    let h = state::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(h.tails.is_none());
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

#[test]
fn listeners_ride_in_the_table_and_a_1_0_table_has_none() {
    let mut v = serde_json::to_value(sample()).unwrap();
    v["format_minor"] = serde_json::json!(0);
    v["table"].as_object_mut().unwrap().remove("listening");
    let h = state::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(h.table.listening.is_none());

    let listening = serde_json::json!({
        "serial": 41,
        "ticks": [1700000000, null, null],
        "groups": ["web"],
        "pools": [{
            "name": "mon", "serial": 7, "handled": 6, "rejected": 1, "dropped": 0,
            "buffer": [{"serial": 41, "pool_serial": 7, "event": {
                "kind": "PROCESS_STATE_EXITED",
                "payload": "processname:web groupname:web from_state:RUNNING expected:0 pid:9"}}]
        }],
        "links": [{
            "name": "mon", "pid": 12, "state": "BUSY",
            "busy": {"serial": 40, "pool_serial": 6, "event": {"kind": "TICK_5", "payload": "when:5"}},
            "conversation": {
                "stdin_fd": 9, "stdout_fd": 10,
                "parser": {"state": "BUSY", "buf": [79], "want": 2},
                "pending": [104, 105]
            }
        }]
    });
    v["table"]["listening"] = listening.clone();
    let h = state::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
    let l = h.table.listening.as_ref().unwrap();
    assert_eq!(l.links[0].busy.as_ref().unwrap().pool_serial, 6);
    let fds: Vec<_> = l.links[0].conversation.as_ref().unwrap().fds().collect();
    assert_eq!(fds, [9, 10]);
    assert_eq!(
        serde_json::to_value(l).unwrap(),
        listening,
        "read as written"
    );
    // An event type no build knows is refused, not guessed.
    v["table"]["listening"]["pools"][0]["buffer"][0]["event"]["kind"] = "TICK".into();
    assert!(state::parse(&serde_json::to_vec(&v).unwrap()).is_err());
}
