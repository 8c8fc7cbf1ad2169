"""The build: plan the feeds, derive each product once per target, fan out to the
channels, render, check and publish; `deliver/` pushes published files to APIs.

Import rule: the pipeline imports core, channels, formats, vendre.parse, storage
and config; never jobs, events, the server, the CLI or the demo.
"""
