//! `system.*`: what the table says about itself, and multicall.

use super::super::wire::{Code, Fault, Value};
use super::{call_one, find, names, Call, Method};

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "system.listMethods",
        signature: &["array"],
        optional: 0,
        help: "Every method's name.",
        run: |c| Box::pin(list_methods(c)),
    },
    Method {
        name: "system.methodHelp",
        signature: &["string", "string"],
        optional: 0,
        help: "A method's help.",
        run: |c| Box::pin(method_help(c)),
    },
    Method {
        name: "system.methodSignature",
        signature: &["array", "string"],
        optional: 0,
        help: "A method's signature: return type, then argument types.",
        run: |c| Box::pin(method_signature(c)),
    },
    Method {
        name: "system.multicall",
        signature: &["array", "array"],
        optional: 0,
        help:
            "Run [{methodName, params}, ...]; each answer is the value or {faultCode, faultString}.",
        run: |c| Box::pin(multicall(c)),
    },
];

async fn list_methods(_: Call<'_>) -> Result<Value, Fault> {
    Ok(Value::Array(names().into_iter().map(Value::str).collect()))
}

/// The method the one argument names; SIGNATURE_UNSUPPORTED if none.
fn named(c: &Call<'_>) -> Result<&'static Method, Fault> {
    find(&c.args.string(0)?).ok_or_else(|| Fault::new(Code::SignatureUnsupported))
}

async fn method_help(c: Call<'_>) -> Result<Value, Fault> {
    Ok(Value::str(named(&c)?.help))
}

async fn method_signature(c: Call<'_>) -> Result<Value, Fault> {
    let sig = named(&c)?.signature;
    Ok(Value::Array(sig.iter().map(|s| Value::str(*s)).collect()))
}

/// Each call's raw value or `{faultCode, faultString}` (supervisord's
/// quirk: not `[value]`), sharing the request's budget; a multicall
/// inside one is refused.
async fn multicall(c: Call<'_>) -> Result<Value, Fault> {
    let (false, Some(Value::Array(calls))) = (c.nested, c.args.get(0)) else {
        return Err(Fault::new(Code::IncorrectParameters));
    };
    let mut out = Vec::with_capacity(calls.len());
    for each in calls {
        let name = match each.member("methodName") {
            Some(Value::Str(s)) => s.clone(),
            _ => {
                out.push(Fault::new(Code::IncorrectParameters).to_value());
                continue;
            }
        };
        let params = match each.member("params") {
            Some(Value::Array(p)) => p.clone(),
            None => Vec::new(),
            Some(_) => {
                out.push(Fault::new(Code::IncorrectParameters).to_value());
                continue;
            }
        };
        out.push(match call_one(c.h, c.budget, &name, params, true).await {
            Ok(v) => v,
            Err(f) => f.to_value(),
        });
    }
    Ok(Value::Array(out))
}
