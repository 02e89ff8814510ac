"""Text fixers for Rust findings (registered with `register_text`).

Each module parses the file with the analyzer's tree-sitter grammar and edits the text at node
spans; importing this package registers them all.
"""

from . import dynamodb, fs, guidance, memory, orm, redis, sql  # noqa: F401  (registers their fixers)
