"""``kolla-mesos-sim``: run the simulator standalone until SIGTERM/SIGINT.

Prints one JSON line ``{"marathon": URL, "chronos": URL, "mesos": URL}`` on stdout once every
API listens; on SIGTERM or SIGINT it stops every task it started and exits 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from types import FrameType

from mesos_sim.errors import ExitCode, SimError
from mesos_sim.simulator import Simulator

LOG = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="kolla-mesos-sim",
        description="A single-host Mesos cluster (Marathon, Chronos and Mesos APIs) that runs "
                    "tasks as local processes. For tests and demos, never for production.")
    parser.add_argument("--state-dir", required=True,
                        help="directory for sandboxes, volumes and agent overlays")
    parser.add_argument("--agents", help="YAML/JSON file with the fake agents "
                                         "(default: one agent agent1 at 127.0.1.1)")
    parser.add_argument("--host", default="127.0.0.1", help="address the APIs listen on")
    parser.add_argument("--marathon-port", type=int, default=0, help="0 = ephemeral")
    parser.add_argument("--chronos-port", type=int, default=0, help="0 = ephemeral")
    parser.add_argument("--mesos-port", type=int, default=0, help="0 = ephemeral")
    parser.add_argument("--isolation", action="store_true",
                        help="give each task its own mount namespace with a private "
                             "copy-on-write /etc, /var/lib, /var/log and /run, its volumes "
                             "mounted and the agent's host name (needs root and overlayfs)")
    parser.add_argument("--chronos-failure-retry", type=float, default=60.0, metavar="SECONDS",
                        help="delay before Chronos retries a failed job (its --failure_retry)")
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``kolla-mesos-sim``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        LOG.info("received signal %s, stopping every task", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sim = Simulator(args.state_dir, agents=args.agents, isolation=args.isolation,
                    host=args.host, marathon_port=args.marathon_port,
                    chronos_port=args.chronos_port, mesos_port=args.mesos_port,
                    chronos_failure_retry=args.chronos_failure_retry)
    try:
        sim.start()
    except SimError as exc:
        LOG.error("%s", exc)
        return int(exc.exit_code)
    except OSError as exc:
        LOG.error("cannot start the simulator: %s", exc)
        return int(ExitCode.ERROR)
    try:
        sys.stdout.write(json.dumps(sim.urls(), sort_keys=True) + "\n")
        sys.stdout.flush()
        while not stop.wait(3600):
            pass
    finally:
        sim.stop()
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
