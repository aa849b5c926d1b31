"""/healthz, /readyz and /metrics: the routes and the readiness checks behind /readyz, served
by the REST API on its own port and by the worker's and relay's ops port."""
