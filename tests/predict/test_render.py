"""The annotated video's drawing: every face keeps its box, label and bars, and no panel hides a face."""

from __future__ import annotations

import numpy as np

from dkclip.predict.render import annotate

CLASSES = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]


def test_panels_hide_no_face_and_every_face_is_annotated() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    probs = np.array([0.1, 0.6, 0.1, 0.05, 0.05, 0.05, 0.05])
    # two faces side by side, too close for a panel between them; a third at the right edge
    faces = [{"face_id": 1, "box": (20.0, 40.0, 60.0, 60.0), "probs": probs},
             {"face_id": 2, "box": (90.0, 40.0, 60.0, 60.0), "probs": probs[::-1].copy()},
             {"face_id": 3, "box": (250.0, 150.0, 70.0, 70.0), "probs": np.full(7, np.nan)}]
    out = annotate(image, faces, CLASSES)
    assert out.shape == image.shape and out.dtype == np.uint8
    for face in faces:
        x, y, w, h = (int(v) for v in face["box"])
        inside = out[y + 4:y + h - 4, x + 4:x + w - 4]
        assert not inside.any(), f"something drawn over face {face['face_id']}"
        assert out[y, x:x + w].any()  # its box
        assert out[max(0, y - 8), x + 2:x + w].any() or out[y + 6, x + 6:x + w].any()  # its label
    drawn = out.any(axis=2)
    # the bar panels exist: more than boxes and labels were drawn, below or beside the first two faces
    assert drawn[100:240, 0:160].sum() > 1000
