"""The one error type raised for files graphc refuses to load."""
from __future__ import annotations


class FileFormatError(ValueError):
    """A saved file is truncated, corrupted, hostile or does not match the model it is loaded into.

    The message names the file, the entry inside it, what was expected and what was found.
    """
