//! Log capture under load: a program writing 1 GiB as fast as it can loses
//! no byte (current file + backups hold all of it, in order) and the API
//! keeps answering meanwhile; a log that cannot keep up slows its program,
//! not the agent.

mod common;
use common::*;
use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

const GIB: u64 = 1 << 30;
const CHUNK: u64 = 65536;

#[test]
fn a_1_gib_flood_lands_on_disk_byte_for_byte_while_the_api_answers() {
    let a = Agent::start(&format!(
        r#"
[program.flood]
command = "TESTPROG flood {GIB} {CHUNK}"
startsecs = 0
autorestart = false
stdout_logfile_maxbytes = "100MB"
stdout_logfile_backups = 20
"#
    ));
    // Poll status while the flood runs; every answer must come promptly.
    let mut worst = Duration::ZERO;
    let mut polls = 0;
    let p = wait_for(Duration::from_secs(300), "the flood to finish", || {
        let t = Instant::now();
        let p = a.process("flood");
        worst = worst.max(t.elapsed());
        polls += 1;
        (p["state"] == "EXITED").then_some(p)
    });
    assert_eq!(p["exit_status"]["code"], 0, "{p}");
    eprintln!("status during the flood: {polls} polls, worst {worst:?}");
    assert!(worst < Duration::from_secs(1), "API stalled for {worst:?}");

    // The pump may still be writing the last bytes after the exit.
    let base = a.log_dir.join("flood.stdout.log");
    let files = wait_for(Duration::from_secs(60), "all bytes on disk", || {
        let mut files = vec![];
        for i in (1..=20).rev() {
            let p = base.with_extension(format!("log.{i}"));
            if p.exists() {
                files.push(p);
            }
        }
        files.push(base.clone());
        let total: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
        (total == GIB).then_some(files)
    });
    assert!(
        files.len() >= 10,
        "expected rotation into ~11 files: {files:?}"
    );
    for f in &files[..files.len() - 1] {
        let len = f.metadata().unwrap().len();
        assert!(len >= 100_000_000, "{} rotated early: {len}", f.display());
    }
    // In order, nothing lost or doubled: chunk k starts at offset k * CHUNK
    // of the concatenation (oldest backup first) with its 16-digit index.
    let mut offset = 0u64;
    let mut head = [0u8; 16];
    for f in &files {
        let len = f.metadata().unwrap().len();
        let mut file = std::fs::File::open(f).unwrap();
        let mut next = offset.div_ceil(CHUNK) * CHUNK;
        while next + 16 <= offset + len {
            file.seek(SeekFrom::Start(next - offset)).unwrap();
            file.read_exact(&mut head).unwrap();
            let want = format!("{:016}", next / CHUNK);
            assert_eq!(
                std::str::from_utf8(&head).unwrap(),
                want,
                "at byte {next} ({})",
                f.display()
            );
            next += CHUNK;
        }
        offset += len;
    }
    assert_eq!(offset, GIB);
    // The in-memory tail holds the last bytes.
    let r = a.request("GET", "/v1/processes/flood/log?tail=1", "");
    assert_eq!(r.body, b"\n");
    let m = a.request("GET", "/metrics", "").text();
    assert!(
        m.contains(&format!(
            "fleet_agent_log_bytes_total{{name=\"flood:flood\",group=\"flood\",program=\"flood\",stream=\"stdout\"}} {GIB}"
        )),
        "{m}"
    );
}

/// The agent's counter of bytes captured from `name`'s stdout.
fn captured(a: &Agent, name: &str) -> u64 {
    let m = a.request("GET", "/metrics", "").text();
    let (group, _) = name.split_once(':').unwrap();
    let key = format!(
        "fleet_agent_log_bytes_total{{name=\"{name}\",group=\"{group}\",program=\"{group}\",stream=\"stdout\"}} "
    );
    m.lines()
        .find_map(|l| l.strip_prefix(&key))
        .map_or(0, |v| v.trim().parse().unwrap())
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_log_that_cannot_keep_up_slows_its_program_not_the_agent() {
    use std::os::unix::fs::OpenOptionsExt;
    // The flood's log "file" is a FIFO that the test reads only later:
    // until then every write to it blocks, as on a stalled disk.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stalled.log");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // A reader must exist before the agent opens the FIFO for writing.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    const TOTAL: u64 = 64 << 20;
    let a = Agent::start(&format!(
        r#"
[program.flood]
command = "TESTPROG flood {TOTAL} {CHUNK}"
startsecs = 0
autorestart = false
stdout_logfile = {fifo:?}

[program.ticker]
command = "TESTPROG ticker 20"
startsecs = 0
"#
    ));
    // RUNNING first (startsecs = 0 promotes it at the owner's next turn,
    // which a loaded machine may give after the flood's first 128 KiB).
    a.wait_state("flood", "RUNNING", Duration::from_secs(30));
    // The flood gets going, then stops: past what the pipe, the writer's
    // queue and the FIFO hold, it is blocked on its own stdout. Past 128 KiB
    // taken in, more is bound for the FIFO (64 KiB) than it can hold, so
    // the writer thread is stuck or about to be.
    wait_for(Duration::from_secs(30), "the flood to be captured", || {
        (captured(&a, "flood:flood") > 128 << 10).then_some(())
    });
    let ticker_log = a.log_dir.join("ticker.stdout.log");
    let lines = || std::fs::read_to_string(&ticker_log).map_or(0, |s| s.lines().count());
    let before = lines();
    // Meanwhile the agent answers at once and the ticker's output is
    // still written: nothing waits for the stalled log but its program.
    let mut worst = Duration::ZERO;
    wait_for(Duration::from_secs(30), "the ticker's log to grow", || {
        let t = Instant::now();
        assert_eq!(a.state("flood"), "RUNNING");
        worst = worst.max(t.elapsed());
        (lines() >= before + 10).then_some(())
    });
    assert!(worst < Duration::from_secs(1), "API stalled for {worst:?}");
    let held = captured(&a, "flood:flood");
    assert!(
        held < 8 << 20,
        "{held} bytes taken while the log is stalled"
    );
    assert!(
        rss_kib(a.pid()) < 64 * 1024,
        "agent RSS {} KiB",
        rss_kib(a.pid())
    );

    // Unstalled, every byte arrives, in order, and the flood ends.
    let mut got = Vec::with_capacity(TOTAL as usize);
    let mut buf = vec![0u8; 1 << 20];
    wait_for(
        Duration::from_secs(60),
        "all bytes through the FIFO",
        || {
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            (got.len() as u64 >= TOTAL).then_some(())
        },
    );
    assert_eq!(got.len() as u64, TOTAL);
    for (k, chunk) in got.chunks(CHUNK as usize).enumerate() {
        assert_eq!(&chunk[..16], format!("{k:016}").as_bytes(), "chunk {k}");
    }
    let p = a.wait_state("flood", "EXITED", Duration::from_secs(30));
    assert_eq!(p["exit_status"]["code"], 0, "{p}");
}

/// Names of the agent's threads.
fn threads(pid: u32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_log_writer_thread_starts_with_the_first_flood_not_before() {
    let a = Agent::start(&format!(
        r#"
[program.ticker]
command = "TESTPROG ticker 10"
startsecs = 0

[program.flood]
command = "TESTPROG flood {} {CHUNK}"
startsecs = 0
autostart = false
autorestart = false
"#,
        64 << 20
    ));
    let ticker_log = a.log_dir.join("ticker.stdout.log");
    wait_for(
        Duration::from_secs(30),
        "the ticker's lines on disk",
        || {
            let n = std::fs::read_to_string(&ticker_log).map_or(0, |s| s.lines().count());
            (n >= 5).then_some(())
        },
    );
    let quiet = threads(a.pid());
    assert!(!quiet.iter().any(|t| t == "fleet-logwrite"), "{quiet:?}");
    a.post("/v1/processes/flood/start", "");
    a.wait_state("flood", "EXITED", Duration::from_secs(60));
    let busy = threads(a.pid());
    assert_eq!(
        busy.iter().filter(|t| *t == "fleet-logwrite").count(),
        1,
        "{busy:?}"
    );
}

/// `[agent] forward_output`: each program's lines also reach the agent's
/// own stdout (its stdout) and stderr (its stderr), led by the process
/// name, while the log files and the tail keep every byte.
#[test]
fn forward_output_copies_each_line_with_its_process_name() {
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().join("agent.stdout");
    let out_file = std::fs::File::create(&out_path).unwrap();
    let a = Agent::start_as(
        "forward_output = true",
        "[program.talk]\ncommand = \"TESTPROG stderr hello-both\"\nstartsecs = 0\n\n\
         [program.tick]\ncommand = \"TESTPROG ticker 20\"\nnumprocs = 2\nprocess_name = \"tick_{num}\"\nstartsecs = 0\n",
        move |c| {
            c.stdout(out_file);
        },
    );
    let stdout = wait_for(Duration::from_secs(20), "forwarded lines", || {
        let t = std::fs::read_to_string(&out_path).ok()?;
        (t.contains("tick:tick_0 | tick 5\n")
            && t.contains("tick:tick_1 | tick 5\n")
            && t.contains("talk:talk | hello-both\n"))
        .then_some(t)
    });
    // Whole lines only: every line is "NAME | text".
    for l in stdout.lines() {
        assert!(
            l.starts_with("tick:tick_0 | tick ")
                || l.starts_with("tick:tick_1 | tick ")
                || l == "talk:talk | hello-both",
            "{l:?}"
        );
    }
    let stderr = wait_for(Duration::from_secs(20), "the stderr line on stderr", || {
        let t = a.stderr();
        t.contains("talk:talk | hello-both\n").then_some(t)
    });
    assert!(!stderr.contains("tick:tick_0 |"), "stdout lines on stderr");
    // The tail still has them.
    let r = a.request("GET", "/v1/processes/talk/log?stream=stderr", "");
    assert_eq!(r.text(), "hello-both\n");
}

/// A forwarding target that stops reading (a full pipe) never blocks a
/// program or the agent: the flood reaches its log file whole, the API
/// answers, and once the pipe is read again the agent says how much it
/// did not forward.
#[test]
fn forward_output_never_blocks_on_a_stuck_stdout() {
    let (rd, wr) = nix::unistd::pipe().unwrap();
    const BYTES: u64 = 16 << 20;
    let a = Agent::start_as(
        "forward_output = true",
        &format!("[program.flood]\ncommand = \"TESTPROG flood {BYTES} 4096\"\nstartsecs = 0\nautorestart = false\n"),
        move |c| {
            c.stdout(std::process::Stdio::from(wr));
        },
    );
    a.wait_state("flood:flood", "EXITED", Duration::from_secs(60));
    let path = a.log_dir.join("flood.stdout.log");
    wait_for(
        Duration::from_secs(30),
        "the whole flood in its file",
        || (std::fs::metadata(&path).ok()?.len() == BYTES).then_some(()),
    );
    assert_eq!(a.state("flood:flood"), "EXITED");
    // Unstick the pipe: the drop is said.
    let mut rd = std::fs::File::from(rd);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while rd.read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    let said = wait_for(Duration::from_secs(30), "the drop reported", || {
        let t = a.stderr();
        t.contains("were not forwarded").then_some(t)
    });
    assert!(
        said.contains("bytes of program output were not forwarded"),
        "{said}"
    );
}
