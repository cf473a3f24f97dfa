"""Media that exercise the decoding layer's rules: frame folders of EXIF-rotated JPEGs, and mp4 files cut short
with their index intact (what a phone or web encoder leaves when its frame count is approximate, or a download
stops). Built on :mod:`media_fixtures`, whose frames carry their index in the top-left quarter."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from media_fixtures import make_frame, write_frame_folder

# EXIF orientation -> how the stored pixels are turned from upright (PIL's ROTATE_* are counter-clockwise), so
# that a reader applying the tag gets the upright frame back.
STORED_TURN = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def write_exif_folder(folder: str | os.PathLike[str], num_frames: int, orientation: int, height: int = 64,
                      width: int = 80) -> str:
    """A frame folder whose JPEGs store turned pixels plus the EXIF orientation that makes them upright
    (``height x width``) again, as a phone camera writes them."""
    write_frame_folder(folder, num_frames, height=height, width=width)
    for i in range(num_frames):
        file = Path(folder, f"{i + 1}.jpg")
        exif = Image.Exif()
        exif[0x0112] = orientation  # Orientation
        Image.fromarray(make_frame(i, height, width)).transpose(STORED_TURN[orientation]).save(
            file, quality=95, exif=exif)
    return os.fspath(folder)


def write_cut_video(folder: str | os.PathLike[str], num_frames: int, keep: int, *, partial: bool = False,
                    height: int = 64, width: int = 80) -> tuple[Path, Path]:
    """``(whole, cut)``: an mp4 of ``num_frames`` frames with its index (moov) before the data and no B-frames,
    and a copy cut after its first ``keep`` frames, so that its header announces ``num_frames`` and exactly
    ``keep`` decode. ``partial`` cuts in the middle of frame ``keep`` instead of before it: decoding without
    frame threading then ends with an FFmpeg error rather than quietly."""
    import av

    whole, cut = Path(folder, "whole.mp4"), Path(folder, f"cut{keep}{'p' if partial else ''}.mp4")
    with av.open(str(whole), mode="w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12", "preset": "veryfast", "bf": "0"}  # one packet per frame, in order
        for i in range(num_frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(make_frame(i, height, width), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(whole)) as container:
        starts = [p.pos for p in container.demux(container.streams.video[0]) if p.size]
    end = (starts[keep] + starts[keep + 1]) // 2 if partial else starts[keep]
    cut.write_bytes(whole.read_bytes()[:end])
    return whole, cut
