"""Errors a user can cause and fix.

The library raises these; the command line prints their message (no traceback)
and exits with a non-zero code. Anything else that escapes is a bug.
"""

from __future__ import annotations


class CycleGANError(Exception):
    """A mistake in the user's input, options or files, with a message that says how to fix it."""


class ConfigError(CycleGANError):
    """An option has a value outside what it allows."""


class DataError(CycleGANError):
    """A data folder or image file cannot be used."""


class TooLarge(DataError):
    """An image or raster whose size (from its header) is over a limit: refused unread."""


class CheckpointError(CycleGANError):
    """A checkpoint or model file is missing, broken, or does not match the options."""


class TrainingDiverged(CycleGANError):
    """A loss became NaN or infinite; the run stopped without saving the broken state."""


class OtherProcessFailed(CycleGANError):
    """Raised on the other processes of a job when its first process has met a user
    error and reported it: the command line exits 1 without a second message."""
