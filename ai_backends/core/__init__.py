"""What every capability shares: configuration, errors, logging, metrics, health probes,
the Redis connection, the process supervisor and the first-run bootstrap.

Standard library only at import: ``run.py`` imports ``bootstrap`` before anything is installed.
"""
