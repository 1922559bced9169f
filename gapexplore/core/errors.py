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
    "GapFitError",
    "ReferenceFailed",
    "reraise_interrupt",
]


class GapExploreError(Exception):
    """Base class of every error that gapexplore raises on purpose."""


class InvalidParameterError(GapExploreError, ValueError):
    """A parameter has a value the protocol cannot use.

    Raised at the boundary, before any expensive work starts. The message names the
    parameter, the function it was given to, what is allowed and what was given; so do
    the attributes ``parameter``, ``where``, ``allowed`` and ``got`` when the error comes
    from :func:`gapexplore.core.checks.fail` (a front end, such as the command line, then
    names the option the user typed instead of the parameter).
    """

    parameter: str | None = None
    where: str | None = None
    allowed: str | None = None
    got: object = None


class GenerationError(GapExploreError, RuntimeError):
    """Random structure generation could not satisfy its constraints.

    For example, a minimum separation too large for the requested volume per atom.
    """


class GapFitError(GapExploreError, RuntimeError):
    """``gap_fit`` could not be run, failed, or would not fit in memory.

    The message says which, and shows the tail of gap_fit's log where there is one.
    """


class ReferenceFailed(GapExploreError, RuntimeError):
    """A reference calculation failed for one structure.

    Labelling records this on the structure (``info[keys.LABEL_ERROR]``) and goes on; the
    exception is raised only where a single calculation is asked for directly.
    """


#: What f90wrap (under quippy, the GAP calculator) raises for Ctrl-C during a Fortran call.
_F90WRAP_INTERRUPT = "Interrupt occured"


def reraise_interrupt(error: BaseException) -> None:
    """Raise :class:`KeyboardInterrupt` when ``error`` is a Ctrl-C in disguise.

    quippy's Fortran calls run under f90wrap's SIGINT handler, which turns Ctrl-C into
    ``RuntimeError("Interrupt occured")``. A handler that records failures and goes on (a
    relaxation, a reference calculation) calls this first, so that an interrupted run
    stops, and resumes later, instead of recording the interrupted structure as failed.
    """
    if isinstance(error, RuntimeError) and _F90WRAP_INTERRUPT in str(error):
        raise KeyboardInterrupt(str(error)) from error
