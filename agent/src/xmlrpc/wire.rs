//! The XML-RPC codec is fleet-client's (`fleet_client::xmlrpc`): one
//! hardened parser (no entities, bounded depth) for this face and for the
//! console's calls to supervisord hosts.

pub use fleet_client::xmlrpc::{encode_response, parse_call, Code, Fault, Value};
