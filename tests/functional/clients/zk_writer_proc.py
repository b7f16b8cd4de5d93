"""Subprocess deployer for the crash-safety test: writes one large generation.

Usage: python -m tests.functional.clients.zk_writer_proc \
    HOSTS ROOT DEPLOYMENT CRED_FILE SERVICES SIZE
Credentials come from a 0600 file, never from the command line.  The generation has
SERVICES services with one SIZE-byte file each, so it needs many transactions.
"""

from __future__ import annotations

import sys

from kolla_mesos.clients.zookeeper import Store, read_credentials


def generation(services: int, size: int) -> dict[str, bytes]:
    """Nodes of a large synthetic generation."""
    nodes = {}
    for i in range(services):
        nodes[f"services/proj/svc{i:04d}/definition"] = b"{}"
        nodes[f"services/proj/svc{i:04d}/files/big.conf"] = bytes([65 + i % 26]) * size
    return nodes


def main() -> int:
    hosts, root, deployment, cred_file, services, size = sys.argv[1:7]
    with Store(hosts, root, deployment, read_credentials(cred_file)) as store:
        store.write_generation(generation(int(services), int(size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
