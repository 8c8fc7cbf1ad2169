"""The jobs a user or the schedule runs: sync, refresh (sync + build + index), status.

Import rule: jobs import everything below them (core, storage, config, vendre,
pipeline, events); never the server or the CLI.
"""
