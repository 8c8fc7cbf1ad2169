"""From the catalogue to tracking: which products get events (`catalog`), the event
source, the loader's product index, each service's match rate and snippet previews.

Import rule: events import core, storage, config, vendre.parse, the pipeline's plan
and `tracking`; never jobs, the server or the CLI.
"""
