"""pytest fixtures that start the simulator (loaded by ``tests/conftest.py``).

The simulator is its own distribution (``mesos-sim``, installed with the test dependencies by
``tools/lib.sh``); its fixtures are used as they are:

* ``simulator`` (session): one in-process simulator on ephemeral loopback ports.
* ``sim`` (function): the same simulator, reset before and after the test.
"""

from __future__ import annotations

from mesos_sim.testing import sim, simulator

__all__ = ["sim", "simulator"]
