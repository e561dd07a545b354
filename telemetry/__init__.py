"""What an operator sees of a running process: Prometheus metrics (and, optionally, traces).

A shared adapter, like `http_common` and `queueing`: the admin API, the device edge, the
workers and the scheduler import it; `core` does not (the domain's own figures are declared
in `core.metrics`, with prometheus-client only).
"""
