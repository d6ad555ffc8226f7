"""``bench detectors info NAME``: what a detector is before running it.

The card holds what the plugin registered (family, tags, description, citation, plugin and its
version, registered parameters) and what the detector's own code says: each parameter with its
default and type, read from the constructor's signature and from ``get_params()`` of an instance
built with the registered parameters (so defaults set inside ``__init__`` show too), the class
docstring's first line, and the scoring rule. Building the card imports the detector's module
(torch for a deep detector); listing detectors never does.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from bench.registry import DetectorSpec

#: where the scoring rule is written in a registered description ("score = ...")
_SCORE = re.compile(r"(?:^|[;.]\s*)(scores?\s*(?:=|:|is)\s*[^.;]+(?:\([^)]*\))?[^.;]*)", re.I)


def scoring_rule(spec: DetectorSpec, doc: str = "") -> str:
    """The clause of the description that states the score, else the contract's default."""
    for text in (spec.description, doc):
        match = _SCORE.search(text or "")
        if match:
            return match.group(1).strip()
    head, colon, rest = spec.description.partition(":")
    if colon and rest.strip():  # "Isolation Forest: mean path length in random isolation trees"
        return f"score from {rest.strip()} (higher = more anomalous)"
    return "decision_function(X), higher = more anomalous (see the description)"


def _type_name(annotation: Any, default: Any) -> str | None:
    if annotation is not inspect.Parameter.empty:
        return annotation if isinstance(annotation, str) else getattr(
            annotation, "__name__", str(annotation))
    if default is inspect.Parameter.empty or default is None:
        return None
    return type(default).__name__


def json_safe(value: Any) -> Any:
    """Parameter values as JSON types: tuples as lists, other objects as their repr."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
    except ImportError:  # pragma: no cover
        pass
    return repr(value)


def parameters(spec: DetectorSpec) -> list[dict[str, Any]]:
    """Each parameter: name, default (the effective value), type, whether registered or set."""
    factory = spec.resolve()
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        signature = None
    declared = {} if signature is None else {
        p.name: p for p in signature.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    effective: dict[str, Any] = {}
    instance = spec.build()
    if hasattr(instance, "get_params"):
        try:
            effective = dict(instance.get_params())
        except Exception:  # a detector whose get_params fails still has a signature
            effective = {}
    rows = []
    for name in sorted(set(declared) | set(effective)):
        if name == "random_state":
            continue
        param = declared.get(name)
        default = param.default if param is not None else inspect.Parameter.empty
        value = effective.get(name, None if default is inspect.Parameter.empty else default)
        rows.append({
            "name": name,
            "default": json_safe(value),
            "type": _type_name(param.annotation if param is not None
                               else inspect.Parameter.empty, value),
            "registered": name in spec.params,
        })
    return rows


def card(spec: DetectorSpec) -> dict[str, Any]:
    """The detector's card as JSON types."""
    reason = spec.unavailable_reason()
    out: dict[str, Any] = {
        "name": spec.label, "family": spec.family, "tags": list(spec.tags),
        "plugin": spec.plugin, "plugin_version": spec.plugin_version or None,
        "factory": spec.factory_ref, "available": reason is None, "unavailable_reason": reason,
        "description": spec.description, "citation": spec.citation or None,
        "registered_params": json_safe(dict(spec.params)),
        "seeded": None, "summary": None, "scoring": scoring_rule(spec), "parameters": [],
    }
    if reason is not None:
        return out
    factory = spec.resolve()
    doc = inspect.getdoc(factory) or ""
    out["summary"] = doc.strip().split("\n\n")[0].replace("\n", " ") or None
    out["scoring"] = scoring_rule(spec, doc)
    from bench.detector import accepts_argument

    out["seeded"] = accepts_argument(factory, "random_state")
    out["parameters"] = parameters(spec)
    return out


def to_text(info: dict[str, Any]) -> str:
    lines = [f"{info['name']}  ({info['family']}; plugin {info['plugin']}"
             + (f" {info['plugin_version']}" if info["plugin_version"] else "") + ")"]
    for key in ("summary", "description", "scoring", "citation"):
        if info.get(key):
            lines.append(f"{key + ':':<13} {info[key]}")
    lines.append(f"{'tags:':<13} {', '.join(info['tags']) or '—'}")
    lines.append(f"{'factory:':<13} {info['factory']}")
    if not info["available"]:
        lines.append(f"{'unavailable:':<13} {info['unavailable_reason']}")
        return "\n".join(lines) + "\n"
    lines.append(f"{'seeded:':<13} {'yes (random_state = the seed)' if info['seeded'] else 'no'}")
    if info["parameters"]:
        width = max(len(p["name"]) for p in info["parameters"])
        twidth = max(len(str(p["type"] or "")) for p in info["parameters"])
        lines += ["", "parameters (effective default; * set by the plugin's registration):"]
        for p in info["parameters"]:
            mark = "*" if p["registered"] else " "
            lines.append(f"  {p['name']:<{width}} {str(p['type'] or ''):<{twidth}} "
                         f"= {p['default']!r}{mark}")
    return "\n".join(lines) + "\n"
