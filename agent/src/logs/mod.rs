//! TEMPORARY STUB (replaced by the real module from the logs branch).
use crate::config::LogSpec;
use bytes::Bytes;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
pub const TAIL_BYTES: usize = 64 * 1024;
pub struct LogStream {
    path: Option<PathBuf>,
    inner: Mutex<(Option<std::fs::File>, Vec<u8>, u64)>,
    tx: broadcast::Sender<Bytes>,
    cap: usize,
}
impl LogStream {
    pub fn open(spec: &LogSpec, cap: usize) -> std::io::Result<Arc<LogStream>> {
        let f = match &spec.path {
            Some(p) => {
                if let Some(d) = p.parent() {
                    std::fs::create_dir_all(d)?;
                }
                Some(
                    std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(p)?,
                )
            }
            None => None,
        };
        Ok(Arc::new(LogStream {
            path: spec.path.clone(),
            inner: Mutex::new((f, Vec::new(), 0)),
            tx: broadcast::channel(256).0,
            cap,
        }))
    }
    pub fn write(&self, data: &[u8]) {
        let mut g = self.inner.lock().unwrap();
        if let Some(f) = &mut g.0 {
            let _ = f.write_all(data);
        }
        g.1.extend_from_slice(data);
        let l = g.1.len();
        if l > self.cap {
            g.1.drain(..l - self.cap);
        }
        g.2 += data.len() as u64;
        let _ = self.tx.send(Bytes::copy_from_slice(data));
    }
    pub fn tail(&self, max: usize) -> Vec<u8> {
        let g = self.inner.lock().unwrap();
        let s = g.1.len().saturating_sub(max);
        g.1[s..].to_vec()
    }
    pub fn follow(&self, max: usize) -> (Vec<u8>, broadcast::Receiver<Bytes>) {
        let g = self.inner.lock().unwrap();
        let s = g.1.len().saturating_sub(max);
        (g.1[s..].to_vec(), self.tx.subscribe())
    }
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
    pub fn bytes_written(&self) -> u64 {
        self.inner.lock().unwrap().2
    }
    pub fn reopen(&self) -> std::io::Result<()> {
        Ok(())
    }
}
pub fn spawn_pump(pipe: OwnedFd, stream: Arc<LogStream>) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut f = std::fs::File::from(pipe);
        let mut buf = vec![0u8; 65536];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => stream.write(&buf[..n]),
            }
        }
    })
}
