//! The root package exists to hold fleet's end-to-end tests (`tests/`), which
//! drive the real `fleet-agent` and `fleetctl` binaries against real child
//! processes. It has no code of its own.
