"""The Python front-end: CPython's `ast` lowered to the language-neutral model (`lower`), entry points
of the web and task frameworks (`entrypoints`), string values (`strings`), store recognizers
(`stores/`) and the in-process memory profile (`memory`)."""
