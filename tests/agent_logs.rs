//! Log capture under load: a program writing 1 GiB as fast as it can loses
//! no byte (current file + backups hold all of it, in order) and the API
//! keeps answering meanwhile.

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
            "fleet_agent_log_bytes_total{{name=\"flood:flood\",stream=\"stdout\"}} {GIB}"
        )),
        "{m}"
    );
}
