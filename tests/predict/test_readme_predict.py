"""The README's predictor example runs as written (on the synthetic scene it makes itself) and writes what it
says it writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_readme_predict_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "Predictor(" in b]
    assert len(blocks) == 1, "README should have one Python example of the predictor"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # our own documentation
    result = namespace["result"]
    assert result.num_faces >= 1 and len(result.windows) >= 1
    assert {"face_id", "label", "FaceRectX"} <= set(result.frames.columns)
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"frames.csv", "windows.csv", "windows.json",
                                                              "timeline.png", "aus.png"}
    assert {"AU01", "AU12", "AU26"} <= set(result.frames.columns) & set(result.windows.columns)
    assert (tmp_path / "timeline.png").is_file() and (tmp_path / "annotated.mp4").is_file()
