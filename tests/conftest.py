"""Shared pytest configuration: real ZooKeeper and simulator fixtures."""

pytest_plugins = ["kolla_mesos.testing.fixtures", "kolla_mesos.testing.sim"]
