"""Text fixers for JavaScript and TypeScript findings (registered with `register_text`)."""
