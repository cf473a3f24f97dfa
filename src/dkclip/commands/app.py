"""``dkclip app``: ``dkclip predict`` in the browser, for people who do not use a terminal.

Starts a local web page (Gradio; ``pip install dkclip[app]``) and prints its address. Upload a video, several, or
the images of one clip, or record from the webcam; see the annotated video, the expression segments of every
face, the timeline and action-unit pictures; change windows, detector and head and rerun without decoding again;
download everything ``dkclip predict`` writes as one zip. The model options are ``dkclip predict``'s.

The page is served on 127.0.0.1 only, unless --host says otherwise (--host 0.0.0.0 serves every network the
machine is on: anyone who reaches it can run the model on their videos).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..app.server import DEFAULT_HOST, DEFAULT_PORT
    from ..predict.defaults import DEFAULT_RUNTIME, RUNTIMES

    p = sub.add_parser("app", help="the browser interface: upload a video, see who shows which expression when",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    m = p.add_argument_group("model (default: the shipped dkclip-tiny, synthetic faces only)")
    m.add_argument("--model", default=None, help="a trained model: export folder, run directory, best/ or last.pt")
    m.add_argument("--zero-shot", action="store_true", help="CLIP zero-shot with AU prompts (needs --clip-weights)")
    m.add_argument("--clip-weights", default=None, help="CLIP weights file for --zero-shot")
    m.add_argument("--prompts", default="dfew",
                   help="the first prompt set for --zero-shot (the page offers the others and your own)")
    m.add_argument("--arch", default=None, help="model architecture of --clip-weights (default: recognised)")
    m.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    m.add_argument("--runtime", choices=RUNTIMES, default=DEFAULT_RUNTIME,
                   help="torch (default, exact), torch-int8 (int8 video encoder, CPU, faster, approximate) or onnx "
                        "(ONNX Runtime, CPU); built once at start-up")
    s = p.add_argument_group("server")
    s.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to serve on (default {DEFAULT_HOST}: this machine only)")
    s.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free one)")
    s.add_argument("--max-upload-mb", type=float, default=None, help="largest file accepted, in MB (default 500)")
    s.add_argument("--cache-mb", type=float, default=None,
                   help="decoded frames kept per browser tab for reruns, in MiB (default 1024; larger videos "
                        "are decoded again on a rerun)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..factory import is_onnx_file
    from ..predict.models import DEFAULT_MODEL_WARNING, ModelChoice

    choice = ModelChoice(model=args.model, zero_shot=args.zero_shot, clip_weights=args.clip_weights,
                         prompts=args.prompts, arch=args.arch)
    choice.check()
    if args.model and is_onnx_file(args.model):  # the Predictor opens those itself; the app keeps one model
        raise UsageError("dkclip app runs PyTorch models (an export, run directory, best/ or last.pt); an ONNX "
                         "model runs with dkclip predict --model FILE.onnx")
    # Looked for, not imported: Gradio reads its settings (where uploads go) when imported, which serve() sets.
    if importlib.util.find_spec("gradio") is None:
        raise UsageError("dkclip app needs Gradio: pip install 'dkclip[app]' (or make install)")
    if choice.is_default:
        print(f"warning: {DEFAULT_MODEL_WARNING}", file=sys.stderr)
    from ..app.server import serve

    def ready(url: str) -> None:
        print(f"dkclip app: open {url} in a browser (Ctrl-C stops it)", flush=True)

    serve(choice, host=args.host, port=args.port, device=args.device, max_upload_mb=args.max_upload_mb,
          cache_mb=args.cache_mb, runtime=args.runtime, on_ready=ready)
    print("dkclip app: stopped; its temporary files are removed")
    return 0
