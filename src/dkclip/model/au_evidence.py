"""Action-unit evidence from the text tower: how strongly a clip (and each of its snippets) shows each FACS action
unit, read off the model's own embedding space.

DK-CLIP's premise is that CLIP ties AU words to faces. This makes it visible: for AU *a*, the phrase
``"a face with <AU name>"`` (the AU names of the AU-enriched prompts, :data:`dkclip.prompts.AU_NAMES`) and a
neutral-face phrase go through the frozen text tower; the evidence of a video embedding *v* is

    raw_a(v) = cos(v, t_a) − cos(v, t_neutral)

(*t_neutral* is the mean of the normalised features of ``"a neutral face"`` and ``"a face at rest"``), i.e. how
much better the AU's phrase describes the clip than a neutral face does. Snippets are scored the same way from
their embeddings.

**Calibration: 0 means absent.** The raw difference is not centred at 0 for a face without the AU: each AU phrase
sits at its own distance from the neutral phrase in text space, and images and texts occupy different regions of
CLIP space (the modality gap), so every AU has its own offset, and any expression moves a face away from the
neutral phrase in every AU's direction a little. :meth:`AUEvidence.calibrate` takes labelled reference faces
(embeddings and which AUs each shows) and puts, per AU, 0 halfway between the mean raw score of the faces
without it and that of the faces with it, in units of their pooled standard deviation (an AU no reference face
shows: 0 two standard deviations above the faces without it). So a score > 0 means "closer to the typical face
with this AU than to the typical face without it". Without a calibration the scores are the raw differences, and
0 means only "the AU phrase fits as well as the neutral phrase". The ranking of clips per AU (and so the ROC-AUC)
does not depend on the calibration, only where 0 falls. ``dkclip.ablation.au_study.synthetic_calibration``
calibrates a model on rendered synthetic faces of identities of their own (what ``docs/results-synthetic.md``
measures with); for real faces a calibration would need labelled real faces.

**Quality.** Measured only on the synthetic faces (``docs/results-synthetic.md``, per-AU ROC-AUC against the
generator's intensities for the shipped CLIP and after fine-tuning). On real faces the evidence is only as good as
the CLIP weights' grounding of AU words, which has not been measured here.

Use::

    evidence = AUEvidence.from_model(model)            # once per model: encodes the phrases
    out = model(video)                                 # (B, T, 3, H, W), the model's eval transform applied
    scores = evidence.score_output(out)                # AUScores: .names ("AU01", ...), .clip (B, A), .snippets
    scores = au_scores(model, video)                   # the same in one call

A batch of sliding windows (the video predictor) needs no second forward pass: keep one ``AUEvidence`` per model
and call :meth:`AUEvidence.score_output` on the output the windows already produced; ``scores.names`` are the
``AU01``, ``AU02``, ... column names. A calibration is saved and restored with :meth:`AUEvidence.calibration` /
:meth:`AUEvidence.load_calibration` (plain lists, JSON).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ..prompts import AU_NAMES

if TYPE_CHECKING:
    from .dkclip import DKClip, DKClipOutput

AU_TEMPLATE = "a face with {name}"
NEUTRAL_PHRASES: tuple[str, ...] = ("a neutral face", "a face at rest")
DEFAULT_AUS: tuple[int, ...] = tuple(sorted(AU_NAMES))


def au_column(au: int) -> str:
    """``AU01``, ``AU12``, ...: the column name of an AU."""
    return f"AU{au:02d}"


@dataclass(frozen=True)
class AUScores:
    """AU evidence of a batch: ``clip`` (B, A) and ``snippets`` (B, N, A), calibrated (see the module docs)."""

    names: list[str]  # AU01, AU02, ... in the order of the last axis
    aus: list[int]
    clip: np.ndarray
    snippets: np.ndarray
    calibrated: bool


@dataclass
class AUEvidence:
    """Per-AU text features of one model, and the calibration that maps raw evidence to 0 = absent."""

    aus: tuple[int, ...]
    au_text: torch.Tensor  # (A, E), L2-normalised
    neutral_text: torch.Tensor  # (E,), L2-normalised
    offset: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (A,); empty: not calibrated
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # Snippet embeddings are scored with their own calibration when one was given (the temporal model makes the
    # video embedding differ from its snippets' in some models); else with the clip calibration.
    snippet_offset: np.ndarray = field(default_factory=lambda: np.zeros(0))
    snippet_scale: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    @torch.no_grad()
    def from_model(cls, model: DKClip, aus: Sequence[int] = DEFAULT_AUS, template: str = AU_TEMPLATE,
                   neutral: Sequence[str] = NEUTRAL_PHRASES) -> AUEvidence:
        """Encode the AU phrases and the neutral phrases with ``model``'s frozen text tower."""
        unknown = [a for a in aus if a not in AU_NAMES]
        if unknown:
            raise ValueError(f"no AU name for {unknown}; known: {sorted(AU_NAMES)}")
        phrases = [template.format(name=AU_NAMES[a]) for a in aus]
        feats = F.normalize(encode_texts(model, [*phrases, *neutral]), dim=-1)
        au_text = feats[:len(phrases)]
        neutral_text = F.normalize(feats[len(phrases):].mean(dim=0), dim=-1)
        return cls(tuple(aus), au_text, neutral_text)

    @property
    def names(self) -> list[str]:
        return [au_column(a) for a in self.aus]

    @property
    def calibrated(self) -> bool:
        return self.offset.size == len(self.aus)

    @torch.no_grad()
    def raw(self, embeddings: torch.Tensor) -> np.ndarray:
        """cos(v, t_a) − cos(v, t_neutral) for embeddings (..., E) -> (..., A) float64."""
        v = F.normalize(embeddings.detach().float(), dim=-1)
        au = self.au_text.to(v.device)
        neutral = self.neutral_text.to(v.device)
        diff = v @ au.T - (v @ neutral).unsqueeze(-1)
        return diff.cpu().numpy().astype(np.float64)

    def score(self, embeddings: torch.Tensor, snippets: bool = False) -> np.ndarray:
        """Calibrated evidence (..., A): (raw − offset) / scale; the raw difference when not calibrated.
        ``snippets``: use the snippet calibration (when there is one)."""
        raw = self.raw(embeddings)
        if not self.calibrated:
            return raw
        if snippets and self.snippet_offset.size == len(self.aus):
            return (raw - self.snippet_offset) / self.snippet_scale
        return (raw - self.offset) / self.scale

    def calibrate(self, embeddings: torch.Tensor, present: np.ndarray, snippet_embeddings: torch.Tensor | None = None,
                  snippet_present: np.ndarray | None = None, min_scale: float = 1e-4) -> AUEvidence:
        """Set the calibration from labelled reference faces: video embeddings (M, E) and which AUs they show,
        ``present`` (M, A) bool (optionally the same for snippets: (M, N, E) and (M, N, A)); returns self.

        Per AU, 0 is put halfway between the mean raw score of the faces without it and of the faces with it, and
        the scale is their pooled standard deviation; an AU that no reference face shows gets 0 at two standard
        deviations above the faces without it."""
        self.offset, self.scale = _calibration(self.raw(embeddings).reshape(-1, len(self.aus)),
                                               np.asarray(present, dtype=bool).reshape(-1, len(self.aus)), min_scale)
        if snippet_embeddings is not None and snippet_present is not None:
            self.snippet_offset, self.snippet_scale = _calibration(
                self.raw(snippet_embeddings).reshape(-1, len(self.aus)),
                np.asarray(snippet_present, dtype=bool).reshape(-1, len(self.aus)), min_scale)
        return self

    def calibration(self) -> dict[str, list[float] | list[int]]:
        """The calibration as plain lists (JSON), to store beside a model; empty lists when not calibrated."""
        return {"aus": list(self.aus), "offset": self.offset.tolist(), "scale": self.scale.tolist(),
                "snippet_offset": self.snippet_offset.tolist(), "snippet_scale": self.snippet_scale.tolist()}

    def load_calibration(self, data: dict[str, list[float] | list[int]]) -> AUEvidence:
        """Set a calibration saved by :meth:`calibration` (for the same AUs); returns self."""
        if [int(a) for a in data["aus"]] != list(self.aus):
            raise ValueError(f"the calibration is for AUs {list(data['aus'])}, this evidence scores {list(self.aus)}")
        values = {name: np.asarray(data.get(name, []), dtype=np.float64).reshape(-1)
                  for name in ("offset", "scale", "snippet_offset", "snippet_scale")}
        for name, value in values.items():
            if value.size not in (0, len(self.aus)):
                raise ValueError(f"the calibration's {name} has {value.size} values for {len(self.aus)} AUs")
            if name.endswith("scale") and np.any(value <= 0):
                raise ValueError(f"the calibration's {name} has values <= 0")
        if (values["offset"].size == 0) != (values["scale"].size == 0):
            raise ValueError("the calibration has an offset without a scale or the other way round")
        for name, value in values.items():
            setattr(self, name, value)
        return self

    def score_output(self, out: DKClipOutput) -> AUScores:
        """The evidence of a model output: the video embedding per clip, the snippet embeddings per snippet."""
        return AUScores(names=self.names, aus=list(self.aus), clip=self.score(out.video_embedding),
                        snippets=self.score(out.snippet_embeddings, snippets=True), calibrated=self.calibrated)


def _calibration(raw: np.ndarray, present: np.ndarray, min_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per AU (column): the offset and scale of :meth:`AUEvidence.calibrate`."""
    if raw.shape != present.shape:
        raise ValueError(f"scores {raw.shape} and presence {present.shape} differ in shape")
    offsets, scales = [], []
    for j in range(raw.shape[1]):
        pos, neg = raw[present[:, j], j], raw[~present[:, j], j]
        if neg.size < 2:
            raise ValueError(f"calibration needs at least two reference faces without AU column {j}")
        if pos.size >= 2:
            pooled = np.sqrt((pos.var() * pos.size + neg.var() * neg.size) / (pos.size + neg.size))
            offsets.append((pos.mean() + neg.mean()) / 2)
            scales.append(max(float(pooled), min_scale))
        else:
            scales.append(max(float(neg.std()), min_scale))
            offsets.append(neg.mean() + 2 * scales[-1])
    return np.array(offsets, dtype=np.float64), np.array(scales, dtype=np.float64)


@torch.no_grad()
def encode_texts(model: DKClip, texts: Sequence[str]) -> torch.Tensor:
    """Unnormalised text features (len(texts), E) from ``model``'s frozen CLIP text tower (no CoOp context)."""
    text = model.text
    tokens = text.tokenizer(list(texts)).to(text.token_embedding.weight.device)
    x = text.token_embedding(tokens) + text.positional_embedding
    x = text.transformer(x, attn_mask=text.attn_mask)
    x = text.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]  # end-of-text token
    out: torch.Tensor = x @ text.text_projection
    return out.float()


@torch.no_grad()
def au_scores(model: DKClip, video: torch.Tensor, evidence: AUEvidence | None = None) -> AUScores:
    """Run ``model`` on ``video`` (B, T, 3, H, W; the model's eval transform applied) and score every AU per clip
    and per snippet. Pass ``evidence`` (from :meth:`AUEvidence.from_model`, possibly calibrated) to reuse the
    encoded phrases across batches."""
    evidence = evidence if evidence is not None else AUEvidence.from_model(model)
    was_training = model.training
    model.eval()
    try:
        out = model(video)
    finally:
        model.train(was_training)
    return evidence.score_output(out)
