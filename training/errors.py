"""Training's failures a user can act on; light to import (the CLI checks the store first)."""

from __future__ import annotations


class DataError(ValueError):
    """The data cannot train this spec; the message says why."""


class ParityError(RuntimeError):
    """The exported ONNX graph does not reproduce the pipeline's probabilities."""
