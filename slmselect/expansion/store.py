"""The expanded file: read what an earlier run wrote, append new rows one whole line at a time.

Each accepted row is written as one JSON line with a single ``write`` and then flushed and synced, so
an interrupted run keeps every row it finished. A line cut short by a crash (the file does not end in
a newline and its last line is not valid JSON) is dropped on the next run; nothing else in the file is
ever rewritten. A small side file ``<output>.expand.json`` records the next request number (so a rerun
asks the teacher new questions rather than the ones it already asked) and where the rows came from;
it is replaced atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

__all__ = ["OutputFile"]


class OutputFile:
    """A JSON Lines file that is only ever appended to, and its side file of run state."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.state_path = self.path.with_name(self.path.name + ".expand.json")
        self._handle: IO[str] | None = None

    def read(self) -> tuple[list[Any], int, bool]:
        """Rows already in the file, the number of lines that are not JSON, and whether a cut-short last line was dropped."""
        if not self.path.exists():
            return [], 0, False
        data = self.path.read_bytes()
        repaired = False
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            try:
                json.loads(data[cut:])
            except ValueError:
                with open(self.path, "r+b") as fh:  # a row cut short by an interrupted run: drop it
                    fh.truncate(cut)
                data, repaired = data[:cut], True
            else:
                with open(self.path, "ab") as fh:  # a whole last row without its newline: end it
                    fh.write(b"\n")
        rows, bad = [], 0
        for line in data.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                bad += 1
        return rows, bad, repaired

    def append(self, row: dict[str, Any]) -> None:
        """Write ``row`` as one line, flushed to disk before returning."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")
        self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def load_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def save_state(self, state: dict[str, Any]) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_path.parent, prefix=".expand-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(state, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.state_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
