"""Process wiring: run the long-lived parts (worker, relay, REST API) in one event loop, with
their embedded HTTP servers, until a signal or a failure."""

from orderstate.launch.parts import run_parts, serve

__all__ = ["run_parts", "serve"]
