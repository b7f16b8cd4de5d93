# Shared shell helpers for tools/*: sourced, not executed.
# shellcheck shell=bash
set -euo pipefail

TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KOLLA_MESOS_VENV:-$TOP/.venv}"
PY="$VENV/bin/python"

log() { printf '==> %s\n' "$*" >&2; }

apt_install() {
    # apt_install PKG...: install Debian packages that are missing (apt-get update once).
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # Keep package post-install scripts from starting system services on well-known ports.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod 755 /usr/sbin/policy-rc.d
    fi
    if [ ! -f "$TOP/.state/apt-updated" ]; then
        $sudo apt-get update -qq
        mkdir -p "$TOP/.state" && touch "$TOP/.state/apt-updated"
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
    # ensure_venv [EXTRAS]: create .venv and install, editable, the simulator (mesos-sim, its
    # own distribution: the product's wheel does not contain it) and kolla-mesos with extras.
    local extras="${1:-}"
    if [ ! -x "$PY" ]; then
        log "creating $VENV"
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.kolla-mesos-installed${extras:+-$extras}"
    if [ ! -f "$stamp" ] || [ "$TOP/setup.cfg" -nt "$stamp" ] \
            || [ "$TOP/mesos-sim/setup.cfg" -nt "$stamp" ]; then
        log "installing mesos-sim and kolla-mesos${extras:+[$extras]} into $VENV"
        # (pip's noise about this machine's extra local index is filtered; its status is kept)
        if ! "$VENV/bin/pip" install -q --disable-pip-version-check -e "$TOP/mesos-sim" \
                -e "$TOP${extras:+[$extras]}" > "$VENV/pip-install.log" 2>&1; then
            grep -v "is neither a file nor a directory" "$VENV/pip-install.log" >&2
            echo "pip install failed (full log: $VENV/pip-install.log)" >&2
            return 1
        fi
        "$VENV/bin/python" -c "import kolla_mesos, mesos_sim"
        touch "$stamp"
    fi
}
