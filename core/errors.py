"""The error hierarchy every stage raises, and the exit code each maps to.

Library code raises these and never prints or exits; the CLI (``sropt.cli``)
maps them to exit codes. Messages say what was wrong, where, and what to do.

Exit codes (documented in the README):

====  ==========================================================
0     success
1     a quality gate failed (``sropt check``, ``sropt run``)
2     usage or input error: a bad option, file, model, config or dataset
3     fetch error: download failed, timed out, truncated or checksum mismatch
4     stage error: a converter or runtime failed, or a written artifact did
      not load and run in its consumer
130   interrupted (Ctrl-C); nothing half-written is left behind
====  ==========================================================
"""

from __future__ import annotations

from collections.abc import Iterable


class SroptError(Exception):
    """Base of every error sropt raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, problems: Iterable[str] = ()) -> None:
        self.problems = list(problems)
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class InputError(SroptError):
    """A file, model, option, dataset or config given by the user is unusable."""

    exit_code = 2


class UnsupportedModelError(InputError):
    """A readable graph that is not a super-resolution model sropt understands."""


class ConfigError(InputError):
    """pipelines.yaml (or an equivalent config object) is invalid."""


class FetchError(SroptError):
    """A model download failed, timed out, was truncated or had a bad checksum."""

    exit_code = 3


class StageError(SroptError):
    """A stage (converter, runtime, surgery) failed on input that looked valid."""

    exit_code = 4


class GateFailure(SroptError):
    """One or more quality gates failed. Not a crash: the report was written."""

    exit_code = 1
