"""``kolla-mesos certificates``: the real command, then real TLS handshakes with its files."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import threading

import pytest

from kolla_mesos.testing.zookeeper import free_port
from tests.functional.deploy_helpers import BIN

pytestmark = pytest.mark.timeout(120)

TOPOLOGY = """\
networks: [api]
hosts:
  agent1: {addresses: {api: 127.0.1.1}}
  agent2: {addresses: {api: 127.0.1.2}}
groups:
  control: [agent1, agent2]
  network: {children: [control]}
"""
GLOBALS = """\
kolla_internal_vip_address: 127.0.9.9
kolla_external_vip_address: 127.0.9.10
kolla_external_fqdn: localhost
kolla_enable_tls_internal: "yes"
kolla_enable_tls_external: "yes"
kolla_enable_tls_backend: "yes"
"""


def run(config_dir, *args):
    env = {k: v for k, v in os.environ.items() if k != "KOLLA_MESOS_CONFIG"}
    return subprocess.run([str(BIN / "kolla-mesos"), "--config-dir", str(config_dir),
                           "certificates", "-f", "json", *args],
                          capture_output=True, text=True, timeout=90, env=env)


def serve_once(pem, address):
    """A TLS server on ADDRESS:<ephemeral> with PEM (certificate and key); its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    listener = socket.create_server((address, free_port()))
    port = listener.getsockname()[1]

    def accept():
        with listener:
            conn, _ = listener.accept()
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                pass

    threading.Thread(target=accept, daemon=True).start()
    return port


def handshake(ca, address, port, server_hostname):
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection((address, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
            return tls.recv(2)


def test_certificates_command_makes_verifiable_files(tmp_path):
    (tmp_path / "topology.yml").write_text(TOPOLOGY)
    (tmp_path / "globals.yml").write_text(GLOBALS)
    proc = run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "PRIVATE KEY" not in proc.stdout + proc.stderr
    rows = {r["File"]: r for r in json.loads(proc.stdout)}
    assert rows["private/root/root.key"]["Mode"] == "0600"
    assert rows["agent2-key.pem"]["Action"] == "created"
    certs = tmp_path / "certificates"
    ca = certs / "ca" / "root.crt"
    # a real client trusting only the generated CA: the external VIP's name and the
    # internal VIP's address verify; another name does not
    assert handshake(ca, "127.0.0.1", serve_once(certs / "haproxy.pem", "127.0.0.1"),
                     "localhost") == b"ok"
    port = serve_once(certs / "haproxy-internal.pem", "127.0.0.1")
    assert handshake(ca, "127.0.0.1", port, "127.0.9.9") == b"ok"
    port = serve_once(certs / "haproxy-internal.pem", "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(ca, "127.0.0.1", port, "127.0.9.10")
    openssl = subprocess.run(["openssl", "verify", "-CAfile", str(ca),
                              str(certs / "agent1-cert.pem"), str(certs / "haproxy.pem")],
                             capture_output=True, text=True, timeout=30)
    assert openssl.returncode == 0, openssl.stdout + openssl.stderr

    again = run(tmp_path)
    assert again.returncode == 0 and {r["Action"] for r in json.loads(again.stdout)} == {"kept"}
    renewed = {r["File"]: r["Action"] for r in json.loads(run(tmp_path, "--renew").stdout)}
    assert renewed["ca/root.crt"] == "kept" and renewed["haproxy.pem"] == "renewed"
