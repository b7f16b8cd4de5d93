"""The simulator's own tests: the ``simulator``/``sim`` fixtures of :mod:`mesos_sim.testing`."""

from mesos_sim.testing import sim, simulator

__all__ = ["sim", "simulator"]
