"""`python -m feeds` is `vendre-feeds`."""

from feeds.cli import main

main(prog_name="vendre-feeds")
