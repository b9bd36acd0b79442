//! A real PostgreSQL for the tests: Debian's `postgresql` binaries
//! (`/usr/lib/postgresql/*/bin`, installed by `.ci/run`), a fresh cluster
//! in a temp dir on a free port (TCP on loopback, its unix socket in the
//! same temp dir), stopped by `pg_ctl` when dropped. `initdb` refuses to
//! run as root, so as root every PostgreSQL command runs as the
//! `postgres` user (`runuser`). Each test takes a database of its own
//! (`Pg::database`), so tests can share one cluster's start-up cost
//! inside a test binary.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

/// The superuser the cluster is made with (trust auth on loopback).
pub const ADMIN: &str = "fleet_admin";

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = glob_dirs("/usr/lib/postgresql")
        .into_iter()
        .map(|d| d.join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    // The newest major version (directories are named by it).
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found
        .pop()
        .expect("PostgreSQL is not installed (apt-get install postgresql; .ci/run installs it)")
}

fn glob_dirs(root: &str) -> Vec<PathBuf> {
    std::fs::read_dir(root)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl Pg {
    /// initdb + pg_ctl start, waiting until it accepts connections.
    pub fn start() -> Pg {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("fleet-pg")
            .tempdir()
            .unwrap();
        if as_root() {
            let u = nix::unistd::User::from_name("postgres")
                .unwrap()
                .expect("the postgres user (Debian's postgresql package makes it)");
            nix::unistd::chown(dir.path(), Some(u.uid), Some(u.gid)).unwrap();
        }
        let pg = Pg {
            dir,
            bin,
            port: super::free_port(),
        };
        pg.run_ok(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-U",
                ADMIN,
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        pg.pg_ctl_start();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[impl AsRef<std::ffi::OsStr>]) -> std::process::Output {
        let exe = self.bin.join(tool);
        let mut cmd = if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args.iter())
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"))
    }

    fn run_ok(&self, tool: &str, args: &[impl AsRef<std::ffi::OsStr> + std::fmt::Debug]) -> String {
        let out = self.run(tool, args);
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn pg_ctl_start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run_ok(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                &self.data().display().to_string(),
                "-l",
                &log,
                "-o",
                &opts,
            ],
        );
    }

    /// Stop (fast: sessions are ended) and start again on the same port.
    pub fn restart(&self) {
        self.stop("fast");
        self.pg_ctl_start();
    }

    /// `pg_ctl stop -m MODE` (the server's own PID file: nothing else).
    pub fn stop(&self, mode: &str) {
        self.run_ok(
            "pg_ctl",
            &[
                "stop",
                "-w",
                "-m",
                mode,
                "-D",
                &self.data().display().to_string(),
            ],
        );
    }

    /// Serve TLS too (clients choose), with `pki`'s leaf as the server's
    /// certificate: its files in the data directory, owned by the server's
    /// user, then a reload.
    pub fn enable_tls(&self, pki: &super::pki::Pki) {
        let (crt, key) = (
            self.data().join("server.crt"),
            self.data().join("server.key"),
        );
        std::fs::write(&crt, pki.leaf.pem()).unwrap();
        std::fs::write(&key, pki.leaf_key.serialize_pem()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if as_root() {
            let u = nix::unistd::User::from_name("postgres").unwrap().unwrap();
            for f in [&crt, &key] {
                nix::unistd::chown(f, Some(u.uid), Some(u.gid)).unwrap();
            }
        }
        self.sql("postgres", "ALTER SYSTEM SET ssl = on");
        self.sql("postgres", "SELECT pg_reload_conf()");
    }

    /// Run SQL as the superuser in `db`; its output (`psql -At`).
    pub fn sql(&self, db: &str, sql: &str) -> String {
        self.run_ok("psql", &self.psql_args(ADMIN, db, sql))
    }

    /// Run SQL as `user` in `db`: Ok(output) or Err(error text).
    pub fn try_sql(&self, user: &str, db: &str, sql: &str) -> Result<String, String> {
        let out = self.run("psql", &self.psql_args(user, db, sql));
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn psql_args(&self, user: &str, db: &str, sql: &str) -> Vec<String> {
        [
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            user,
            "-d",
            db,
            "-c",
            sql,
        ]
        .map(String::from)
        .to_vec()
    }

    /// A new, empty database; its URL for `[store] url` (as the superuser).
    pub fn database(&self) -> (String, String) {
        let name = format!("fleet_{}_{}", std::process::id(), super::unique());
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        let url = self.url(ADMIN, &name);
        (name, url)
    }

    pub fn url(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Immediate: the cluster is thrown away with its temp dir.
        let _ = self.run(
            "pg_ctl",
            &[
                "stop",
                "-w",
                "-m",
                "immediate",
                "-D",
                &self.data().display().to_string(),
            ],
        );
    }
}

/// A console on the shared database `url` (its own data dir, holding
/// `key_from`'s audit key when given: every console on one database needs
/// the first one's; README, "High availability"), with the standard
/// tokens plus `extra` (agents…).
pub fn console(
    url: &str,
    key_from: Option<&super::console::Console>,
    extra: &str,
) -> super::console::Console {
    console_env(url, key_from, "", extra, &[])
}

/// `console`, with more `[console]` keys and `env` added (test hooks).
pub fn console_env(
    url: &str,
    key_from: Option<&super::console::Console>,
    console_keys: &str,
    extra: &str,
    env: &[(&str, &str)],
) -> super::console::Console {
    use super::console::{Console, OPERATOR, VIEWER};
    let dir = tempfile::tempdir().unwrap();
    if let Some(first) = key_from {
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::copy(
            first.dir.path().join("data/audit.key"),
            data.join("audit.key"),
        )
        .unwrap();
    }
    let config = dir.path().join("console.toml");
    let text = format!(
        "[console]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n{console_keys}\n\
         [store]\nurl = \"{url}\"\n\n\
         [[tokens]]\nname = \"ops\"\ntoken = \"{OPERATOR}\"\nrole = \"operator\"\n\n\
         [[tokens]]\nname = \"watcher\"\ntoken = \"{VIEWER}\"\nrole = \"viewer\"\n\n{extra}"
    );
    std::fs::write(&config, text).unwrap();
    let mut c = Console {
        dir,
        config,
        port: 0,
        child: None,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    c.spawn();
    c
}
