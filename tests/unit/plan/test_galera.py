"""mariadb recovery's pure decisions: which node starts the cluster, and the jobs' scripts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kolla_mesos import errors
from kolla_mesos.plan import galera

UUID = "9bb03223-ef41-11f1-8855-aa661b0a91cd"


def test_the_highest_seqno_wins_and_ties_go_to_the_first_host() -> None:
    found, missing = galera.parse_positions({
        "db1": f"noise\n{galera.POSITION_MARK} host=db1 uuid={UUID} seqno=41\n",
        "db2": f"{galera.POSITION_MARK} host=db2 uuid={UUID} seqno=42\n",
        "db3": f"{galera.POSITION_MARK} host=db3 uuid={UUID} seqno=42\n"})
    assert missing == []
    assert galera.choose_bootstrap(found, ["db1", "db2", "db3"]).host == "db2"
    assert galera.choose_bootstrap(found, ["db3", "db2", "db1"]).host == "db3"


def test_a_node_without_a_position_or_another_cluster_is_refused() -> None:
    found, missing = galera.parse_positions({
        "db1": f"{galera.POSITION_MARK} host=db1 uuid={UUID} seqno=1",
        "db2": "mariadbd --wsrep-recover found no position"})
    assert set(found) == {"db1"} and missing == ["db2"]
    with pytest.raises(errors.DeployFailed, match="No Galera position from any node"):
        galera.parse_positions({"db1": f"{galera.POSITION_MARK} host=db1 uuid={UUID} seqno=-1",
                                "db2": ""})
    mixed = {"db1": galera.Position("db1", UUID, 3), "db2": galera.Position("db2", "other", 4)}
    with pytest.raises(errors.DeployFailed, match="different Galera clusters"):
        galera.choose_bootstrap(mixed, ["db1", "db2"])


def _run(body: dict[str, object], datadir: Path,
         fake_bin: Path) -> subprocess.CompletedProcess[str]:
    script = str(body["command"]).replace(galera.DATADIR, str(datadir))
    script = script.replace("/usr/sbin/mariadbd", str(fake_bin))
    # (Chronos runs a shell command with /bin/sh: dash here, not bash)
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)


def test_the_probe_reads_grastate_or_asks_mariadbd(tmp_path: Path) -> None:
    fake = tmp_path / "mariadbd"
    fake.write_text(f"#!/bin/sh\necho '2026-12-03 0 [Note] WSREP: Recovered position: "
                    f"{UUID}:17' >&2\n")
    fake.chmod(0o755)
    body = galera.probe_job("d1", "db1", "img", "mariadb", "/usr/lib/galera/libgalera_smm.so")
    assert body["constraints"] == [["hostname", "LIKE", "db1"]]
    assert body["container"]["volumes"][0] == {  # type: ignore[index]
        "containerPath": "/var/lib/mysql", "hostPath": "mariadb", "mode": "RW"}
    data = tmp_path / "data"
    data.mkdir()
    (data / "grastate.dat").write_text(f"uuid:    {UUID}\nseqno:   9\nsafe_to_bootstrap: 0\n")
    out = _run(body, data, fake)
    assert f"{galera.POSITION_MARK} host=db1 uuid={UUID} seqno=9" in out.stdout, out.stderr
    (data / "grastate.dat").write_text(f"uuid:    {UUID}\nseqno:   -1\nsafe_to_bootstrap: 0\n")
    out = _run(body, data, fake)
    assert f"{galera.POSITION_MARK} host=db1 uuid={UUID} seqno=17" in out.stdout, out.stderr
    fake.write_text("#!/bin/sh\necho 'ERROR: cannot read the data' >&2\nexit 1\n")
    out = _run(body, data, fake)
    assert out.returncode == 0 and "seqno=-1" in out.stdout and "cannot read" in out.stderr
    (data / "grastate.dat").unlink()
    out = _run(body, data, fake)
    assert out.returncode == 0 and f"{galera.POSITION_MARK} host=db1 uuid= seqno=-1" in out.stdout


def test_the_mark_makes_the_node_safe_to_bootstrap(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "grastate.dat").write_text(f"uuid:    {UUID}\nseqno:   -1\nsafe_to_bootstrap: 0\n")
    body = galera.mark_job("d1", galera.Position("db2", UUID, 17), "img", "mariadb")
    out = _run(body, data, tmp_path / "unused")
    assert out.returncode == 0, out.stderr
    text = (data / "grastate.dat").read_text()
    assert "safe_to_bootstrap: 1" in text and "seqno:   17" in text
    assert (data / galera.BOOTSTRAP_MARKER).exists()
