#!/usr/bin/env bash
# Build fleet's Debian packages with cargo-deb, check what is in them, and
# (as root, on a machine where fleet is not already installed) install and
# remove each one. Run from anywhere: `bash packaging/test-debs.sh`.
#
# Environment:
#   FLEET_DEB_FAST=1     build without LTO and with more codegen units (CI:
#                        the packages are tested, not shipped)
#   FLEET_DEB_NO_INSTALL=1  build and inspect only
set -euo pipefail
cd "$(dirname "$0")/.."

t0=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - t0)); }
fail() { echo "test-debs: FAIL: $*" >&2; exit 1; }
passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }

export DEBIAN_FRONTEND=noninteractive

step "cargo-deb"
if ! command -v cargo-deb >/dev/null; then
    cargo install cargo-deb --locked
fi
cargo deb --version

step "release build"
if [[ "${FLEET_DEB_FAST:-}" == 1 ]]; then
    export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
fi
cargo build --release --locked -p fleet-agent -p fleet-console
target="${CARGO_TARGET_DIR:-target}"
rel="$target/release"

step "man pages and completions"
rm -rf "$rel/fleet-docs"
"$rel/fleet-agent" gen-docs "$rel/fleet-docs"
"$rel/fleet-console" gen-docs "$rel/fleet-docs"
gzip -9n "$rel"/fleet-docs/man/*.1   # Debian ships man pages compressed

step "packages"
out="$target/debian"
rm -f "$out"/*.deb
cargo deb --no-build -p fleet-agent
cargo deb --no-build -p fleet-console
cargo deb --no-build -p fleet-console --variant fleetctl
deb() { ls "$out"/"$1"_*.deb; }
agent_deb=$(deb fleet-agent)
console_deb=$(deb fleet-console)
ctl_deb=$(deb fleetctl)
ls -l "$agent_deb" "$console_deb" "$ctl_deb"

step "contents"
# has DEB PATH...: every PATH is in DEB (exact path, as dpkg-deb -c lists it).
has() {
    local pkg=$1 list
    shift
    list=$(dpkg-deb -c "$pkg" | awk '{print $6}' | sed 's|^\./|/|')
    for p in "$@"; do
        grep -qxF "$p" <<<"$list" || { echo "$list" >&2; fail "$(basename "$pkg") lacks $p"; }
    done
    ok "$(basename "$pkg") has $*"
}
conffiles() {
    local pkg=$1 got
    shift
    got=$(dpkg-deb -I "$pkg" conffiles)
    for c in "$@"; do
        grep -qxF "$c" <<<"$got" || fail "$(basename "$pkg"): $c is not a conffile (conffiles: $got)"
    done
    ok "$(basename "$pkg") conffiles: $*"
}
field() { dpkg-deb -f "$1" "$2"; }
# has_re DEB REGEX WHAT: some path in DEB matches REGEX (grep -E, whole path).
has_re() {
    local list
    list=$(dpkg-deb -c "$1" | awk '{print $6}' | sed 's|^\./|/|')
    grep -qxE "$2" <<<"$list" || fail "$(basename "$1") lacks $3"
    ok "$(basename "$1") has $3"
}
unitdir() { dpkg-deb -c "$1" | awk '{print $6}' | sed -n 's|^\./\(.*systemd/system\)/.*|/\1|p' | head -1; }
for deb in "$agent_deb" "$console_deb" "$ctl_deb"; do dpkg-deb -I "$deb"; done

has "$agent_deb" /usr/bin/fleet-agent /etc/fleet/agent.toml \
    "$(unitdir "$agent_deb")/fleet-agent.service" \
    /usr/share/bash-completion/completions/fleet-agent \
    /usr/share/zsh/vendor-completions/_fleet-agent \
    /usr/share/fish/vendor_completions.d/fleet-agent.fish \
    /usr/share/doc/fleet-agent/examples/agent.toml
has_re "$agent_deb" "/usr/share/man/man1/fleet-agent\\.1\\.gz" "fleet-agent(1)"
has_re "$agent_deb" "/usr/share/man/man1/fleet-agent-import\\.1\\.gz" "fleet-agent-import(1)"
conffiles "$agent_deb" /etc/fleet/agent.toml
deps=$(field "$agent_deb" Depends)
grep -qw fleetctl <<<"$deps" || fail "fleet-agent does not depend on fleetctl: $deps"
ok "fleet-agent depends on fleetctl"

has "$console_deb" /usr/bin/fleet-console /etc/fleet/console.toml \
    "$(unitdir "$console_deb")/fleet-console.service" \
    /usr/share/bash-completion/completions/fleet-console \
    /usr/share/zsh/vendor-completions/_fleet-console \
    /usr/share/fish/vendor_completions.d/fleet-console.fish \
    /usr/share/fleet/monitoring/fleet-alerts.yml \
    /usr/share/fleet/monitoring/fleet-dashboard.json
has_re "$console_deb" "/usr/share/man/man1/fleet-console\\.1\\.gz" "fleet-console(1)"
conffiles "$console_deb" /etc/fleet/console.toml
postinst=$(dpkg-deb -I "$console_deb" postinst)
grep -q "adduser --quiet --system" <<<"$postinst" || fail "fleet-console postinst creates no user"
ok "fleet-console postinst creates its user"

has "$ctl_deb" /usr/bin/fleetctl /etc/fleet/fleetctl.toml \
    /usr/share/bash-completion/completions/fleetctl \
    /usr/share/zsh/vendor-completions/_fleetctl \
    /usr/share/fish/vendor_completions.d/fleetctl.fish
has_re "$ctl_deb" "/usr/share/man/man1/fleetctl-restart\\.1\\.gz" "fleetctl-restart(1)"
conffiles "$ctl_deb" /etc/fleet/fleetctl.toml
ctl_list=$(dpkg-deb -c "$ctl_deb")
if grep -q "systemd/system" <<<"$ctl_list"; then fail "fleetctl ships a unit"; fi
ok "fleetctl ships no unit"

if [[ "${FLEET_DEB_NO_INSTALL:-}" == 1 ]]; then
    step "done (install skipped: FLEET_DEB_NO_INSTALL=1)"
    echo "packaging: $passed passed, 0 failed"
    exit 0
fi
if [[ $(id -u) != 0 ]]; then
    step "done (install skipped: not root)"
    echo "packaging: $passed passed, 0 failed"
    exit 0
fi
for p in fleet-agent fleet-console fleetctl; do
    if [[ $(dpkg-query -W -f '${Status}' "$p" 2>/dev/null || true) == *" installed" ]]; then
        fail "$p is already installed here; not touching it (FLEET_DEB_NO_INSTALL=1 to skip this part)"
    fi
done

step "install fleet-agent"
dpkg -i "$ctl_deb" "$agent_deb"
fleet-agent --version
fleetctl --version
fleet-agent check /etc/fleet/agent.toml
[[ -d /var/log/fleet ]] || fail "no /var/log/fleet"
[[ -d /etc/fleet/conf.d ]] || fail "no /etc/fleet/conf.d"
man -w fleet-agent >/dev/null 2>&1 || [[ ! -x /usr/bin/man ]] || fail "man cannot find fleet-agent(1)"
ok "fleet-agent installed and runs"

step "an upgrade re-execs a running agent in place"
# The agent as its unit runs it (no systemd here); one program. The
# postinst's upgrade branch runs for `dpkg -i` of a newer version over an
# installed one: the same build, re-versioned, replaces /usr/bin/fleet-agent.
install -d -m 0755 /run/fleet
cat >/etc/fleet/conf.d/zz-test-debs.toml <<'TOML'
[program.sleeper]
command = "sleep 100000"
startsecs = 0
TOML
agent_log=$(mktemp)
fleet-agent --config /etc/fleet/agent.toml 2>"$agent_log" &
agent_pid=$!
trap 'kill "$agent_pid" 2>/dev/null || true' EXIT
sleeper_pid() {
    fleetctl --agent /run/fleet/agent.sock status -o json 2>/dev/null |
        python3 -c 'import json,sys; p=[x for x in json.load(sys.stdin)["processes"] if x["name"]=="sleeper:sleeper"]; print(p[0]["pid"] if p and p[0]["state"]=="RUNNING" else "")' 2>/dev/null || true
}
for _ in $(seq 1 200); do
    before=$(sleeper_pid)
    [[ -n "$before" ]] && break
    kill -0 "$agent_pid" 2>/dev/null || { cat "$agent_log" >&2; fail "the agent exited"; }
    sleep 0.05 # polling for the agent to come up, 10 s at most
done
[[ -n "$before" ]] || { cat "$agent_log" >&2; fail "sleeper never RUNNING"; }
version=$(field "$agent_deb" Version)
cargo deb --no-build -p fleet-agent --deb-version "${version}+upgrade1" >/dev/null
newer=$(ls "$out"/fleet-agent_"${version}"+upgrade1_*.deb)
up=$(dpkg -i "$newer" 2>&1) || { echo "$up" >&2; fail "dpkg -i of the newer fleet-agent failed"; }
grep -q "^fleet-agent: re-executed" <<<"$up" || { echo "$up" >&2; fail "postinst did not re-exec the agent"; }
kill -0 "$agent_pid" || fail "the agent is gone after the upgrade"
[[ $(sleeper_pid) == "$before" ]] || fail "sleeper restarted by the upgrade (pid $before -> $(sleeper_pid))"
ok "dpkg -i of a newer fleet-agent re-executed the running agent (pid $agent_pid kept, sleeper pid $before kept)"

# A re-exec that is refused (the config on disk no longer matches what
# the agent runs): the upgrade still succeeds, says the old version runs on.
sed -i "s/sleep 100000/sleep 100001/" /etc/fleet/conf.d/zz-test-debs.toml
rm -f "$newer"
cargo deb --no-build -p fleet-agent --deb-version "${version}+upgrade2" >/dev/null
newer=$(ls "$out"/fleet-agent_"${version}"+upgrade2_*.deb)
up=$(dpkg -i "$newer" 2>&1) || { echo "$up" >&2; fail "a refused re-exec failed the upgrade"; }
grep -q "could not re-execute into the new version" <<<"$up" || { echo "$up" >&2; fail "postinst did not say the re-exec failed"; }
grep -q "is still running and supervising every program" <<<"$up" || { echo "$up" >&2; fail "postinst did not say the old version runs on"; }
kill -0 "$agent_pid" || fail "the agent is gone after a refused re-exec"
[[ $(sleeper_pid) == "$before" ]] || fail "sleeper restarted by a refused re-exec"
ok "a refused re-exec leaves the agent and its programs running and says so; the upgrade stands"
rm -f "$newer"
kill -TERM "$agent_pid"
wait "$agent_pid" || true
trap - EXIT
rm -f /etc/fleet/conf.d/zz-test-debs.toml "$agent_log"

step "systemd-analyze verify"
if ! command -v systemd-analyze >/dev/null && [[ -n "${CI:-}" ]]; then
    apt-get install -y -qq --no-install-recommends systemd >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends systemd >/dev/null 2>&1; } || true
fi
verify() {
    if ! command -v systemd-analyze >/dev/null; then
        echo "skip: systemd-analyze is not installed; units not verified"
        return
    fi
    local unit=$1 log
    log=$(systemd-analyze verify "$unit" 2>&1) || true
    # Only lines about our unit count; a container's own units are noise.
    if grep -i "fleet" <<<"$log"; then fail "systemd-analyze verify $unit"; fi
    ok "systemd-analyze verify $unit"
}
agent_unit=$(dpkg -L fleet-agent | grep '/fleet-agent\.service$')
verify "$agent_unit"

step "remove fleet-agent"
dpkg -r fleet-agent
[[ ! -e /usr/bin/fleet-agent ]] || fail "fleet-agent still there after dpkg -r"
[[ -e /etc/fleet/agent.toml ]] || fail "dpkg -r removed the conffile /etc/fleet/agent.toml"
dpkg -P fleet-agent
[[ ! -e /etc/fleet/agent.toml ]] || fail "dpkg -P left /etc/fleet/agent.toml"
ok "fleet-agent removed (conffile kept) and purged"

step "install fleet-console"
dpkg -i "$console_deb"
fleet-console --version
getent passwd fleet-console || fail "no fleet-console user"
[[ $(stat -c %U /var/lib/fleet) == fleet-console ]] || fail "/var/lib/fleet not owned by fleet-console"
[[ $(stat -c %a /var/lib/fleet) == 700 ]] || fail "/var/lib/fleet is not 0700"
[[ $(stat -c '%a %U:%G' /etc/fleet/secrets/ops.token) == "640 root:fleet-console" ]] \
    || fail "postinst did not generate /etc/fleet/secrets/ops.token 0640 root:fleet-console"
[[ $(wc -c </etc/fleet/secrets/ops.token) -ge 44 ]] || fail "ops.token is too short"
runuser -u fleet-console -- fleet-console check /etc/fleet/console.toml
promtool check rules /usr/share/fleet/monitoring/fleet-alerts.yml
ok "fleet-console installed, its user exists, can read its config and has a generated operator token"
console_unit=$(dpkg -L fleet-console | grep '/fleet-console\.service$')
verify "$console_unit"

step "remove fleet-console"
dpkg -r fleet-console
[[ ! -e /usr/bin/fleet-console ]] || fail "fleet-console still there after dpkg -r"
dpkg -P fleet-console fleetctl
[[ ! -e /usr/bin/fleetctl ]] || fail "fleetctl still there after dpkg -P"
ok "fleet-console and fleetctl removed"

step "done"
echo "packaging: $passed passed, 0 failed"
