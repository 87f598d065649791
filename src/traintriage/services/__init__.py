"""Use cases, each written once: the library calls behind the CLI, the pages and the API."""
