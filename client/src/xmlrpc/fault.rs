//! supervisord's fault codes and the fault answer: the agent's face sends
//! them, the console's supervisord client reads them back.

use super::{encode_value, Value};

/// supervisord's fault codes (`supervisor/xmlrpc.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    UnknownMethod = 1,
    IncorrectParameters = 2,
    BadArguments = 3,
    SignatureUnsupported = 4,
    ShutdownState = 6,
    BadName = 10,
    BadSignal = 11,
    NoFile = 20,
    NotExecutable = 21,
    Failed = 30,
    AbnormalTermination = 40,
    SpawnError = 50,
    AlreadyStarted = 60,
    NotRunning = 70,
    Success = 80,
    AlreadyAdded = 90,
    StillRunning = 91,
    CantReread = 92,
}

impl Code {
    const ALL: [Code; 18] = [
        Code::UnknownMethod,
        Code::IncorrectParameters,
        Code::BadArguments,
        Code::SignatureUnsupported,
        Code::ShutdownState,
        Code::BadName,
        Code::BadSignal,
        Code::NoFile,
        Code::NotExecutable,
        Code::Failed,
        Code::AbnormalTermination,
        Code::SpawnError,
        Code::AlreadyStarted,
        Code::NotRunning,
        Code::Success,
        Code::AlreadyAdded,
        Code::StillRunning,
        Code::CantReread,
    ];

    /// The code supervisord sent, when it is one of its own.
    pub fn from_i64(n: i64) -> Option<Code> {
        Code::ALL.into_iter().find(|c| *c as i64 == n)
    }

    pub fn name(self) -> &'static str {
        match self {
            Code::UnknownMethod => "UNKNOWN_METHOD",
            Code::IncorrectParameters => "INCORRECT_PARAMETERS",
            Code::BadArguments => "BAD_ARGUMENTS",
            Code::SignatureUnsupported => "SIGNATURE_UNSUPPORTED",
            Code::ShutdownState => "SHUTDOWN_STATE",
            Code::BadName => "BAD_NAME",
            Code::BadSignal => "BAD_SIGNAL",
            Code::NoFile => "NO_FILE",
            Code::NotExecutable => "NOT_EXECUTABLE",
            Code::Failed => "FAILED",
            Code::AbnormalTermination => "ABNORMAL_TERMINATION",
            Code::SpawnError => "SPAWN_ERROR",
            Code::AlreadyStarted => "ALREADY_STARTED",
            Code::NotRunning => "NOT_RUNNING",
            Code::Success => "SUCCESS",
            Code::AlreadyAdded => "ALREADY_ADDED",
            Code::StillRunning => "STILL_RUNNING",
            Code::CantReread => "CANT_REREAD",
        }
    }
}

/// An XML-RPC fault: `faultString` is `NAME` or `NAME: detail`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub code: Code,
    pub text: String,
}

impl Fault {
    pub fn new(code: Code) -> Fault {
        Fault {
            code,
            text: code.name().to_owned(),
        }
    }

    pub fn with(code: Code, detail: impl std::fmt::Display) -> Fault {
        Fault {
            code,
            text: format!("{}: {detail}", code.name()),
        }
    }

    pub fn to_value(&self) -> Value {
        Value::record([
            ("faultCode", Value::Int(self.code as i64)),
            ("faultString", Value::str(&self.text)),
        ])
    }

    pub fn encode(&self) -> String {
        let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<fault>\n");
        encode_value(&mut out, &self.to_value());
        out.push_str("\n</fault>\n</methodResponse>\n");
        out
    }
}
