"""The language-neutral analysis core: the program model, the store and rule registries, and the
one interpreter that runs over every language's lowered functions. Nothing here imports a parser."""
