"""``kolla-mesos-start``: the runner inside every Marathon task and Chronos job.

Everything it needs comes from the task environment (docs/service-definition.md, "Task
environment" and "Runner"); the command line only tunes logging.  Exit status: the daemon's
(128 + signal number when a signal killed it), the failed command's, or one of
:class:`kolla_mesos.errors.ExitCode` for the runner's own errors.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from kazoo.exceptions import KazooException

from kolla_mesos import errors
from kolla_mesos.runner import identity as identity_mod
from kolla_mesos.runner.app import Runner
from kolla_mesos.runner.session import Session

LOG = logging.getLogger("kolla_mesos.runner")

ENV_HELP = """environment:
  KOLLA_DEPLOYMENT, KOLLA_PROJECT, KOLLA_SERVICE   which definition to run (else taken
                                                   from MARATHON_APP_ID)
  KOLLA_COMMAND              job mode: run this command once and exit (Chronos)
  KOLLA_ZK_HOSTS             ZooKeeper connection string
  KOLLA_ZK_ROOT              ZooKeeper root (default /kolla)
  KOLLA_ZK_CREDENTIALS_FILE  file holding the runner's 'user:password'
  KOLLA_HOSTNAME             host name override (default: the system's)
  KOLLA_ADDRESS              address published in the member node (default: HOST)
  KOLLA_RELOAD_RESTART       'marathon' (default) or 'runner': who restarts a daemon
                             whose files changed under the 'restart' reload policy
  KOLLA_LOGLEVEL             default log level
"""


class Interrupted(BaseException):
    """SIGTERM/SIGINT arrived while no child was running."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def build_parser() -> argparse.ArgumentParser:
    """The (small) command line."""
    parser = argparse.ArgumentParser(
        prog="kolla-mesos-start",
        description="Fetch this task's files from ZooKeeper, wait for its dependencies, run "
        "its one-shot commands (run_once across all hosts), then run the service as its user "
        "and apply hot reloads.",
        epilog=ENV_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-level", default=os.environ.get("KOLLA_LOGLEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log level of the runner's own messages (default: %(default)s)")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks for errors")
    return parser


#: How long closing the ZooKeeper session may take before the runner exits anyway.
CLOSE_TIMEOUT = 10.0


def _close_bounded(session: Session) -> None:
    """Close the session, but never let a stuck close keep the task alive.

    A signal arrives at an arbitrary point of the main thread; if it interrupted kazoo in a
    state where stopping its threads blocks, the runner still exits (the server then expires
    the session, which releases its ephemeral nodes and locks).
    """
    closer = threading.Thread(target=session.close, name="zk-close", daemon=True)
    closer.start()
    closer.join(CLOSE_TIMEOUT)
    if closer.is_alive():
        LOG.warning("Closing the ZooKeeper session took more than %g s; exiting anyway "
                    "(the server will expire it).", CLOSE_TIMEOUT)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kazoo").setLevel(max(logging.WARNING, LOG.getEffectiveLevel()))
    runner: Runner | None = None
    session: Session | None = None

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if runner is not None and runner.forward_signal(signum) > 0:
            LOG.info("Forwarded signal %d to the child", signum)
            return
        if runner is None:
            raise Interrupted(signum)
        # No child runs: stop now.  An exception raised from a signal handler lands at an
        # arbitrary bytecode of the main thread and can be lost there (seen while waiting
        # for dependencies), so the runner closes its session (bounded: ephemeral nodes
        # and locks go with it) and exits with the conventional status itself.
        LOG.info("Stopped by signal %d", signum)
        if session is not None:
            _close_bounded(session)
        logging.shutdown()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # `kill -USR2 <runner>` prints every thread's stack to the task's stderr (hung runners).
    faulthandler.register(signal.SIGUSR2, all_threads=True)
    try:
        ident = identity_mod.from_env(os.environ)
        session = Session.connect(ident)
        runner = Runner(ident, session)
        return runner.run_job() if ident.job_mode else runner.run_app()
    except Interrupted as exc:
        LOG.info("Stopped by signal %d", exc.signum)
        return 128 + exc.signum
    except errors.KollaMesosError as exc:
        LOG.error("%s", exc, exc_info=args.debug)
        return int(exc.exit_code)
    except KazooException as exc:
        LOG.error("ZooKeeper operation failed (%s); the task will be restarted.",
                  type(exc).__name__, exc_info=args.debug)
        return int(errors.ExitCode.REMOTE)
    except Exception:
        LOG.exception("Unexpected error")
        return int(errors.ExitCode.ERROR)
    finally:
        if runner is not None and runner.supervisor is not None and \
                runner.supervisor.alive():
            runner.stop()
        if session is not None:
            _close_bounded(session)


if __name__ == "__main__":
    sys.exit(main())
