//! Log tails of a supervisord host's processes:
//! `supervisor.tailProcessStdoutLog` / `tailProcessStderrLog` (name,
//! offset 0, length), the length capped.

use super::SupervisordClient;
use super::SvError;
use fleet_api::Stream;
use fleet_client::xmlrpc::Value;

/// The most bytes a tail asks supervisord for.
pub const TAIL_MAX: usize = 1 << 20;
/// A tail without `tail=` (supervisorctl's and the agent's default).
const DEFAULT_TAIL: usize = 1600;

impl SupervisordClient {
    /// The last `tail` bytes (at most [`TAIL_MAX`]) of `name`'s `stream`.
    /// With `stamped`, lines as `\tLINE`: supervisord keeps no read times,
    /// and an empty time is how fleet's stamped tail says "not known".
    pub async fn tail(
        &self,
        name: &str,
        stream: Stream,
        tail: Option<usize>,
        stamped: bool,
    ) -> Result<Vec<u8>, SvError> {
        let len = tail.unwrap_or(DEFAULT_TAIL).min(TAIL_MAX);
        let method = match stream {
            Stream::Stdout => "supervisor.tailProcessStdoutLog",
            Stream::Stderr => "supervisor.tailProcessStderrLog",
        };
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        let v = self
            .value(method, &[Value::str(name), Value::Int(0), Value::Int(len)])
            .await?;
        let text = match &v {
            Value::Array(a) => match a.first() {
                Some(Value::Str(s)) => s.clone(),
                _ => String::new(),
            },
            _ => {
                return Err(super::odd(
                    "a log tail that is not [bytes, offset, overflow]",
                ))
            }
        };
        let mut out = text.into_bytes();
        out.truncate(TAIL_MAX);
        if !stamped {
            return Ok(out);
        }
        let mut s = Vec::with_capacity(out.len() + out.len() / 16);
        for line in out.split_inclusive(|b| *b == b'\n') {
            s.push(b'\t');
            s.extend_from_slice(line);
        }
        Ok(s)
    }
}
