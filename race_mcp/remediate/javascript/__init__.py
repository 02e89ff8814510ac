"""Text fixers for JavaScript and TypeScript findings (registered with `register_text`).

Each module parses the file with tree-sitter and edits the text at node spans; importing this
package registers them all.
"""

from . import dynamodb, dynamodb_transact, guidance, mongodb, redis, sql  # noqa: F401  (register their fixers)
