"""The model and task registries: map every raw name a source uses to one database id.

Inputs (``benchmarks_db/raw/registry/``), all hand-written facts:

- ``models.csv``: one row per model with its Hugging Face id, family, size, context, licence, release date,
  the base model it derives from, architecture and aliases (short names the sources use).
- ``licenses.csv``: each licence, the Hub ids that name it, whether it permits commercial use
  (``yes`` / ``with_conditions`` / ``no``), the conditions, and whether it is OSI-style permissive.
- ``aliases.csv``: ``source_id`` (or ``*``), the raw name a source uses, the model id it means.
- ``families.csv``: ordered ``pattern`` (regex on the lower-cased model id) -> ``family``, for models the
  registry does not list by hand.
- ``tasks.csv``: one row per (adapter folder, raw task): the task id, category, metric, range, direction,
  dataset identity and a description written for matching by meaning.

A raw name resolves, in order: an alias; a known model id (case-insensitive); the Hugging Face id the source
links to; the same name without mode suffix and organisation; a closed API model (``org/name``) when the source
says it has no public size. Names that resolve to nothing are reported, never dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .sources.base import ModelHint

_SUFFIX = re.compile(r"\s*\((?:FC|Prompt)[^)]*\)\s*$")


def norm_name(name: str) -> str:
    """A raw model name reduced for matching: no mode suffix, no organisation, lower case, '-' separators."""
    s = _SUFFIX.sub("", str(name)).strip().split("/")[-1].lower()
    return re.sub(r"[\s_]+", "-", s)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@dataclass
class Licences:
    table: pd.DataFrame

    def __post_init__(self) -> None:
        self.by_name = {r["license"]: r for r in self.table.to_dict("records")}
        self.by_hub: dict[str, str] = {}
        for r in self.table.to_dict("records"):
            self.by_hub[r["license"].lower()] = r["license"]
            for h in filter(None, r["hub_ids"].split(";")):
                self.by_hub[h.strip().lower()] = r["license"]

    def canonical(self, raw: str | None) -> str | None:
        if not raw:
            return None
        return self.by_hub.get(raw.strip().lower(), raw.strip())

    def facts(self, licence: str | None) -> dict[str, Any]:
        r = self.by_name.get(licence or "")
        if r is None:
            return {"commercial_use": "", "license_conditions": "licence not in the registry: read the model card" if licence else ""}
        return {"commercial_use": r["commercial_use"], "license_conditions": r["conditions"]}


@dataclass
class ModelRegistry:
    """Hand-written models plus the models sources introduce; resolves raw names and collects facts."""

    folder: Path
    hand: pd.DataFrame = field(init=False)
    licences: Licences = field(init=False)

    def __post_init__(self) -> None:
        self.hand = _read(self.folder / "models.csv")
        self.licences = Licences(_read(self.folder / "licenses.csv"))
        aliases = _read(self.folder / "aliases.csv")
        self.alias = {(r["source_id"], r["raw_name"].lower()): r["model_id"] for r in aliases.to_dict("records")}
        self.families = [(re.compile(r["pattern"]), r["family"], r["license"])
                         for r in _read(self.folder / "families.csv").to_dict("records")]
        self.known: dict[str, str] = {}  # lower-case id -> id
        self.by_norm: dict[str, set[str]] = {}
        for r in self.hand.to_dict("records"):
            self._know(r["model_id"], [a for a in r["aliases"].split(";") if a.strip()])
        self.hints: dict[str, list[ModelHint]] = {}  # model id -> facts from the sources, in adapter order
        self.raw_names: dict[str, set[str]] = {}
        facts = self.folder / "model_facts.csv"
        self.facts = {r["model_id"]: r for r in _read(facts).to_dict("records")} if facts.is_file() else {}

    def _know(self, mid: str, aliases: list[str] = ()) -> None:  # type: ignore[assignment]
        self.known.setdefault(mid.lower(), mid)
        for n in [mid, *aliases]:
            self.by_norm.setdefault(norm_name(n), set()).add(self.known[mid.lower()])

    def add_hf_ids(self, hints: dict[tuple[str, str], ModelHint]) -> None:
        """Make the Hugging Face ids the sources state known (hand ids keep their spelling)."""
        for (_, raw), h in sorted(hints.items()):
            if h.hf_id and not h.api_only:
                self._know(h.hf_id)
            elif h.api_only and h.org:
                self._know(f"{h.org}/{raw}")

    def resolve(self, source_id: str, raw: str, hint: ModelHint | None) -> str | None:
        for key in ((source_id, raw.lower()), ("*", raw.lower())):
            if key in self.alias:
                return self.alias[key]
        if raw.lower() in self.known:
            return self.known[raw.lower()]
        if hint and hint.hf_id and hint.hf_id.lower() in self.known:
            return self.known[hint.hf_id.lower()]
        cands = self.by_norm.get(norm_name(raw), set())
        if len(cands) == 1:
            return next(iter(cands))
        if hint and hint.api_only and hint.org:
            return self.known[f"{hint.org}/{raw}".lower()]
        return None

    def note(self, mid: str, raw: str, hint: ModelHint | None) -> None:
        """Remember that a source called ``mid`` ``raw`` (an alias) and what it said about it."""
        self.raw_names.setdefault(mid, set()).add(raw)
        if hint is not None:
            self.hints.setdefault(mid, []).append(hint)

    def family_of(self, mid: str) -> tuple[str, str, bool]:
        """(family, the family's licence when all its models share one, whether a rule matched)."""
        low = mid.lower()
        for pat, fam, lic in self.families:
            if pat.search(low):
                return fam, lic, True
        return mid.split("/")[0], "", False

    def rows(self, used: set[str]) -> list[dict[str, Any]]:
        """models.csv rows: every hand-written model, plus the models the results use, with their facts."""
        hand = {r["model_id"]: r for r in self.hand.to_dict("records")}
        out = []
        for mid in sorted(set(hand) | used, key=str.lower):
            aliases = sorted({a for a in self.raw_names.get(mid, set()) if a != mid}, key=str.lower)
            row = dict(hand[mid]) if mid in hand else self._auto_row(mid)
            old = [a for a in row.get("aliases", "").split(";") if a]
            row["aliases"] = ";".join(old + [a for a in aliases if a not in old])
            row["license"] = self.licences.canonical(row["license"]) or ""
            row |= self.licences.facts(row["license"] or None)
            row |= self._model_facts(mid, row)
            out.append(row)
        link_twins(out)
        return out

    def _model_facts(self, mid: str, row: dict[str, Any]) -> dict[str, Any]:
        """The model's facts from ``model_facts.csv``, each with its source; a context the hand registry gives
        keeps the registry row's own URL as its source."""
        f = self.facts.get(mid, {})
        out = {k: f.get(k, "") for k in ("languages", "languages_source", "tool_calls", "tool_calls_source",
                                         "superseded_by", "superseded_source")}
        if str(row.get("context_len") or "").strip():
            out["context_source"] = first_url(row.get("source_url")) or ""
        else:
            out["context_len"], out["context_source"] = f.get("context_len", ""), f.get("context_source", "")
        return out

    def _auto_row(self, mid: str) -> dict[str, Any]:
        hints = self.hints.get(mid, [])

        def first(attr: str) -> Any:
            return next((getattr(h, attr) for h in hints if getattr(h, attr) not in (None, "")), None)

        family, family_licence, by_rule = self.family_of(mid)
        api = any(h.api_only for h in hints)
        params = first("params_b")
        variant = first("variant") or _variant_from_name(mid)
        date_hint = next((h for h in hints if h.release_date), None)
        flags = []
        if not by_rule:
            flags.append("family = organisation (no family rule)")
        if params is None and not api:
            flags.append("params unknown: reference only")
        if not api:
            flags.append("context_len unknown")
        if date_hint and date_hint.release_date_kind:
            flags.append(f"release_date is the {date_hint.release_date_kind}")
        if variant is None:
            flags.append("variant unknown")
        licence = self.licences.canonical(first("license"))
        if licence in (None, self.licences.canonical("other")) and family_licence:
            licence = family_licence
            flags.append(f"licence from the family rule ({family})")
        elif api and licence is None:
            licence = "proprietary (API terms)"
        if licence is None:
            flags.append("licence unknown")
        return {
            "model_id": mid, "family": family, "params_b": "" if params is None else round(float(params), 3),
            "variant": variant or "", "base_model": first("base_model") or "", "context_len": "",
            "license": licence or "",
            "release_date": (date_hint.release_date if date_hint else "") or "",
            "api_only": "true" if api else "false",
            "source_url": " ; ".join(sorted({h.url for h in hints if h.url})) or "",
            "notes": "auto-registered from the source tables; " + "; ".join(flags),
        }


_URL = re.compile(r"https?://[^\s,;()]+")
#: Name endings of an instruct model whose base shares the rest of its name (same organisation).
_INSTRUCT_SUFFIX = re.compile(r"-(instruct|it|chat|chat-hf)$", re.I)


def first_url(text: Any) -> str | None:
    m = _URL.search(str(text or ""))
    return m.group(0) if m else None


def link_twins(rows: list[dict[str, Any]]) -> None:
    """Fill ``twin`` (and its source) for base/instruct pairs of one model: an instruct model whose stated base
    model, or whose name without its instruct ending (same organisation: ``X-Instruct`` / ``X``, ``-it`` / ``-pt``,
    ``-Chat`` / ``X``, ``-chat-hf`` / ``-hf``, or ``X`` / ``X-Base``), is a base model in the database. The source is the instruct
    model's page, which names its base."""
    by_id = {r["model_id"]: r for r in rows}
    low = {k.lower(): k for k in by_id}
    for r in rows:
        if r.get("variant") != "instruct":
            continue
        mid = r["model_id"]
        cands = [str(r.get("base_model") or "").strip()]
        stem = _INSTRUCT_SUFFIX.sub("", mid)
        if stem != mid:
            cands += [stem, stem + "-Base", stem + "-base", stem + "-pt", stem + "-hf"]
        # a chat model named like its base without the base's ending (Qwen3: ``X`` / ``X-Base``)
        cands += [mid + "-Base", mid + "-base"]
        for c in cands:
            b = by_id.get(low.get(c.lower(), ""))
            if b is None or b is r or b.get("variant") != "base" or b["model_id"].split("/")[0] != mid.split("/")[0]:
                continue
            if b.get("twin"):
                continue
            url = f"https://huggingface.co/{mid}"
            r["twin"], r["twin_source"] = b["model_id"], url
            b["twin"], b["twin_source"] = mid, url
            break


def _variant_from_name(mid: str) -> str | None:
    low = mid.lower()
    if re.search(r"instruct|chat|-it\b|-it-|-fc|-sft|-dpo|tool|agent|hammer|xlam", low):
        return "instruct"
    if re.search(r"-base\b|-pt\b", low):
        return "base"
    return None


@dataclass
class TaskRegistry:
    """(adapter folder, raw task) -> a tasks.csv row."""

    folder: Path

    def __post_init__(self) -> None:
        t = _read(self.folder / "tasks.csv")
        self.rows = {(r["folder"], r["raw_task"]): r for r in t.to_dict("records")}

    def get(self, folder: str, raw_task: str) -> dict[str, Any] | None:
        return self.rows.get((folder, raw_task))
