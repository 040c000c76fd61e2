"""Figures and the results file, shared by the benchmarks that put ``benchmarks/`` on
``sys.path`` (``from support.stats import …``)."""

from __future__ import annotations

import json
from pathlib import Path


def pct(values: list[float], p: float) -> float | None:
    """The p-quantile (nearest rank, rounded to 0.1), None without values."""
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p))], 1)


def figures(values: list[float], prefix: str = "") -> dict:
    """count, p50, p95 and max of milliseconds, keys prefixed (``conversation_p95_ms``)."""
    return {
        f"{prefix}count": len(values),
        f"{prefix}p50_ms": pct(values, 0.50),
        f"{prefix}p95_ms": pct(values, 0.95),
        f"{prefix}max_ms": round(max(values), 1) if values else None,
    }


def results_merge(path: Path, backend: str, found: dict) -> None:
    """Merge one backend's figures into the results file as ``<backend>.<key>``; keys of a
    part not run this time keep their earlier values."""
    results = json.loads(path.read_text()) if path.exists() else {}
    results.update({f"{backend}.{key}": value for key, value in found.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
