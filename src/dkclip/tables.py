"""Markdown tables: the one helper every report (evaluation, cross-validation, ablation) formats with."""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table. Cells are ``str()``'d; ``|`` inside a cell is escaped.

    ``align``: one of ``"l"``, ``"r"``, ``"c"`` per column (default: no alignment markers, as ``---``).
    """
    width = len(header)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"row {i} has {len(row)} cells for {width} columns")

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    marks: dict[str | None, str] = {"l": ":---", "r": "---:", "c": ":---:", None: "---"}
    aligns: Sequence[str | None] = align or [None] * width
    rule = "|" + "|".join(marks[a] for a in aligns) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def percent(value: float | None, digits: int = 2) -> str:
    """``0.7857 -> '78.57'``; None or NaN -> ``'-'``."""
    if value is None or value != value:
        return "-"
    return f"{100 * value:.{digits}f}"
