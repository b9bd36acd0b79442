//! Throughput of log capture: a producer floods a pipe, `spawn_pump` writes
//! it to a rotating file. Prints MiB/s and the agent's CPU seconds per GiB,
//! and checks that the files on disk hold every byte when nothing was
//! rotated away.
//!
//! cargo run --release -p fleet-agent --example log_flood -- \
//!     [GIB] [MAXBYTES] [BACKUPS] [DIR]
//!
//! The producer is `dd if=/dev/zero bs=64k`; compare with
//! `time (dd if=/dev/zero bs=64k count=16384 | cat > FILE)`.

use fleet_agent::config::LogSpec;
use fleet_agent::logs::{spawn_pump, LogStream, TAIL_BYTES};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.into());
    let gib: u64 = arg(0, "1").parse().expect("GIB");
    let maxbytes: u64 = arg(1, "100000000").parse().expect("MAXBYTES");
    let backups: u32 = arg(2, "20").parse().expect("BACKUPS");
    let dir = match args.get(3) {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("log_flood.{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("flood.log");
    let spec = LogSpec {
        path: Some(path.clone()),
        maxbytes,
        backups,
    };
    let total = gib << 30;
    let chunks = total / (64 << 10);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stream = LogStream::open(&spec, TAIL_BYTES).unwrap();
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut producer = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k", "status=none"])
        .arg(format!("count={chunks}"))
        .stdout(Stdio::from(w))
        .spawn()
        .expect("spawn dd");
    let pump = {
        let _rt = rt.enter();
        spawn_pump(r, stream.clone())
    };
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(600), pump).await })
        .expect("pump did not finish")
        .unwrap();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    // Reaped after the measurement; it exited at EOF already.
    #[allow(clippy::disallowed_methods)]
    let status = producer.wait().unwrap();
    assert!(status.success(), "dd failed: {status}");

    let written = stream.bytes_written();
    assert_eq!(written, total, "bytes received");
    let mut on_disk = std::fs::metadata(&path).unwrap().len();
    let mut files = 1;
    for i in 1..=backups {
        match std::fs::metadata(format!("{}.{i}", path.display())) {
            Ok(m) => {
                on_disk += m.len();
                files += 1;
            }
            Err(_) => break,
        }
    }
    let mib = written as f64 / (1 << 20) as f64;
    println!(
        "{gib} GiB maxbytes={maxbytes} backups={backups}: {:.0} MiB/s, {wall:.2} s wall, \
         agent CPU {cpu:.2} s ({:.2} s/GiB), {files} files, {on_disk} bytes on disk, \
         write errors {}",
        mib / wall,
        cpu / gib as f64,
        stream.write_errors(),
    );
    if maxbytes == 0 || u64::from(backups) * maxbytes >= total {
        assert_eq!(on_disk, written, "every byte is on disk");
        println!("every byte is on disk");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// User + system CPU of this process (the agent side only; `dd` is a child).
fn cpu_seconds() -> f64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is valid.
    let ru = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()), 0);
        ru.assume_init()
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
