"""Text fixers for Rust findings (registered with `register_text`)."""
