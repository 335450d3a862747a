"""Column order of each database file, taken from the pydantic row models that validate them."""

from __future__ import annotations

from .db import FILES, REPORT_FILES, SCHEMA_VERSION

COLUMNS: dict[str, tuple[str, ...]] = {name: tuple(model.model_fields) for name, model in {**FILES, **REPORT_FILES}.items()}
REPORT_COLUMNS = COLUMNS["unmapped.csv"]

__all__ = ["COLUMNS", "REPORT_COLUMNS", "SCHEMA_VERSION"]
