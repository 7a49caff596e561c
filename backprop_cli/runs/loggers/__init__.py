"""Loggers: sinks that copy a run to the tools practitioners already watch (``output.loggers``),
each `guarded.Guarded` so that it never costs a run. Each is an optional extra, imported only by
a run that uses it (`runs.train.needs` checks it is installed); the run directory is always
written beside them."""
