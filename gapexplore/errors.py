"""The exception tree of gapexplore.

Every error raised on purpose by the package derives from :class:`GapExploreError`,
so a script can catch them all at once. Errors about bad input also derive from
:class:`ValueError`, which is what a Python user expects for a wrong argument.
"""

from __future__ import annotations

__all__ = [
    "GapExploreError",
    "InvalidParameterError",
    "GenerationError",
]


class GapExploreError(Exception):
    """Base class of every error that gapexplore raises on purpose."""


class InvalidParameterError(GapExploreError, ValueError):
    """A parameter has a value the protocol cannot use.

    Raised at the boundary, before any expensive work starts. The message names the
    parameter, the function it was given to, what is allowed and what was given.
    """


class GenerationError(GapExploreError, RuntimeError):
    """Random structure generation could not satisfy its constraints.

    For example, a minimum separation too large for the requested volume per atom.
    """
