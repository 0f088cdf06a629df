"""How a config problem is worded and located: ``FILE:LINE: pipeline 'p', stage 's', field 'f': what; what to do``.

The public helpers the pipelines loader (``sropt.pipeline.config``) and the
sweeps loader (``sropt.sweep.config``) both word their problems with, so a
bad pipeline reads the same whichever file it came through.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel

from sropt.pipeline.yamlfile import line_of

#: Top-level pipeline keys that are stages (named "stage 's'" in messages).
STAGE_KEYS = ("prune", "export", "quantize", "validate", "gates")


def problem_line(file: str, line: int | None, where: str, msg: str) -> str:
    """``FILE:LINE: where: msg`` (the line and ``where`` left out when not known)."""
    at = f"{file}:{line}" if line else file
    return f"{at}: {where + ': ' if where else ''}{msg}"


def describe_location(where: str, loc: tuple[Any, ...]) -> str:
    """'pipeline 'p', stage 'prune', field 'ratio'' from a pydantic location."""
    parts = [where] if where else []
    loc = tuple(loc)
    if loc and loc[0] in STAGE_KEYS:
        parts.append(f"stage '{loc[0]}'")
        loc = loc[1:]
    if loc:
        parts.append("field '" + ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[") + "'")
    return ", ".join(parts)


def validation_problem(file: str, data: Any, err: dict[str, Any], where: str, model: type[BaseModel]) -> str:
    """One pydantic error on ``data`` (validated as ``model``) as a problem line; an unknown key gets its suggestions."""
    # Drop the "function-after[...]" / union-tag segments pydantic adds to locations.
    loc = tuple(p for p in err["loc"] if isinstance(p, int) or not str(p).startswith(("function-", "list[", "dict[")))
    line = line_of(data, loc)
    etype = err["type"]
    if etype == "extra_forbidden":
        key = loc[-1]
        allowed = field_names_at(model, loc[:-1])
        msg = f"unknown key '{key}'{did_you_mean(str(key), allowed)}"
        if allowed:
            msg += f" (allowed: {', '.join(sorted(allowed))})"
        return problem_line(file, line, describe_location(where, loc[:-1]), msg)
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if etype == "missing":
        msg = "required field is missing"
    elif "input" in err and etype not in ("missing",) and not isinstance(err["input"], dict):
        msg += f" (got {err['input']!r})"
    return problem_line(file, line, describe_location(where, loc), msg)


def did_you_mean(key: object, allowed: set[str]) -> str:
    """``; did you mean 'x'?`` for the closest of ``allowed``, or "" (YAML keys may be numbers, booleans or null)."""
    close = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def field_names(model: type[BaseModel]) -> set[str]:
    """The keys ``model`` accepts (aliases where a field has one: ``validate``)."""
    return {f.alias or n for n, f in model.model_fields.items()}


def field_names_at(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """Field names of the model reached from ``model`` along ``loc``."""
    current: Any = model
    for part in loc:
        current = _unwrap(current, part)
        if current is None:
            return set()
    current = _unwrap(current, None)
    return field_names(current) if isinstance(current, type) and issubclass(current, BaseModel) else set()


def _unwrap(tp: Any, part: Any) -> Any:
    """Step into a type along one location part (field name, list index, dict key)."""
    # Optional[X] / X | None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else tp
        origin = typing.get_origin(tp)
    if part is None:
        return tp
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for n, f in tp.model_fields.items():
            if part in (n, f.alias):
                return _unwrap(f.annotation, None)
        return None
    if origin in (list, dict):
        return _unwrap(typing.get_args(tp)[-1], None)
    return None
