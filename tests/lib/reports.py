"""Reports that tests publish for the end-of-run summary and build/test-logs."""
from __future__ import annotations

import json
from pathlib import Path

_REPORTS: list[tuple[str, str]] = []


def publish(log_dir: Path, name: str, text: str, data=None) -> None:
    """Show `text` in pytest's closing summary and keep it (and data as JSON)."""
    _REPORTS.append((name, text))
    (log_dir / f"{name}.md").write_text(text + "\n")
    if data is not None:
        (log_dir / f"{name}.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def published() -> list[tuple[str, str]]:
    return list(_REPORTS)
