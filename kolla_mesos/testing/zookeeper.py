"""A real ZooKeeper server for tests, benchmarks and the quickstart.

Starts Debian's ``zookeeper`` 3.8 (``/usr/share/java/zookeeper.jar``) as a standalone server on
an ephemeral loopback port with its own data directory, and a super-user digest so tests can
inspect nodes regardless of their ACLs.  Readiness is detected by the ``ruok`` four-letter word
(the server offers no event to wait on), bounded by a deadline.

ZooKeeper's snapshots and transaction logs hold every rendered secret, so the server's
directory is 0700 and the JVM runs with umask 077 (its files are 0600).  The super user's
password is random per server directory, kept in ``<dir>/super.cred`` (0600): no credential
is fixed in the source (docs/zookeeper-layout.md, "ZooKeeper's own files").
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from kazoo.client import KazooClient
from kazoo.security import make_digest_acl_credential

from kolla_mesos import errors

DEBIAN_CLASSPATH = [
    "/etc/zookeeper/conf",
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/zookeeper-jute.jar",
    "/usr/share/java/netty-codec.jar",
]
SUPER_USER = "super"
SUPER_CREDENTIALS = "super.cred"


def classpath() -> str:
    """Classpath of the Debian ZooKeeper jars (overridable with ZOOKEEPER_CLASSPATH)."""
    env = os.environ.get("ZOOKEEPER_CLASSPATH")
    if env:
        return env
    jar = Path("/usr/share/java/zookeeper.jar")
    if not jar.exists():
        raise errors.ConfigError(
            "ZooKeeper is not installed: /usr/share/java/zookeeper.jar is missing "
            "(install Debian's 'zookeeper' package or set ZOOKEEPER_CLASSPATH)."
        )
    return ":".join(p for p in DEBIAN_CLASSPATH if Path(p).exists())


def free_port(host: str = "127.0.0.1") -> int:
    """Return a currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def four_letter(host: str, port: int, word: str, timeout: float = 1.0) -> str:
    """Send a ZooKeeper four-letter command and return the answer ('' if unreachable)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(word.encode())
            chunks = []
            while True:
                data = sock.recv(4096)
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


class ZookeeperServer:
    """One ZooKeeper server in a private directory: standalone, or one member of a
    :class:`ZookeeperEnsemble` (``server_id`` and ``quorum`` set).

    Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(self, data_dir: str | None = None, port: int = 0, host: str = "127.0.0.1",
                 java: str = "java", server_id: int = 0,
                 quorum: Sequence[str] = ()) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._own_dir = data_dir is None
        self.base_dir = Path(data_dir or tempfile.mkdtemp(prefix="kolla-mesos-zk-"))
        self.java = java
        self.process: subprocess.Popen[bytes] | None = None
        #: ``myid`` and the ``server.N=host:peer:election`` lines of an ensemble member.
        self.server_id = server_id
        self.quorum = list(quorum)

    @property
    def hosts(self) -> str:
        """Connection string for clients."""
        return f"{self.host}:{self.port}"

    @property
    def super_auth(self) -> tuple[str, str]:
        """auth_data entry of the super user (reads every node whatever its ACL)."""
        return ("digest", f"{SUPER_USER}:{self._super_password()}")

    def _super_password(self) -> str:
        """The super user's password: random per server directory, kept 0600 beside its data.

        A restart in the same directory (tools/start-zookeeper) keeps the password.
        """
        path = self.base_dir / SUPER_CREDENTIALS
        try:
            return path.read_text(encoding="utf-8").strip().partition(":")[2]
        except FileNotFoundError:
            pass
        password = secrets.token_urlsafe(32)
        self.base_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(f"{SUPER_USER}:{password}\n")
        return password

    def _write_config(self) -> Path:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        data = self.base_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        # Snapshots and transaction logs hold every secret of every deployment.
        for directory in (self.base_dir, data):
            os.chmod(directory, 0o700)
        cfg = self.base_dir / "zoo.cfg"
        cfg.write_text(
            "tickTime=500\n"
            "initLimit=10\nsyncLimit=5\n"
            "minSessionTimeout=1000\nmaxSessionTimeout=60000\n"
            f"dataDir={data}\n"
            f"clientPort={self.port}\n"
            f"clientPortAddress={self.host}\n"
            "admin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,srvr,mntr,stat,cons\n"
            "forceSync=no\n"
            "maxClientCnxns=0\n"
            "jute.maxbuffer=1048575\n"
            + "".join(f"{line}\n" for line in self.quorum)
        )
        if self.server_id:
            (data / "myid").write_text(f"{self.server_id}\n")
        os.chmod(cfg, 0o600)
        return cfg

    def start(self, timeout: float = 60.0) -> ZookeeperServer:
        """Start the server and return once it serves clients (:meth:`serving`)."""
        self.launch()
        self.wait_serving(timeout)
        return self

    def launch(self) -> None:
        """Start the JVM (without waiting for it: :meth:`wait_serving`)."""
        cfg = self._write_config()
        digest = make_digest_acl_credential(SUPER_USER, self._super_password())
        log = os.fdopen(os.open(self.base_dir / "zookeeper.out",
                                os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        self.process = subprocess.Popen(
            [
                self.java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", classpath(),
                f"-Dzookeeper.log.dir={self.base_dir}",
                "-Dzookeeper.root.logger=INFO,CONSOLE",
                f"-Dzookeeper.DigestAuthenticationProvider.superDigest={digest}",
                "-Dzookeeper.jute.maxbuffer=1048575",
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg),
            ],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, umask=0o077,
        )
        log.close()

    def wait_serving(self, timeout: float) -> None:
        """Return once the launched server serves clients; raise when it exits or the
        deadline passes."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        delay = 0.05
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                out = (self.base_dir / "zookeeper.out").read_text(errors="replace")[-2000:]
                raise errors.ZookeeperError(
                    f"ZooKeeper exited with code {self.process.returncode} while starting: {out}"
                )
            if self.serving():
                return
            # No event exists for "the JVM is listening": poll with a short, growing delay.
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        self.stop()
        raise errors.DeadlineExceeded(
            f"ZooKeeper did not answer on {self.hosts} within {timeout:.0f} s."
        )

    def serving(self) -> bool:
        """Whether the server answers clients: ``imok`` standalone; in an ensemble, also a
        leader or follower role (a member without quorum answers ``imok`` but serves no
        request)."""
        if four_letter(self.host, self.port, "ruok") != "imok":
            return False
        return not self.quorum or self.mode() in ("leader", "follower")

    def mode(self) -> str:
        """``leader``, ``follower``, ``standalone`` or '' (from the ``srvr`` word)."""
        for line in four_letter(self.host, self.port, "srvr").splitlines():
            if line.startswith("Mode:"):
                return line.partition(":")[2].strip()
        return ""

    def kill(self) -> None:
        """SIGKILL the server (as a crash would), keeping its data for :meth:`start`."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        """Stop the server and remove its directory if we created it."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def client(self, auth: list[tuple[str, str]] | None = None, **kw: object) -> KazooClient:
        """A started KazooClient connected to this server."""
        client = KazooClient(hosts=self.hosts, auth_data=auth, timeout=10, **kw)
        client.start(timeout=15)
        return client

    def admin_client(self) -> KazooClient:
        """A started client authenticated as the super user."""
        return self.client(auth=[self.super_auth])

    def __enter__(self) -> ZookeeperServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class ZookeeperEnsemble:
    """Three (or ``size``) ZooKeeper servers forming one quorum on loopback ephemeral ports.

    For fault-injection tests: :meth:`kill` one member with SIGKILL, :meth:`restart` it,
    find the :meth:`leader` or the member a client's session is connected to.
    """

    def __init__(self, size: int = 3, host: str = "127.0.0.1") -> None:
        if size < 3 or size % 2 == 0:
            raise ValueError("an ensemble that survives the loss of a member has 3, 5, ... "
                             "members")
        self.base_dir = Path(tempfile.mkdtemp(prefix="kolla-mesos-zk-ensemble-"))
        quorum = [f"server.{i}={host}:{free_port(host)}:{free_port(host)}"
                  for i in range(1, size + 1)]
        self.servers = [ZookeeperServer(data_dir=str(self.base_dir / f"zk{i}"), host=host,
                                        server_id=i, quorum=quorum)
                        for i in range(1, size + 1)]
        # One super user for the whole ensemble (a client may reach any member): the first
        # member's random credential, copied 0600 beside each other member's data.
        self.servers[0].super_auth  # noqa: B018 - creates it
        shared = (self.servers[0].base_dir / SUPER_CREDENTIALS).read_bytes()
        for server in self.servers[1:]:
            server.base_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(server.base_dir / SUPER_CREDENTIALS,
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(shared)

    @property
    def hosts(self) -> str:
        """Connection string naming every member."""
        return ",".join(server.hosts for server in self.servers)

    @property
    def super_auth(self) -> tuple[str, str]:
        """auth_data entry of the super user."""
        return self.servers[0].super_auth

    def start(self, timeout: float = 90.0) -> ZookeeperEnsemble:
        """Start every member and return once each serves as leader or follower."""
        for server in self.servers:
            server.process = None
            server.launch()
        deadline = time.monotonic() + timeout
        for server in self.servers:
            server.wait_serving(max(1.0, deadline - time.monotonic()))
        return self

    def restart(self, index: int, timeout: float = 60.0) -> None:
        """Start a killed member again and wait until it has rejoined the quorum."""
        self.servers[index].start(timeout)

    def kill(self, index: int) -> None:
        """SIGKILL one member."""
        self.servers[index].kill()

    def leader(self) -> int | None:
        """Index of the current leader, or None while an election runs."""
        for index, server in enumerate(self.servers):
            if server.process is not None and server.mode() == "leader":
                return index
        return None

    def connected_to(self, session_id: int) -> int | None:
        """Index of the member holding the connection of session ``session_id`` (``cons``)."""
        marker = f"sid=0x{session_id:x}"
        for index, server in enumerate(self.servers):
            if server.process is not None and marker in four_letter(server.host,
                                                                     server.port, "cons"):
                return index
        return None

    def admin_client(self) -> KazooClient:
        """A started super-user client (any member)."""
        client = KazooClient(hosts=self.hosts, auth_data=[self.super_auth], timeout=10)
        client.start(timeout=30)
        return client

    def stop(self) -> None:
        """Stop every member and remove the ensemble's directory."""
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> ZookeeperEnsemble:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def expire_session(server_hosts: str, client: KazooClient, timeout: float = 15.0) -> None:
    """Expire ``client``'s session the way ZooKeeper does it in production.

    A second connection with the same session id and password is opened and closed, which
    makes the server expire the session (kazoo's test harness uses the same technique).
    Returns once ``client`` has seen the expiry and reconnected with a new session.
    """
    import threading

    from kazoo.protocol.states import KazooState

    lost = threading.Event()
    connected_again = threading.Event()

    def listener(state: str) -> None:
        if state == KazooState.LOST:
            lost.set()
        elif state == KazooState.CONNECTED and lost.is_set():
            connected_again.set()

    client.add_listener(listener)
    try:
        session_id, password = client.client_id
        other = KazooClient(hosts=server_hosts, client_id=(session_id, password), timeout=10)
        other.start(timeout=timeout)
        other.stop()
        other.close()
        if not lost.wait(timeout):
            raise errors.DeadlineExceeded("The ZooKeeper session did not expire in time.")
        if not connected_again.wait(timeout):
            raise errors.DeadlineExceeded("The client did not reconnect after session expiry.")
    finally:
        client.remove_listener(listener)


@contextlib.contextmanager
def running_server(**kw: object) -> Iterator[ZookeeperServer]:
    """Context manager yielding a started server."""
    server = ZookeeperServer(**kw)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()
