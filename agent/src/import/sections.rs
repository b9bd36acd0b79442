//! Every section but `[program:x]`: `[supervisord]` (what applies to all
//! programs or to the agent), `[group:x]`, and the sections fleet has no
//! use for or no equivalent of, each with a warning saying what to do.

use std::collections::{BTreeMap, HashMap};

use super::context::{check_name, fleet_name, origin, raw_name, warn_dropped, Cx};
use super::datatypes::{key_value_pairs, octal, py_int};
use super::expand::{expand, Mode};
use super::output::{Block, Val};
use super::{Error, Sec};
use crate::config::is_env_name;

/// `[supervisord]`: what applies to programs or to the agent.
pub(super) fn supervisord(cx: &mut Cx, sec: &Sec, agent: &mut Block) -> Result<(), Error> {
    let none = BTreeMap::new();
    for ent in &sec.entries {
        let value = |cx: &Cx, mode| {
            expand(&ent.value, &cx.scope(ent, None, &none), mode)
                .map(|e| e.text)
                .map_err(|m| cx.error(sec, Some(ent), m))
        };
        match ent.key.as_str() {
            "environment" => {
                let text = value(cx, Mode::Template)?;
                let (pairs, dropped) = key_value_pairs(&text).map_err(|m| cx.error(sec, Some(ent), m))?;
        warn_dropped(cx, sec, ent, &dropped);
                for (k, v) in pairs {
                    if is_env_name(&k) {
                        cx.global_env.push((k, v));
                    } else {
                        cx.warn(sec, Some(ent), format!("variable name {k:?} is not accepted by fleet (letters, digits and _); left out"));
                    }
                }
            }
            "umask" => {
                let m = octal(&value(cx, Mode::Static)?).map_err(|m| cx.error(sec, Some(ent), m))?;
                cx.global_umask = Some(m);
            }
            "childlogdir" => {
                let v = value(cx, Mode::Static)?;
                let dir = cx.doc.dir(ent.file).join(v);
                agent.set("log_dir", Val::Str(dir.display().to_string()));
                cx.warn(sec, Some(ent), "mapped to [agent] log_dir; fleet names AUTO logs {process}.stdout.log / {process}.stderr.log there and keeps them across restarts (supervisord deletes them)");
            }
            "identifier" => cx.warn(sec, Some(ent), "fleet identifies an agent by [agent] name (default: the host name); set that instead"),
            "logfile" | "logfile_maxbytes" | "logfile_backups" | "loglevel" => cx.warn(sec, Some(ent), "fleet-agent logs to stderr (the journal under systemd); choose the level with FLEET_LOG=info|debug"),
            "pidfile" => cx.warn(sec, Some(ent), "not needed: fleet-agent runs in the foreground and systemd tracks its pid"),
            "nodaemon" | "silent" => cx.warn(sec, Some(ent), "not needed: fleet-agent always runs in the foreground, logging to stderr"),
            "minfds" => cx.warn(sec, Some(ent), "set LimitNOFILE= in the fleet-agent systemd unit (programs inherit it)"),
            "minprocs" => cx.warn(sec, Some(ent), "set LimitNPROC= in the fleet-agent systemd unit (programs inherit it)"),
            "nocleanup" => cx.warn(sec, Some(ent), "not needed: fleet never deletes log files at start"),
            "user" => cx.warn(sec, Some(ent), "run fleet-agent as this user instead (User= in its systemd unit); programs without user= then run as it"),
            "directory" => cx.warn(sec, Some(ent), "set WorkingDirectory= in the fleet-agent systemd unit, or directory on each program"),
            "strip_ansi" => cx.warn(sec, Some(ent), "no equivalent: fleet writes program output byte for byte"),
            _ => cx.warn(sec, Some(ent), "unknown key, ignored by supervisord; not converted"),
        }
    }
    Ok(())
}

/// The `[group:x]` sections, membership resolved as supervisord does:
/// returns each program's group (fleet allows one) and the group blocks.
pub(super) fn groups(
    cx: &mut Cx,
    programs: &[&Sec],
    fcgi: &[&Sec],
) -> Result<(HashMap<String, String>, Vec<Block>), Error> {
    let doc = cx.doc;
    let mut group_of: HashMap<String, String> = HashMap::new();
    let mut groups: Vec<Block> = Vec::new();
    for sec in doc.sections.iter().filter(|s| s.name.starts_with("group:")) {
        let gname = raw_name(sec);
        check_name(cx, sec, &gname)?;
        let fname = fleet_name(&gname);
        if fname != gname {
            cx.warn(sec, None, format!("renamed group {gname:?} to {fname:?} (fleet names use letters, digits, \"_\", \"-\" and \".\")"));
        }
        let mut block = Block {
            header: format!("group.{fname}"),
            comments: vec![origin(doc, sec)],
            ..Block::default()
        };
        let conf_env = BTreeMap::new();
        let Some(list) = sec.get("programs") else {
            return Err(cx.error(
                sec,
                None,
                "no \"programs\" setting (supervisord refuses this)",
            ));
        };
        let text = expand(&list.value, &cx.scope(list, None, &conf_env), Mode::Static)
            .map_err(|m| cx.error(sec, Some(list), m))?
            .text;
        let mut members = Vec::new();
        for p in text.split(',').map(str::trim) {
            if programs.iter().any(|s| raw_name(s) == p) {
                if let Some(other) = group_of.get(p) {
                    cx.warn(sec, Some(list), format!(
                        "program {p:?} is also in group {other:?}: supervisord runs it in both groups, \
                         fleet allows one group per program; left out of this one (copy the \
                         [program:{p}] section under another name to run it twice)"
                    ));
                    continue;
                }
                group_of.insert(p.to_string(), fname.clone());
                members.push(fleet_name(p));
            } else if fcgi.iter().any(|s| raw_name(s) == p) {
                cx.warn(
                    sec,
                    Some(list),
                    format!(
                    "{p:?} is an [fcgi-program], which is not converted (see its warning); left out"
                ),
                );
            } else {
                return Err(cx.error(
                    sec,
                    Some(list),
                    format!("names unknown program {p:?} (supervisord refuses this)"),
                ));
            }
        }
        if let Some(pr) = sec.get("priority") {
            let v = expand(&pr.value, &cx.scope(pr, None, &conf_env), Mode::Static)
                .map_err(|m| cx.error(sec, Some(pr), m))?
                .text;
            let n = py_int(&v).map_err(|m| cx.error(sec, Some(pr), m))?;
            if n != 999 {
                block.set("priority", Val::Int(n));
                cx.warn(sec, Some(pr), "fleet accepts a group priority but orders starts and stops by each program's priority; set priority on the member programs to keep this order");
            }
        }
        for e in &sec.entries {
            if e.key != "programs" && e.key != "priority" {
                cx.warn(
                    sec,
                    Some(e),
                    "unknown key, ignored by supervisord; not converted",
                );
            }
        }
        if members.is_empty() {
            cx.warn(sec, None, "no program left in this group; not converted");
            continue;
        }
        block.set("programs", Val::Strs(members));
        groups.push(block);
    }
    Ok((group_of, groups))
}

/// Sections other than `[program:x]`, `[group:x]` and `[supervisord]`.
pub(super) fn other_section(
    cx: &mut Cx,
    sec: &Sec,
    agent: &mut Block,
    skipped: &mut Block,
) -> Result<(), Error> {
    let kind = sec
        .name
        .split_once(':')
        .map_or(sec.name.as_str(), |(k, _)| k);
    let each = |cx: &mut Cx, msg: &dyn Fn(&str) -> Option<String>| {
        for e in &sec.entries {
            let m = msg(&e.key)
                .unwrap_or_else(|| "unknown key, ignored by supervisord; not converted".into());
            cx.warn(sec, Some(e), m);
        }
    };
    match kind {
        "program" | "group" | "supervisord" | "include" if sec.name != "program" && sec.name != "group" => {}
        "unix_http_server" => {
            // The old address keeps working: supervisorctl's serverurl and
            // monitoring pointed at it now reach fleet-agent's socket.
            if let Some(file) = sec.get("file") {
                agent.set("socket", Val::Str(file.value.trim().to_owned()));
            }
            each(cx, &|k| match k {
                "file" => Some("mapped to [agent] socket, so supervisorctl -s unix://… (serverurl) and scripts keep working; stop supervisord before starting fleet-agent (they cannot share the path)".into()),
                "chmod" | "chown" => Some("fleet's socket is always mode 0600, owned by the agent's user; access is by file permission, like root-only supervisorctl".into()),
                "username" | "password" => Some("not needed: the unix socket is guarded by its file permissions (no password)".into()),
                _ => None,
            })
        }
        "inet_http_server" => {
            if let Some(port) = sec.get("port") {
                let listen = listen_addr(&port.value).map_err(|m| cx.error(sec, Some(port), m))?;
                agent.set("listen", Val::Str(listen));
                agent.set("token", Val::Str(new_token()));
                agent.trailer.push(format!("supervisord listened on port={} ({}:{}); so does fleet-agent.", port.value, cx.doc.files[port.file].display(), port.line));
                agent.trailer.push("token above was generated by import: supervisorctl -u ANY -p TOKEN and monitoring log in with it (HTTP Basic, any user name); fleetctl sends it as a bearer token.".into());
                agent.trailer.push("Off loopback, add tls_cert/tls_key (the token crosses the network otherwise).".into());
            }
            each(cx, &|k| match k {
                "port" => Some("mapped to [agent] listen with a generated [agent] token: supervisorctl -s http://… -u ANY -p TOKEN and monitoring keep working with the new token as password".into()),
                "username" | "password" => Some("fleet never copies a plaintext password: the generated [agent] token is the password now (any user name); update supervisorctl's and monitoring's password".into()),
                _ => None,
            });
        }
        "supervisorctl" => each(cx, &|k| match k {
            "serverurl" => Some("use fleetctl --agent unix:///run/fleet/agent.sock (or --console URL); FLEET_CONSOLE sets the default".into()),
            "username" | "password" => Some("fleetctl sends a bearer token: --token or FLEET_TOKEN".into()),
            "prompt" | "history_file" => Some("fleetctl has no interactive shell; not needed".into()),
            _ => None,
        }),
        "rpcinterface" | "ctlplugin" => {
            let standard = sec.entries.iter().all(|e| {
                e.value.trim() == "supervisor.rpcinterface:make_main_rpcinterface"
                    && e.key == "supervisor.rpcinterface_factory"
            });
            let msg = if standard && kind == "rpcinterface" {
                "not needed: fleet's HTTP JSON API is built in (nothing to configure)".to_string()
            } else {
                format!("[{kind}:*] plugins (XML-RPC interfaces, supervisorctl plugins) are not supported; port the plugin to fleet's HTTP API")
            };
            cx.warn(sec, None, msg);
        }
        "fcgi-program" => {
            cx.warn(sec, None, "not converted: fleet does not create FastCGI sockets; run the app as a [program] that binds its own socket (e.g. gunicorn --bind unix:...)");
            skipped.trailer.push(format!("[{}] ({}:{}) not converted: fcgi-program", sec.name, cx.doc.files[sec.file].display(), sec.line));
        }
        "DEFAULT" => cx.warn(sec, None, "supervisord's parser lets every section inherit [DEFAULT] values; import does not: copy these keys into the sections that need them"),
        _ => cx.warn(sec, None, "supervisord ignores this section (section names are case-sensitive and untrimmed); not converted"),
    }
    Ok(())
}

/// A fresh random token (192 bits, hex) for the imported TCP listener.
fn new_token() -> String {
    use std::io::Read;
    let mut b = [0u8; 24];
    // /dev/urandom never blocks or runs dry on Linux; failing to read it
    // means no randomness at all, which must not become a guessable token.
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("cannot read /dev/urandom for a token");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// supervisord's `inet_address` (`host:port`, `*:port`, `:port`, `port`) as
/// IP:PORT, or why not: supervisord refuses a port outside 1-65535, and
/// `[agent] listen` takes an IP address, not a host name (found by
/// agent/tests/prop.rs: `port=1GB` used to become a listen the loader
/// refused, located in the generated file rather than the source).
fn listen_addr(v: &str) -> Result<String, String> {
    let v = v.trim();
    let (host, port) = v.rsplit_once(':').unwrap_or(("", v));
    let host = match host {
        "" | "*" => "0.0.0.0",
        "localhost" => "127.0.0.1",
        h => h,
    };
    let valid_port = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p >= 1);
    if !valid_port {
        return Err(format!(
            "{v:?} has no valid port (expected PORT, :PORT, *:PORT or HOST:PORT, the port 1-65535)"
        ));
    }
    let addr = format!("{host}:{port}");
    match addr.parse::<std::net::SocketAddr>() {
        Ok(_) => Ok(addr),
        Err(_) => Err(format!(
            "{v:?}: fleet-agent listens on an IP address, not a host name; write the address (e.g. 10.0.0.5:{port} or *:{port})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let ok = |v| listen_addr(v).unwrap();
        assert_eq!(ok("*:9001"), "0.0.0.0:9001");
        assert_eq!(ok(":9001"), "0.0.0.0:9001");
        assert_eq!(ok("9001"), "0.0.0.0:9001");
        assert_eq!(ok("127.0.0.1:9001"), "127.0.0.1:9001");
        assert_eq!(ok("localhost:9001"), "127.0.0.1:9001");
        assert_eq!(ok("[::1]:9001"), "[::1]:9001");
    }

    /// Each used to be written out as a `listen` the loader then refused.
    #[test]
    fn a_bad_inet_address_is_refused_naming_it() {
        for v in [
            "1GB",
            "-1",
            "0",
            "65536",
            "18446744073709551616",
            "%(nope)s",
            "*:",
            "",
        ] {
            let e = listen_addr(v).unwrap_err();
            assert!(e.contains(&format!("{:?}", v.trim())), "{e}");
            assert!(e.contains("1-65535"), "{e}");
        }
        let e = listen_addr("myhost:9001").unwrap_err();
        assert!(e.contains("not a host name"), "{e}");
    }
}
