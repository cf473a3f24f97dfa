"""Multi-face scenes: wide frames with one to a few synthetic people who move, change size, enter and leave,
each running its own sequence of expressions, with exact per-frame, per-face ground truth.

They test the whole ``dkclip predict`` path (decode → detect → track → windows → per-frame expression), which
the face-crop clips of :mod:`.render` cannot: here the faces have to be found first. Everything a face does is
reused from the clip generator: the face drawing (:func:`.face.draw_face`), the AU profiles, the neutral → onset
→ apex → offset time course (:class:`.timeline.Timeline`) and the paper's noisy frames
(:func:`.timeline.plan_noise`: other expression, occlusion, blur, dark), planned per face and per expression.

Differences from the clips, and why:

* every expression *episode* ends back at neutral (offset to zero), so a face can show several expressions in
  a row without jumping;
* blur and darkness act on the region around one face (a soft ellipse), not on the whole frame, because the
  noise flags are per face (where faces overlap, with ``allow_crossing``, the one in front shares the effect);
* the truth box is the *face* box as face detectors draw it (cheek to cheek, forehead to chin; the top sits
  :data:`BOX_TOP_ABOVE_EYES` face units above the eye line, measured from MTCNN on the synthetic faces), not
  the head with hair and shoulders.

Randomness: a scene owns ``SeedSequence([seed, 3, index])``; every face has its own sub-streams (look, motion,
expressions, noise), so rendering without noise changes only the noisy frames, and nothing global is touched.

The parts: :mod:`.spec` (what to render), :mod:`.tracks` (one face over the scene), :mod:`.planning` (motion,
presence and expressions, before drawing), :mod:`.renderer` (the frames), :mod:`.truth` (the per-frame truth and
its JSON) and :mod:`.writing` (scenes on disk).
"""

from .planning import plan_scene, scene_streams
from .renderer import SceneRenderer, render_scene, write_scene_mp4
from .spec import SCENES_VERSION, SceneSpec
from .tracks import BODY_HALF_WIDTH, BOX_TOP_ABOVE_EYES, HEAD_MARGIN, Episode, FaceTrack
from .truth import SceneTruth
from .writing import generate_scenes, plan_scenes, write_scene

__all__ = [
    "BODY_HALF_WIDTH",
    "BOX_TOP_ABOVE_EYES",
    "HEAD_MARGIN",
    "SCENES_VERSION",
    "Episode",
    "FaceTrack",
    "SceneRenderer",
    "SceneSpec",
    "SceneTruth",
    "generate_scenes",
    "plan_scene",
    "plan_scenes",
    "render_scene",
    "scene_streams",
    "write_scene",
    "write_scene_mp4",
]
