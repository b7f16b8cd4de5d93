"""The simulated Mesos master and agent HTTP endpoints (state, tasks, sandbox files)."""
