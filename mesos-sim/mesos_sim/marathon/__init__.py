"""The simulated Marathon 1.10: model, validation, deployments, health checks, REST API."""
