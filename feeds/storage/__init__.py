"""Everything on disk under `data_dir`: the SQLite snapshot, the file layout, locks,
the ids each feed holds, reports and the push ledger.

Import rule: storage imports core and `feeds.errors`; never config, the pipeline,
jobs, events, the server or the CLI.
"""
