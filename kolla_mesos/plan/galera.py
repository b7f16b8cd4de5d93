"""Pure decisions of ``kolla-mesos mariadb recovery``: a Galera cluster every node of which
died (kolla-ansible's ``mariadb_recovery``).

After such a crash no node may start a new cluster on its own (none left last, cleanly), and
starting one from a node that missed the last commits would lose them.  The recovery asks
every node's data for its last committed position, picks the node with the highest seqno
(``grastate.dat``, or ``mariadbd --wsrep-recover`` when the crash left ``seqno: -1``), marks
it, and starts the app again: the marked node starts the cluster (mariadb-start.sh), the
others join it by state transfer.

Everything that touches a node's data runs as a one-shot Chronos job pinned to that node's
host and mounting its data volume, so it works on a real cluster; the jobs print one line
that the deployer reads back through the Mesos sandbox (:data:`POSITION_MARK`).  Chronos runs
a shell command with ``/bin/sh``: the scripts are POSIX shell (no ``pipefail``).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from kolla_mesos import errors
from kolla_mesos.plan.payloads import host_pattern

#: The line a probe job prints: ``kolla-mesos-galera-position host=H uuid=U seqno=N``.
POSITION_MARK = "kolla-mesos-galera-position"
#: The file mariadb-start.sh looks for: this node starts the new cluster, once.
BOOTSTRAP_MARKER = "kolla-recovery-bootstrap"
DATADIR = "/var/lib/mysql"
_POSITION = re.compile(POSITION_MARK + r" host=(?P<host>\S+) uuid=(?P<uuid>\S*) "
                       r"seqno=(?P<seqno>-?\d+)")


@dataclasses.dataclass(frozen=True)
class Position:
    """One node's last committed position."""

    host: str
    uuid: str
    seqno: int


def _job(name: str, description: str, script: str, host: str, image: str,
         volume: str) -> dict[str, Any]:
    return {
        "name": name, "description": description, "command": script, "shell": True,
        "schedule": "R1//PT24H", "owner": "", "disabled": False, "concurrent": False,
        "retries": 0, "cpus": 0.1, "mem": 256.0, "disk": 0.0,
        "constraints": [["hostname", "LIKE", host_pattern([host])]],
        "container": {"type": "DOCKER", "image": image, "network": "HOST",
                      "volumes": [{"containerPath": DATADIR, "hostPath": volume,
                                   "mode": "RW"}]},
    }


def _safe(host: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in host)


def probe_job(deployment_id: str, host: str, image: str, volume: str,
              provider: str) -> dict[str, Any]:
    """A job that prints the node's last committed position (it does not change the data
    beyond InnoDB's own crash recovery, which the next start would run anyway).  A node whose
    data gives none prints seqno -1 and says why on stderr: the job still succeeds, so one
    unreadable node does not stop the recovery of the others."""
    grastate = f"{DATADIR}/grastate.dat"
    recover = " ".join(shlex.quote(arg) for arg in [
        "/usr/sbin/mariadbd", "--no-defaults", "--user=mysql", f"--datadir={DATADIR}",
        "--wsrep-on=ON", f"--wsrep-provider={provider}", "--wsrep-cluster-address=gcomm://",
        # (a socket of its own: every probe of a test cluster may share one machine's /tmp)
        "--binlog-format=ROW", "--skip-networking",
        f"--socket=/tmp/kolla-recover-{_safe(host)}.sock",
        "--wsrep-recover"])
    script = (
        "set -eu; "
        f"g={grastate}; log=/tmp/kolla-recover.$$.log; "
        "if [ ! -f \"$g\" ]; then echo \"no $g: this node never joined a cluster\" >&2; "
        f"echo \"{POSITION_MARK} host={host} uuid= seqno=-1\"; exit 0; fi; "
        "uuid=$(sed -n 's/^uuid: *//p' \"$g\"); seqno=$(sed -n 's/^seqno: *//p' \"$g\"); "
        "if [ -z \"$seqno\" ] || [ \"$seqno\" = -1 ]; then "
        f"{recover} >\"$log\" 2>&1 || true; "
        "pos=$(sed -n 's/.*WSREP: Recovered position: *//p' \"$log\" | tail -n 1); "
        "if [ -z \"$pos\" ]; then echo 'mariadbd --wsrep-recover found no position:' >&2; "
        "tail -n 20 \"$log\" >&2; pos=:-1; fi; "
        "uuid=${pos%:*}; seqno=${pos##*:}; fi; "
        f"echo \"{POSITION_MARK} host={host} uuid=$uuid seqno=$seqno\"")
    return _job(f"{deployment_id}-mariadb-recover-probe-{_safe(host)}",
                f"kolla-mesos:{deployment_id}:mariadb-recovery:probe:{host}", script, host,
                image, volume)


def mark_job(deployment_id: str, position: Position, image: str,
             volume: str) -> dict[str, Any]:
    """A job that makes the chosen node the one that starts the new cluster: its recovered
    seqno and ``safe_to_bootstrap: 1`` in grastate.dat, and the marker mariadb-start.sh
    obeys (without it the node would wait for a peer that is itself waiting)."""
    grastate = f"{DATADIR}/grastate.dat"
    script = (
        "set -eu; "
        f"g={grastate}; "
        f"sed -i -e 's/^safe_to_bootstrap: *0/safe_to_bootstrap: 1/' "
        f"-e 's/^seqno: *-1$/seqno:   {position.seqno}/' \"$g\"; "
        f"touch {DATADIR}/{BOOTSTRAP_MARKER}; chown --reference=\"$g\" "
        f"{DATADIR}/{BOOTSTRAP_MARKER}; "
        f"echo \"{position.host} starts the cluster at seqno {position.seqno}\"")
    return _job(f"{deployment_id}-mariadb-recover-mark-{_safe(position.host)}",
                f"kolla-mesos:{deployment_id}:mariadb-recovery:mark:{position.host}", script,
                position.host, image, volume)


def parse_positions(outputs: Mapping[str, str]) -> tuple[dict[str, Position], list[str]]:
    """Each host's position from its probe job's stdout, and the hosts that gave none (their
    data cannot say: they rejoin by state transfer from the chosen node).  No position at
    all is an error: there is nothing to start the cluster from."""
    found: dict[str, Position] = {}
    for host, text in outputs.items():
        for match in _POSITION.finditer(text):
            if match.group("host") == host and int(match.group("seqno")) >= 0:
                found[host] = Position(host, match.group("uuid"), int(match.group("seqno")))
    missing = sorted(set(outputs) - set(found))
    if not found:
        raise errors.DeployFailed(
            f"No Galera position from any node ({', '.join(missing)}): see 'kolla-mesos "
            "logs' of the probe jobs' output; the app stays scaled to zero.")
    return found, missing


def choose_bootstrap(positions: Mapping[str, Position], order: Sequence[str]) -> Position:
    """The node to start the cluster from: the highest seqno (ties: the first host of the
    group, as kolla-ansible's recovery does), all nodes of one cluster uuid."""
    uuids = {p.uuid for p in positions.values() if p.uuid}
    if len(uuids) > 1:
        raise errors.DeployFailed(
            "The MariaDB nodes belong to different Galera clusters ("
            + ", ".join(f"{h}: {p.uuid}" for h, p in sorted(positions.items()))
            + "): recover by hand; nothing was changed.")
    rank = {host: i for i, host in enumerate(order)}
    return max(positions.values(), key=lambda p: (p.seqno, -rank.get(p.host, len(rank))))
