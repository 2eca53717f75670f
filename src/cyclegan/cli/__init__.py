"""The cyclegan command line: options generated from dataclasses, the subcommands, progress
on stderr.
"""

from cyclegan.cli.main import main

__all__ = ["main"]
