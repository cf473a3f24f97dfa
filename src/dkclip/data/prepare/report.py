"""What a conversion found: one :class:`SplitResult` per list written, gathered in a :class:`PrepareReport`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


def shown(items: Sequence[str], n: int = 3) -> str:
    """The first ``n`` items, ``; ``-separated, with `` ...`` when there are more."""
    return "; ".join(items[:n]) + (" ..." if len(items) > n else "")


@dataclass
class SplitResult:
    """One list: its name, the clips written, and what was left out or looked wrong."""

    name: str
    path: str
    source: str = ""  # the official split file it comes from
    rows: int = 0  # clip rows in the split file
    written: int = 0
    class_counts: list[int] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)  # "frame folders" / "videos" written
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list, repr=False)  # the list file's lines


@dataclass
class PrepareReport:
    dataset: str = ""
    labels_dir: str = ""
    media_root: str = ""
    absolute: bool = False
    folds: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was chosen on the user's behalf
    splits: list[SplitResult] = field(default_factory=list)

    @property
    def findings(self) -> list[str]:
        return [f"{s.name}: {f}" for s in self.splits for f in s.findings]

    def summary(self) -> str:
        lines = list(self.notes)
        for s in self.splits:
            status = "ok" if not s.findings else f"{len(s.findings)} finding(s)"
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(s.kinds.items()))
            lines.append(f"{s.name}: {s.written} clips ({kinds or 'none'}), classes {s.class_counts} -> {s.path} "
                         f"[{status}]")
            lines.extend(f"  - {f}" for f in s.findings)
        if self.splits and not self.absolute:
            lines.append(f"paths are relative to {self.media_root}: train with --set data.root={self.media_root}")
        if self.findings:
            lines.append(f"{len(self.findings)} finding(s); the lists were written (strict mode makes findings fatal)")
        return "\n".join(lines)
