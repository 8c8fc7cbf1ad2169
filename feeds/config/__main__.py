"""`python -m feeds.config` prints the README's settings table (Markdown)."""

from feeds.config.docs import readme_table

print(readme_table(), end="")
