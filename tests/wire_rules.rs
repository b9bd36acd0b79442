//! One rule per wire question, whoever asks: the agent (HTTP over its unix
//! socket), the console (`POST /v1/ops`, dry run and real; `GET /v1/status`
//! for selectors) and fleetctl (`--agent SOCKET` and `--console URL`)
//! accept and refuse the same signals and selectors, pick the same
//! processes, and nothing refused reaches the audit log.

mod common;
use common::console::*;
use common::ctl::*;
use common::*;
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// CELERY's two running workers, plus a program that stays stopped: a
/// signal to it is accepted and then delivered to nothing ("not running").
fn programs() -> String {
    format!("{CELERY}\n[program.idle]\ncommand = \"TESTPROG sleep\"\nautostart = false\n")
}

/// How one surface answered.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// Refused as a bad signal or selector, before anything ran.
    Refused,
    /// Valid, but names no process here.
    NoMatch,
    /// Ran (or would run) on these processes, sorted.
    Ran(Vec<String>),
}
use Verdict::*;

fn ran(names: &[&str]) -> Verdict {
    Ran(names.iter().map(|s| s.to_string()).collect())
}

fn names(list: &Value, what: &str) -> Verdict {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("no list in {what}"))
        .iter()
        .map(|p| {
            p.as_str()
                .or_else(|| p["name"].as_str())
                .unwrap_or_else(|| panic!("no name in {p}"))
                .to_string()
        })
        .collect();
    v.sort();
    Ran(v)
}

/// Percent-encode a path segment (the agent decodes it).
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Fleet {
    agent: Agent,
    console: Console,
    url: String,
}

impl Fleet {
    fn start() -> Fleet {
        let (agent, port) = tcp_agent(&programs());
        let console = Console::start(&agent_entries(&[("w-00", port)]));
        console.wait_running(2, T);
        // The stopped program is in the picture too, so "matches nothing
        // here" is known, not guessed.
        wait_for(T, "idle in the console's picture", || {
            let st = console.get("/v1/status");
            let n = st["processes"].as_array().unwrap().len();
            (n == 3).then_some(())
        });
        let url = format!("http://127.0.0.1:{}", console.port);
        Fleet {
            agent,
            console,
            url,
        }
    }

    /// Operations in the audit log.
    fn audited(&self) -> usize {
        self.console.get("/v1/ops?limit=1000")["ops"]
            .as_array()
            .unwrap()
            .len()
    }

    /// `POST /v1/processes/{target}/{verb}` on the agent's unix socket.
    fn agent(&self, verb: &str, target: &str, body: &str) -> Verdict {
        let path = format!("/v1/processes/{}/{verb}", segment(target));
        let r = self.agent.post(&path, body);
        let what = format!("agent {verb} {target:?} {body}: {} {}", r.status, r.text());
        match r.status {
            200 => names(&r.json()["results"], &what),
            404 => NoMatch,
            400 if matches!(
                r.json()["error"]["code"].as_str(),
                Some("bad_signal" | "bad_selector")
            ) =>
            {
                Refused
            }
            _ => panic!("{what}"),
        }
    }

    /// `POST /v1/ops` (to the end, when it ran), checking the audit log: an
    /// op that ran is in it once, a refused one or a plan (dry run) never.
    fn console(&self, body: Value) -> Verdict {
        let before = self.audited();
        let plan = body["dry_run"] == true;
        let r = self
            .console
            .request("POST", "/v1/ops", Some(OPERATOR), &body.to_string());
        let what = format!("POST /v1/ops {body}: {} {}", r.status, r.text());
        let got = match r.status {
            201 => {
                let op = r.json();
                let id = op["id"].as_str().unwrap();
                if plan {
                    // A plan is answered whole and kept nowhere.
                    assert_eq!(op["state"], "done", "{what}");
                    assert_eq!(op["hosts"].as_array().unwrap().len(), 1, "{op}");
                    assert_eq!(self.audited(), before, "a plan was audited: {what}");
                    return names(&op["hosts"][0]["processes"], &what);
                }
                let done = self.console.wait_op(id, T);
                assert_eq!(done["hosts"].as_array().unwrap().len(), 1, "{done}");
                let audited = self.console.get(&format!("/v1/ops/{id}"));
                assert_eq!(audited["id"], id, "{what}");
                names(&done["hosts"][0]["processes"], &what)
            }
            404 => NoMatch,
            400 if matches!(
                r.json()["error"]["code"].as_str(),
                Some("bad_signal" | "bad_selector")
            ) =>
            {
                Refused
            }
            _ => panic!("{what}"),
        };
        let after = self.audited();
        match got {
            Ran(_) => assert_eq!(after, before + 1, "{what}"),
            _ => assert_eq!(after, before, "refused, yet audited: {what}"),
        }
        got
    }

    /// `GET /v1/status?target=SEL` on the console.
    fn console_status(&self, target: &str) -> Verdict {
        let path = format!("/v1/status?target={}", segment(target));
        let r = self.console.request("GET", &path, Some(VIEWER), "");
        let what = format!("GET {path}: {} {}", r.status, r.text());
        match r.status {
            200 => match names(&r.json()["processes"], &what) {
                Ran(v) if v.is_empty() => NoMatch,
                v => v,
            },
            400 if r.json()["error"]["code"] == "bad_selector" => Refused,
            _ => panic!("{what}"),
        }
    }

    /// fleetctl in agent mode (`--agent SOCKET -o json ARGS…`).
    fn ctl_agent(&self, args: &[&str]) -> Verdict {
        let mut c = fleetctl_cmd();
        c.arg("--agent")
            .arg(&self.agent.socket)
            .args(["-o", "json"])
            .args(args);
        let o = run(c);
        let what = format!("fleetctl --agent {args:?}: {o:?}");
        match o.code {
            2 if refusal(&o.stderr) => Refused,
            1 if o.stderr.contains("no process matches") || o.stderr.contains("HTTP 404") => {
                NoMatch
            }
            // 1: some process failed (a signal to a stopped one).
            0 | 1 => {
                let j = o.json();
                let list = if j["dry_run"] == true {
                    &j["processes"]
                } else {
                    &j["results"]
                };
                names(list, &what)
            }
            _ => panic!("{what}"),
        }
    }

    /// fleetctl in console mode (`--console URL -o json ARGS…`), checking
    /// the audit log like `console`.
    fn ctl_console(&self, args: &[&str]) -> Verdict {
        let before = self.audited();
        let mut c = fleetctl_cmd();
        c.args(["--console", &self.url, "--token", OPERATOR, "-o", "json"])
            .args(args);
        let o = run(c);
        let what = format!("fleetctl --console {args:?}: {o:?}");
        let got = match o.code {
            2 if refusal(&o.stderr) => Refused,
            // An empty selection is a usage error in console mode.
            2 if o.stderr.contains("matches no process") => NoMatch,
            0 | 1 => names(&o.json()["hosts"][0]["processes"], &what),
            _ => panic!("{what}"),
        };
        let after = self.audited();
        match got {
            Ran(_) => assert_eq!(after, before + 1, "{what}"),
            _ => assert_eq!(after, before, "refused, yet audited: {what}"),
        }
        got
    }
}

/// fleetctl's words for a bad signal or selector.
fn refusal(stderr: &str) -> bool {
    stderr.contains("unknown signal") || stderr.contains("expected all")
}

#[test]
fn every_surface_accepts_and_refuses_the_same_signals() {
    let f = Fleet::start();
    let idle = ran(&["idle:idle"]);
    let table = [
        ("TERM", idle.clone()),
        ("SIGTERM", idle.clone()),
        ("term", idle.clone()),
        ("SigTerm", idle.clone()),
        ("15", idle.clone()),
        ("HUP", idle.clone()),
        ("usr1", idle.clone()),
        ("STKFLT", idle.clone()),
        ("sigstkflt", idle.clone()),
        ("16", idle.clone()),
        ("SYS", idle.clone()),
        ("31", idle.clone()),
        // Real-time signals: the agent cannot send them, so nobody takes them.
        ("32", Refused),
        ("40", Refused),
        ("64", Refused),
        ("SIGRTMIN", Refused),
        ("0", Refused),
        ("99", Refused),
        ("NOPE", Refused),
        ("SIG", Refused),
        ("", Refused),
    ];
    for (sig, want) in table {
        let body = serde_json::json!({ "signal": sig }).to_string();
        let op = |dry_run: bool| {
            serde_json::json!({
                "action": "signal", "target": "idle", "signal": sig, "dry_run": dry_run,
            })
        };
        let got = [
            ("agent", f.agent("signal", "idle", &body)),
            ("console dry run", f.console(op(true))),
            ("console", f.console(op(false))),
            ("fleetctl --agent", f.ctl_agent(&["signal", sig, "idle"])),
            (
                "fleetctl --console",
                f.ctl_console(&["signal", sig, "idle"]),
            ),
        ];
        for (who, v) in got {
            assert_eq!(v, want, "{who}: signal {sig:?}");
        }
        // A valid signal to a process that matches nothing is still only
        // refused for the target, everywhere.
        if want != Refused {
            assert_eq!(f.agent("signal", "nope", &body), NoMatch, "{sig}");
            assert_eq!(f.ctl_agent(&["signal", sig, "nope"]), NoMatch, "{sig}");
            assert_eq!(f.ctl_console(&["signal", sig, "nope"]), NoMatch, "{sig}");
        }
    }
    // Nothing was delivered: the workers kept their pids, idle never ran.
    let st = f.agent.status();
    for p in st["processes"].as_array().unwrap() {
        let want = if p["name"] == "idle:idle" {
            "STOPPED"
        } else {
            "RUNNING"
        };
        assert_eq!(p["state"], want, "{p}");
        assert_eq!(p["restarts"], 0, "{p}");
    }
}

#[test]
fn every_surface_selects_the_same_processes() {
    let f = Fleet::start();
    let workers = ran(&["celery:worker_00", "celery:worker_01"]);
    // `start` of running processes changes nothing ("already"), so each
    // surface sees the same fleet; "all" (which starts idle) comes last.
    let table = [
        ("group:celery", workers.clone()),
        ("celery:*", workers.clone()),
        // A program name: its instances.
        ("worker", workers.clone()),
        // No program "celery": the group.
        ("celery", workers.clone()),
        ("celery:worker_00", ran(&["celery:worker_00"])),
        // No program "worker_01": the process.
        ("worker_01", ran(&["celery:worker_01"])),
        ("nope", NoMatch),
        ("group:nope", NoMatch),
        ("celery:nope", NoMatch),
        ("idle:worker_00", NoMatch),
        ("group:", Refused),
        ("a:b:c", Refused),
        ("a b", Refused),
        (":x", Refused),
        ("celery:*x", Refused),
        (
            "all",
            ran(&["celery:worker_00", "celery:worker_01", "idle:idle"]),
        ),
    ];
    for (sel, want) in table {
        let op = |dry_run: bool| serde_json::json!({ "action": "start", "target": sel, "dry_run": dry_run });
        let got = [
            ("agent", f.agent("start", sel, "")),
            ("console status", f.console_status(sel)),
            ("console dry run", f.console(op(true))),
            ("console", f.console(op(false))),
            (
                "fleetctl --agent --dry-run",
                f.ctl_agent(&["start", "--dry-run", sel]),
            ),
            ("fleetctl --agent", f.ctl_agent(&["start", sel])),
            ("fleetctl --console", f.ctl_console(&["start", sel])),
        ];
        for (who, v) in got {
            assert_eq!(v, want, "{who}: selector {sel:?}");
        }
    }
}
