"""The simulated Chronos: job parsing, the scheduler, and the 3.x/2.x REST API."""
