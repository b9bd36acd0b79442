"""Python's xmlrpc.client against a running fleet-agent: every supervisord
method and fault, then exactly the calls the Datadog supervisord check,
Telegraf's inputs.supervisor and node_exporter's supervisord collector
make, checking the fields they read. Run by tests/supervisorctl.rs, which
starts the agent with the programs this script expects (see CONFIG there).

usage: xmlrpc_clients.py unix:///path/agent.sock | http://user:token@127.0.0.1:PORT/RPC2

The Datadog check and Telegraf are not installable from PyPI (the check
ships inside the Datadog Agent, Telegraf and node_exporter are Go), so
their calls are replayed here as their sources make them
(reference/supervisor-xmlrpc.md, "Other clients").
"""

import re
import sys
import time
import xmlrpc.client

url = sys.argv[1]
if url.startswith("unix://"):
    # supervisorctl's own transport: HTTP over AF_UNIX.
    from supervisor.xmlrpc import SupervisorTransport

    server = xmlrpc.client.ServerProxy(
        "http://127.0.0.1", transport=SupervisorTransport(None, None, url)
    )
else:
    server = xmlrpc.client.ServerProxy(url)
sup = server.supervisor
checks = 0


def ok(cond, what):
    global checks
    checks += 1
    if not cond:
        raise AssertionError(what)


def fault(code, text, fn, *args):
    try:
        got = fn(*args)
    except xmlrpc.client.Fault as f:
        ok(f.faultCode == code, f"{fn}{args}: code {f.faultCode} != {code} ({f.faultString})")
        ok(
            f.faultString == text or f.faultString.startswith(text),
            f"{fn}{args}: {f.faultString!r} does not start with {text!r}",
        )
        return
    raise AssertionError(f"{fn}{args}: no fault, got {got!r}")


def until(what, fn, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def info(name):
    return sup.getProcessInfo(name)


# --- identity and state
ok(sup.getAPIVersion() == "3.0", "getAPIVersion")
ok(sup.getVersion() == "3.0", "getVersion")
ok(re.fullmatch(r"\d+\.\d+\.\d+", sup.getSupervisorVersion()), "getSupervisorVersion")
ok(sup.getIdentification() == "supervisor", "getIdentification")
ok(sup.getState() == {"statecode": 1, "statename": "RUNNING"}, "getState")
ok(isinstance(sup.getPID(), int) and sup.getPID() > 1, "getPID")
fault(20, "NO_FILE", sup.readLog, 0, 0)
fault(20, "NO_FILE", sup.clearLog)

# --- system namespace
methods = server.system.listMethods()
for m in ["supervisor.startProcess", "supervisor.getAllProcessInfo", "system.multicall",
          "supervisor.reloadConfig", "supervisor.sendProcessStdin"]:
    ok(m in methods, f"listMethods has {m}")
ok(server.system.methodSignature("supervisor.startProcess") == ["boolean", "string", "boolean"], "methodSignature")
ok(isinstance(server.system.methodHelp("supervisor.getPID"), str), "methodHelp")
fault(4, "SIGNATURE_UNSUPPORTED", server.system.methodHelp, "nope")
fault(1, "UNKNOWN_METHOD", sup.nope)
fault(2, "INCORRECT_PARAMETERS", sup.getProcessInfo)
fault(2, "INCORRECT_PARAMETERS", sup.getPID, 1)
mc = server.system.multicall([
    {"methodName": "supervisor.getAPIVersion", "params": []},
    {"methodName": "supervisor.getProcessInfo", "params": ["nosuch"]},
    {"methodName": "system.multicall", "params": [[]]},
])
ok(mc[0] == "3.0", f"multicall returns raw values: {mc[0]!r}")
ok(mc[1] == {"faultCode": 10, "faultString": "BAD_NAME: nosuch"}, f"multicall fault: {mc[1]!r}")
ok(mc[2]["faultCode"] == 2, "nested multicall refused")

# --- process info: fields, order, types
FIELDS = ["name", "group", "start", "stop", "now", "state", "statename", "spawnerr",
          "exitstatus", "logfile", "stdout_logfile", "stderr_logfile", "pid", "description"]
until("one RUNNING", lambda: info("one")["statename"] == "RUNNING")
one = info("one")
ok(list(one) == FIELDS, f"field order {list(one)}")
ok(one["name"] == "one" and one["group"] == "one", "namespec one")
ok(re.fullmatch(r"pid \d+, uptime \d+:\d\d:\d\d", one["description"]), one["description"])
ok(one["state"] == 20 and one["pid"] > 0 and one["start"] > 0, "running fields")
ok(one["logfile"] == one["stdout_logfile"] and one["logfile"].endswith(".log"), "logfile")
web = info("web:web_0")
ok(web["name"] == "web_0" and web["group"] == "web", "group:name")
fault(10, "BAD_NAME: web", sup.getProcessInfo, "web")
fault(10, "BAD_NAME: nosuch", sup.getProcessInfo, "nosuch")
never = info("manual")
ok(never["statename"] == "STOPPED" and never["description"] == "Not started", "never started")
ok(never["pid"] == 0 and never["start"] == 0, "stopped fields are 0")
every = sup.getAllProcessInfo()
ok([(p["group"], p["name"]) for p in every] == sorted((p["group"], p["name"]) for p in every), "sorted")

# --- start / stop / signal
fault(60, "ALREADY_STARTED: one", sup.startProcess, "one")
fault(70, "NOT_RUNNING: manual", sup.stopProcess, "manual")
fault(10, "BAD_NAME: nosuch", sup.startProcess, "nosuch")
ok(sup.startProcess("manual") is True, "startProcess waits")
ok(info("manual")["statename"] == "RUNNING", "manual RUNNING after start")
ok(sup.stopProcess("manual") is True, "stopProcess")
m = info("manual")
ok(m["statename"] == "STOPPED" and re.fullmatch(r"\w{3} \d\d \d\d:\d\d [AP]M", m["description"]), m["description"])
ok(sup.startProcess("manual", False) is True, "startProcess no wait")
until("manual RUNNING", lambda: info("manual")["statename"] == "RUNNING")
fault(50, "SPAWN_ERROR: bad", sup.startProcess, "bad")
ok(info("bad")["spawnerr"] != "", "spawnerr set")
fault(40, "ABNORMAL_TERMINATION: quick", sup.startProcess, "quick")
ok(sup.startProcessGroup("web") == [], "group start skips running ones")
fault(10, "BAD_NAME: nogroup", sup.startProcessGroup, "nogroup")
r = sup.stopProcessGroup("web")
ok(sorted((x["name"], x["group"], x["status"], x["description"]) for x in r)
   == [("web_0", "web", 80, "OK"), ("web_1", "web", 80, "OK")], f"stopProcessGroup {r}")
r = sup.startProcessGroup("web")
ok(sorted(x["status"] for x in r) == [80, 80], f"startProcessGroup {r}")
ok(sup.signalProcess("one", "WINCH") is True, "signalProcess WINCH")
ok(sup.signalProcess("web:web_0", "SIGCONT") is True, "signalProcess SIGCONT")
ok(sup.signalProcess("web:web_1", "28") is True, "signalProcess by number")
fault(11, "BAD_SIGNAL: BOGUS", sup.signalProcess, "web:web_0", "BOGUS")
fault(70, "NOT_RUNNING: quick", sup.signalProcess, "quick", "WINCH")
r = sup.signalProcessGroup("web", "WINCH")
ok(sorted(x["status"] for x in r) == [80, 80], f"signalProcessGroup {r}")
r = sup.signalProcessGroup("web", "BOGUS")
ok([x["status"] for x in r] == [11, 11], f"signalProcessGroup bad signal {r}")
r = sup.signalAllProcesses("WINCH")
# bad is BACKOFF (a running state without a pid): FAILED, as supervisord.
ok(sorted((x["name"], x["status"]) for x in r) == [("bad", 30), ("err", 80), ("manual", 80),
   ("one", 80), ("web_0", 80), ("web_1", 80)], f"signalAllProcesses {r}")
fault(70, "NOT_RUNNING: quick", sup.sendProcessStdin, "quick", "x")
fault(20, "NO_FILE: one", sup.sendProcessStdin, "one", "x")
fault(2, "INCORRECT_PARAMETERS", sup.sendProcessStdin, "one", 5)

# --- logs
until("one's output", lambda: "ready" in sup.readProcessStdoutLog("one", -1600, 0))
ok(sup.readProcessStdoutLog("one", 0, 5) == "ready", "read from offset")
fault(3, "BAD_ARGUMENTS", sup.readProcessStdoutLog, "one", -5, 5)
fault(10, "BAD_NAME: nosuch", sup.readProcessStdoutLog, "nosuch", 0, 0)
until("stderr output", lambda: "to-stderr" in sup.readProcessStderrLog("err", -100, 0))
# tailFile: past offset+length the answer is the last `length` bytes.
data, size, overflow = sup.tailProcessStdoutLog("one", 0, 5)
ok(len(data) == 5 and data.endswith("\n") and overflow is True, f"tail {data!r} {size} {overflow}")
ok(sup.tailProcessStdoutLog("one", size, 100) == ["", size, False], "tail at the end")
data, size2, overflow = sup.tailProcessStdoutLog("one", 0, 1000)
ok(data.startswith("ready") and size2 == size and overflow is False, "tail all")
ok(sup.tailProcessStderrLog("err", 0, 100)[0].startswith("to-stderr"), "tailProcessStderrLog")
ok(sup.clearProcessLogs("one") is True, "clearProcessLogs")
ok(sup.readProcessStdoutLog("one", 0, 0) == "", "cleared")
fault(10, "BAD_NAME: nosuch", sup.clearProcessLogs, "nosuch")
r = sup.clearAllProcessLogs()
ok(all(x["status"] == 80 and x["description"] == "OK" for x in r), f"clearAllProcessLogs {r}")

# --- config
ok(sup.reloadConfig() == [[[], [], []]], "reloadConfig with nothing changed")
cfg = sup.getAllConfigInfo()
web0 = [c for c in cfg if c["name"] == "web_0"][0]
ok(web0["group"] == "web" and web0["inuse"] is True and web0["autostart"] is True, f"config info {web0}")
fault(90, "ALREADY_ADDED: web", sup.addProcessGroup, "web")
fault(10, "BAD_NAME: nogroup", sup.addProcessGroup, "nogroup")
fault(91, "STILL_RUNNING", sup.removeProcessGroup, "web")
sup.stopProcessGroup("web")
ok(sup.removeProcessGroup("web") is True, "removeProcessGroup")
fault(10, "BAD_NAME: web:web_0", sup.getProcessInfo, "web:web_0")
ok(sup.reloadConfig() == [[["web"], [], []]], "web is available again")
ok(sup.addProcessGroup("web") is True, "addProcessGroup")
until("web back", lambda: info("web:web_0")["statename"] == "RUNNING")

# --- what monitoring reads
# Datadog (supervisord check): getAllProcessInfo + getSupervisorVersion.
version = sup.getSupervisorVersion()
ok(re.match(r"\d+\.\d+(\.\d+)?", version), "datadog version regex")
STATES = {"STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN"}
for p in sup.getAllProcessInfo():
    ok(p["statename"] in STATES, "datadog statename")
    for k in ["name", "group", "description", "logfile", "stdout_logfile", "stderr_logfile"]:
        ok(isinstance(p[k], str), f"datadog {k} is a string")
    for k in ["start", "stop", "now", "exitstatus", "pid", "state"]:
        ok(isinstance(p[k], int), f"datadog/node_exporter {k} is an int")
    # the check's uptime: now - start for RUNNING
    if p["statename"] == "RUNNING":
        ok(p["now"] >= p["start"] > 0, "uptime from now - start")
# Telegraf inputs.supervisor: getAllProcessInfo, getState, getIdentification.
ok(sup.getState()["statecode"] == 1 and isinstance(sup.getIdentification(), str), "telegraf")

print(f"xmlrpc_clients: {checks} checks passed against {url.split('@')[-1]}")
