"""P2: a no-op redeploy makes zero writes; how long does it take?

Starts a real ZooKeeper and the simulator in this process, deploys the test profile once
(the baseline: a first deploy that creates everything and waits for health), then redeploys
the same inputs N times through the real CLI code path (settings -> plan -> diff -> apply)
and reports, for each, the ZooKeeper writes, the Marathon/Chronos write requests and the wall
time, as a ratio to the first deploy measured in the same run.

    .venv/bin/python benchmarks/noop_redeploy.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mesos_sim.simulator import Simulator  # noqa: E402

from kolla_mesos import settings  # noqa: E402
from kolla_mesos.apply.clients import Clients  # noqa: E402
from kolla_mesos.apply.deploy import Deployer  # noqa: E402
from kolla_mesos.plan.loader import PlanInputs, load_plan  # noqa: E402
from kolla_mesos.testing.zookeeper import ZookeeperServer  # noqa: E402
from tests.functional.deploy_helpers import make_env  # noqa: E402


def deploy_once(conf_path: Path, extra: dict[str, object]) -> tuple[float, int, int, bool]:
    """One deploy through the CLI's code path: (seconds, zk writes, api writes, changed)."""
    start = time.perf_counter()
    conf = settings.load([str(conf_path)])
    plan = load_plan(PlanInputs.from_settings(conf, extra))
    with Clients.from_settings(conf) as clients:
        report = Deployer(clients, timeout=120).deploy(plan)
    elapsed = time.perf_counter() - start
    return elapsed, report.zk_writes, report.http_writes, not report.diff.empty


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-p2-"))
    zk = ZookeeperServer()
    zk.start()
    sim = Simulator(tmp / "sim", chronos_failure_retry=0.2)
    sim.start()
    try:
        (tmp / "d").mkdir()
        env = make_env(tmp / "d", zk.hosts, "/kolla", sim.urls())
        extra = {"store_port": env.store_port, "web_port": env.web_port,
                 "python": sys.executable}
        first = deploy_once(env.conf, extra)
        runs = [deploy_once(env.conf, extra) for _ in range(args.runs)]
    finally:
        sim.stop()
        zk.stop()
    print(f"first deploy (baseline): {first[0]:.3f} s, {first[1]} ZooKeeper writes, "
          f"{first[2]} API writes")
    times = [r[0] for r in runs]
    print(f"no-op redeploy x{args.runs}: median {statistics.median(times):.3f} s "
          f"(min {min(times):.3f}, max {max(times):.3f}); ZooKeeper writes "
          f"{[r[1] for r in runs]}; API writes {[r[2] for r in runs]}; "
          f"changed {[r[3] for r in runs]}")
    print(f"ratio no-op / first deploy: {statistics.median(times) / first[0]:.3f}")
    ok = all(r[1] == 0 and r[2] == 0 and not r[3] for r in runs)
    print("PASS: zero writes on every no-op redeploy" if ok else "FAIL: a no-op redeploy wrote")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
