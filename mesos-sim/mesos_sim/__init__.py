"""mesos-sim: a single-host Mesos cluster with the Marathon, Chronos and Mesos HTTP APIs.

Subpackages: :mod:`mesos_sim.marathon`, :mod:`mesos_sim.chronos` and :mod:`mesos_sim.mesos`
serve one API each over the shared :class:`~mesos_sim.cluster.Cluster`;
:class:`~mesos_sim.simulator.Simulator` starts all three.
"""
