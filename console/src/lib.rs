//! fleet-console
