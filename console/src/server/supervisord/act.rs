//! The verbs on a supervisord host, as fleet's: the selector (fleet-api's
//! one rule) picks names among the processes read fresh, then
//! `group:NAME` and `all` go to supervisord's group and all calls, any
//! other selector to one call per process, all with `wait = True`. A
//! restart is stop then start (supervisord has no restart call). Faults
//! become per-process outcomes: `ALREADY_STARTED` on a start and
//! `NOT_RUNNING` on a stop are `already` (as fleet's), `SPAWN_ERROR`,
//! `ABNORMAL_TERMINATION`, `BAD_NAME` and the rest `failed` with
//! supervisord's message.

use super::SupervisordClient;
use super::SvError;
use fleet_api::{ActionResponse, ActionResult, Outcome, ProcessState, Selector, Verb};
use fleet_client::xmlrpc::Value;
use std::collections::BTreeMap;

/// What each named process came to, as the calls said.
type Said = BTreeMap<String, (Outcome, String)>;

impl SupervisordClient {
    pub async fn act(
        &self,
        target: &str,
        verb: Verb,
        signal: Option<String>,
    ) -> Result<ActionResponse, SvError> {
        let sel: Selector =
            target
                .parse()
                .map_err(|e: fleet_api::SelectorError| SvError::Refused {
                    status: 400,
                    message: e.to_string(),
                })?;
        let before = self.processes().await?;
        let names: Vec<String> = sel
            .select(&before)
            .into_iter()
            .map(|p| p.name.clone())
            .collect();
        if names.is_empty() {
            return Err(SvError::Refused {
                status: 404,
                message: format!("no process matches {target:?}"),
            });
        }
        let mut said = Said::new();
        match verb {
            Verb::Reexec => {
                return Err(SvError::Refused {
                    status: 400,
                    message: "supervisord cannot re-execute in place: its upgrade (a restart of supervisord) restarts every program".into(),
                })
            }
            Verb::Start => self.start(&sel, &names, &mut said).await?,
            Verb::Stop => self.stop(&sel, &names, &mut said).await?,
            Verb::Restart => {
                self.stop(&sel, &names, &mut said).await?;
                // A failed stop is the restart's verdict; the rest start.
                said.retain(|_, (o, _)| *o == Outcome::Failed);
                self.start(&sel, &names, &mut said).await?;
                for (o, _) in said.values_mut() {
                    if *o == Outcome::Already {
                        *o = Outcome::Ok;
                    }
                }
            }
            Verb::Signal => {
                let sig = signal.unwrap_or_else(|| "TERM".into());
                for n in &names {
                    let r = self
                        .call(
                            "supervisor.signalProcess",
                            &[Value::str(n), Value::str(&sig)],
                        )
                        .await?;
                    let v = match r {
                        Ok(_) => (Outcome::Ok, String::new()),
                        Err(f) => (Outcome::Failed, f.text),
                    };
                    said.insert(n.clone(), v);
                }
            }
        }
        let after = self.processes().await?;
        let results = names
            .iter()
            .map(|n| {
                let now = after.iter().find(|p| &p.name == n);
                let (outcome, message) = said.get(n).cloned().unwrap_or_else(|| {
                    // Left out of a group/all call: it was already there.
                    (Outcome::Already, String::new())
                });
                ActionResult {
                    name: n.clone(),
                    outcome,
                    state: now.map_or(ProcessState::Unknown, |p| p.state),
                    pid: now.and_then(|p| p.pid),
                    message,
                }
            })
            .collect();
        Ok(ActionResponse {
            verb,
            target: target.to_owned(),
            results,
        })
    }

    async fn start(
        &self,
        sel: &Selector,
        names: &[String],
        said: &mut Said,
    ) -> Result<(), SvError> {
        self.each(sel, names, "start", "ALREADY_STARTED", said)
            .await
    }

    async fn stop(&self, sel: &Selector, names: &[String], said: &mut Said) -> Result<(), SvError> {
        self.each(sel, names, "stop", "NOT_RUNNING", said).await
    }

    /// `supervisor.{verb}AllProcesses`, `{verb}ProcessGroup` or
    /// `{verb}Process` for each name not yet decided; `already` is the
    /// fault that means nothing was to be done.
    async fn each(
        &self,
        sel: &Selector,
        names: &[String],
        verb: &str,
        already: &str,
        said: &mut Said,
    ) -> Result<(), SvError> {
        let wait = Value::Bool(true);
        let many = match sel {
            Selector::All => Some((format!("supervisor.{verb}AllProcesses"), vec![wait.clone()])),
            Selector::Group(g) => Some((
                format!("supervisor.{verb}ProcessGroup"),
                vec![Value::str(g), wait.clone()],
            )),
            _ => None,
        };
        if let Some((method, params)) = many {
            let v = self.value(&method, &params).await?;
            let Value::Array(items) = v else {
                return Err(super::odd("a group call did not answer an array"));
            };
            for i in &items {
                let (Some(Value::Str(g)), Some(Value::Str(n))) =
                    (i.member("group"), i.member("name"))
                else {
                    continue;
                };
                let name = format!("{g}:{n}");
                if said.contains_key(&name) {
                    continue;
                }
                let code = match i.member("status") {
                    Some(Value::Int(c)) => *c,
                    _ => 0,
                };
                let why = match i.member("description") {
                    Some(Value::Str(s)) => super::capped(s, 300),
                    _ => String::new(),
                };
                let v = match fleet_client::xmlrpc::Code::from_i64(code).map(|c| c.name()) {
                    Some("SUCCESS") => (Outcome::Ok, String::new()),
                    Some(c) if c == already => (Outcome::Already, String::new()),
                    c => (Outcome::Failed, format!("{}: {why}", c.unwrap_or("FAULT"))),
                };
                said.insert(name, v);
            }
            return Ok(());
        }
        let left: Vec<&String> = names.iter().filter(|n| !said.contains_key(*n)).collect();
        for n in left {
            let r = self
                .call(
                    &format!("supervisor.{verb}Process"),
                    &[Value::str(n), wait.clone()],
                )
                .await?;
            let v = match r {
                Ok(_) => (Outcome::Ok, String::new()),
                Err(f) if f.name() == Some(already) => (Outcome::Already, String::new()),
                Err(f) => (Outcome::Failed, f.text),
            };
            said.insert(n.clone(), v);
        }
        Ok(())
    }
}
