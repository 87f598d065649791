"""The innermost layer: the event model, time parsing, version ordering, the shared
vocabulary and the error hierarchy. It imports nothing else of the package, so every
other layer can depend on it (docs/architecture.md)."""
