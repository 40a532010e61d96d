"""UniFER's `evaluate` metric modules (installed as ``unifer.metrics``); load them with ``evaluate.load(path)``."""
