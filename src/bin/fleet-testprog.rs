//! A program for the end-to-end tests to supervise: each mode reproduces
//! one behaviour real workers have (ignoring SIGTERM with a prefork pool,
//! daemonizing grandchildren, flooding stdout, crashing on start).
//!
//! Usage: fleet-testprog MODE [ARGS]
//!   sleep                       print "ready PID" and wait forever
//!   exit CODE [AFTER_MS]        exit with CODE (after AFTER_MS)
//!   record FILE                 append "PID UNIX_NANOS" to FILE, then wait
//!   stubborn N PIDFILE          ignore SIGTERM; fork N children that ignore
//!                               it too, and one grandchild that calls
//!                               setsid; write every pid to PIDFILE
//!   celery N PIDFILE            a Celery-like worker with default signal
//!                               handling (TERM ends it): fork N pool
//!                               children, and a task subprocess (under the
//!                               first child) that ignores TERM and calls
//!                               setsid; write every pid to PIDFILE, the
//!                               task's last
//!   signals FILE                append "PID SIGNAL" to FILE for each
//!                               SIGUSR1, SIGUSR2 or SIGHUP it gets (a
//!                               signal leaves no trace in the agent)
//!   count FILE                  append "PID" to FILE, then exit 1 (a
//!                               crash loop that counts its runs)
//!   doublefork PIDFILE          fork a child that forks a grandchild and
//!                               exits at once (the grandchild is orphaned
//!                               and lives 200 ms); write pids; wait
//!   flood BYTES [CHUNK]         write BYTES to stdout in CHUNK-byte writes
//!                               (default 65536); each chunk starts with its
//!                               16-digit index so gaps show; then exit 0
//!   ticker MS                   print "tick N" every MS milliseconds
//!   chatty RATE                 print RATE numbered ~100-byte log lines a
//!                               second, one write each, paced by deadline
//!                               (a busy worker's logging, not a flood)
//!   env VAR...                  print VAR=value lines, then wait
//!   hog MB                      allocate and touch MB MiB, then wait
//!   stderr TEXT                 write TEXT to stderr and stdout, then wait
//!   http PORT FILE [AFTER_MS]   serve HTTP on 127.0.0.1:PORT (after
//!                               AFTER_MS): each request answers as FILE
//!                               says at that moment: "fail" 503, "hang"
//!                               never answers, anything else (or no
//!                               file) 200 with body "ok <pid>"

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> &str { args.get(i).map(String::as_str).unwrap_or("") };
    match arg(0) {
        "sleep" => {
            println!("ready {}", std::process::id());
            wait_forever()
        }
        "exit" => {
            let code: i32 = arg(1).parse().expect("exit CODE");
            if let Ok(ms) = arg(2).parse::<u64>() {
                std::thread::sleep(Duration::from_millis(ms));
            }
            std::process::exit(code)
        }
        "record" => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(arg(1))
                .expect("record FILE");
            // One write(2) per record: with O_APPEND it lands whole even
            // when hundreds of instances start at once.
            let line = format!("{} {nanos}\n", std::process::id());
            f.write_all(line.as_bytes()).unwrap();
            drop(f);
            wait_forever()
        }
        "http" => http(arg(1), arg(2), arg(3).parse().unwrap_or(0)),
        "stubborn" => stubborn(arg(1).parse().expect("stubborn N"), arg(2)),
        "doublefork" => doublefork(arg(1)),
        "celery" => celery(arg(1).parse().expect("celery N"), arg(2)),
        "signals" => signals(arg(1)),
        "count" => {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(arg(1))
                .expect("count FILE");
            f.write_all(format!("{}\n", std::process::id()).as_bytes())
                .unwrap();
            std::process::exit(1)
        }
        "flood" => {
            let total: u64 = arg(1).parse().expect("flood BYTES");
            let chunk: usize = arg(2).parse().unwrap_or(65536);
            flood(total, chunk)
        }
        "ticker" => {
            let ms: u64 = arg(1).parse().expect("ticker MS");
            for n in 0.. {
                println!("tick {n}");
                std::thread::sleep(Duration::from_millis(ms));
            }
        }
        "chatty" => {
            let rate: u32 = arg(1).parse().expect("chatty RATE");
            chatty(rate)
        }
        "hog" => {
            let mb: usize = arg(1).parse().expect("hog MB");
            // Touched page by page, so it is resident, not just reserved.
            let mut v = vec![0u8; mb << 20];
            for i in (0..v.len()).step_by(4096) {
                v[i] = 1;
            }
            println!("ready {} {}", std::process::id(), v.len());
            wait_forever()
        }
        "env" => {
            for name in &args[1..] {
                println!("{name}={}", std::env::var(name).unwrap_or_default());
            }
            wait_forever()
        }
        "stderr" => {
            eprintln!("{}", arg(1));
            println!("{}", arg(1));
            wait_forever()
        }
        other => {
            eprintln!("fleet-testprog: unknown mode {other:?}");
            std::process::exit(2)
        }
    }
}

fn wait_forever() -> ! {
    loop {
        std::thread::park();
    }
}

fn ignore_term() {
    // SAFETY: installing SIG_IGN has no handler code to be unsafe in.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
}

/// fork(2); the child runs `f` and never returns.
fn fork_then(f: impl FnOnce()) -> i32 {
    // SAFETY: the test program is single-threaded when it forks.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        f();
        wait_forever()
    }
    pid
}

fn write_pids(path: &str, pids: &[i32]) {
    let text: String = pids.iter().map(|p| format!("{p}\n")).collect();
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn stubborn(children: usize, pidfile: &str) -> ! {
    ignore_term();
    let mut pids = vec![std::process::id() as i32];
    for _ in 0..children {
        pids.push(fork_then(|| {}));
    }
    // A grandchild that leaves the process group, as a daemonizing helper
    // would: killpg cannot reach it.
    let (r, w) = nix_pipe();
    fork_then(|| {
        let gc = fork_then(|| {
            // SAFETY: plain syscall.
            unsafe { libc::setsid() };
        });
        // SAFETY: writing 4 bytes to our pipe.
        unsafe { libc::write(w, (&gc as *const i32).cast(), 4) };
    });
    let mut gc: i32 = 0;
    // SAFETY: reading 4 bytes from our pipe.
    unsafe { libc::read(r, (&mut gc as *mut i32).cast(), 4) };
    pids.push(gc);
    // Wait until the grandchild has left the group, so the test sees the
    // hard case every time.
    // SAFETY: plain syscall.
    while unsafe { libc::getpgid(gc) } == unsafe { libc::getpgid(0) } {
        std::thread::sleep(Duration::from_millis(1));
    }
    write_pids(pidfile, &pids);
    println!("ready {}", std::process::id());
    wait_forever()
}

fn celery(children: usize, pidfile: &str) -> ! {
    let mut pids = vec![std::process::id() as i32];
    let (r, w) = nix_pipe();
    // The first pool child runs a task subprocess that ignores TERM and
    // has left the process group, as a shelled-out task can.
    pids.push(fork_then(|| {
        let task = fork_then(|| {
            ignore_term();
            // SAFETY: plain syscall.
            unsafe { libc::setsid() };
        });
        // SAFETY: writing 4 bytes to our pipe.
        unsafe { libc::write(w, (&task as *const i32).cast(), 4) };
    }));
    for _ in 1..children {
        pids.push(fork_then(|| {}));
    }
    let mut task: i32 = 0;
    // SAFETY: reading 4 bytes from our pipe.
    unsafe { libc::read(r, (&mut task as *mut i32).cast(), 4) };
    // SAFETY: plain syscalls.
    while unsafe { libc::getpgid(task) } == unsafe { libc::getpgid(0) } {
        std::thread::sleep(Duration::from_millis(1));
    }
    pids.push(task);
    write_pids(pidfile, &pids);
    println!("ready {}", std::process::id());
    wait_forever()
}

fn doublefork(pidfile: &str) -> ! {
    let (r, w) = nix_pipe();
    let child = fork_then(|| {
        let gc = fork_then(|| {
            std::thread::sleep(Duration::from_millis(200));
            std::process::exit(0);
        });
        // SAFETY: writing 4 bytes to our pipe.
        unsafe { libc::write(w, (&gc as *const i32).cast(), 4) };
        std::process::exit(0);
    });
    let mut gc: i32 = 0;
    // SAFETY: reading 4 bytes from our pipe.
    unsafe { libc::read(r, (&mut gc as *mut i32).cast(), 4) };
    // Reap the intermediate child ourselves, as a daemonizing parent does.
    // SAFETY: plain syscall on our own child.
    unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
    write_pids(pidfile, &[std::process::id() as i32, child, gc]);
    println!("ready {}", std::process::id());
    wait_forever()
}

fn nix_pipe() -> (i32, i32) {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

fn flood(total: u64, chunk: usize) -> ! {
    let mut out = std::io::stdout().lock();
    let mut buf = vec![b'.'; chunk];
    if let Some(last) = buf.last_mut() {
        *last = b'\n';
    }
    let mut written = 0u64;
    let mut index = 0u64;
    while written < total {
        let n = chunk.min((total - written) as usize);
        let head = format!("{index:016}");
        let k = head.len().min(n);
        buf[..k].copy_from_slice(&head.as_bytes()[..k]);
        out.write_all(&buf[..n]).unwrap();
        written += n as u64;
        index += 1;
    }
    out.flush().unwrap();
    std::process::exit(0)
}

fn http(port: &str, file: &str, after_ms: u64) -> ! {
    use std::io::Read;
    std::thread::sleep(Duration::from_millis(after_ms));
    let l = std::net::TcpListener::bind(format!("127.0.0.1:{port}")).expect("bind PORT");
    println!("listening {port}");
    for conn in l.incoming() {
        let Ok(mut c) = conn else { continue };
        let mode = std::fs::read_to_string(file).unwrap_or_default();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let _ = c.read(&mut buf);
            let (status, body) = match mode.trim() {
                "hang" => {
                    std::thread::sleep(Duration::from_secs(3600));
                    return;
                }
                "fail" => ("503 Service Unavailable", "failing".to_owned()),
                _ => ("200 OK", format!("ok {}", std::process::id())),
            };
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        });
    }
    unreachable!("incoming() never ends")
}

/// Lines on an absolute schedule, so a slow reader shows as lines that are
/// late, never as fewer lines.
fn chatty(rate: u32) -> ! {
    let pid = std::process::id();
    let every = Duration::from_secs(1) / rate.max(1);
    let start = std::time::Instant::now();
    let mut out = std::io::stdout().lock();
    for n in 0u64.. {
        let _ = writeln!(
            out,
            "[{pid}] {n:010} INFO worker: task tasks.process[{n:016x}] succeeded in 0.0042s: None"
        );
        let next = start + every * (n as u32 + 1);
        if let Some(wait) = next.checked_duration_since(std::time::Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    unreachable!()
}

/// Take SIGUSR1, SIGUSR2 and SIGHUP synchronously and append each one
/// received to `file`, one write per line.
fn signals(file: &str) -> ! {
    let wanted = [libc::SIGUSR1, libc::SIGUSR2, libc::SIGHUP];
    // SAFETY: a plain sigset built and installed before any thread exists.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in wanted {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .expect("signals FILE");
    println!("ready {}", std::process::id());
    loop {
        let mut got = 0;
        // SAFETY: `set` is initialised; sigwait only writes `got`.
        if unsafe { libc::sigwait(&set, &mut got) } != 0 {
            continue;
        }
        let name = match got {
            libc::SIGUSR1 => "USR1",
            libc::SIGUSR2 => "USR2",
            _ => "HUP",
        };
        f.write_all(format!("{} {name}\n", std::process::id()).as_bytes())
            .unwrap();
    }
}
