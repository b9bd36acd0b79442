//! Event listeners: supervisord's `[eventlistener:x]` protocol. The pure
//! parts — the event types and payloads (`event.rs`), the listener's
//! side of the protocol (`protocol.rs`), a pool's buffer (`pool.rs`) —
//! and `link.rs`, the task on the main runtime that carries one
//! listener process's stdin and stdout, so no listener can block the
//! owner. The owner's part is `supervisor/listeners.rs`.

pub mod event;
pub mod link;
pub mod pool;
pub mod protocol;
