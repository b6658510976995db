"""The one exception type every public entry point raises for bad input.

Messages are single lines that name the problem and where it is (file, operator,
layer), so the CLI can print them as they are.
"""


class TinyEngineError(Exception):
    """A user-facing error: bad model file, unsupported operator, bad input, budget."""


class UnsupportedOperatorError(TinyEngineError):
    """The model uses an operator (or operator variant) that has no kernel."""
