"""Cut-outs from plain photos (`fgbg-depth cutout`): a background-removal model (BiRefNet_lite, ONNX, run
by ONNX Runtime; or a plug-in of the `fgbg_depth.matting` entry-point group) gives each photo a soft
alpha; every cut-out is checked, the doubtful ones flagged for review, and one record per photo kept.

    models.py   which model: a Hub repository, a folder, an .onnx file or a plug-in; `get_matting`
    matting.py  the ONNX model and its pre- and post-processing
    checks.py   the checks on the raw probabilities
    colour.py   foreground colours along soft edges; the cropped RGBA cut-out
    run.py      the command: photos → FG, resumable; records.py: metadata.jsonl; review.py: review.html
    accept.py   `fgbg-depth accept`: let `generate` use flagged cut-outs
"""

from .models import get_matting

__all__ = ["get_matting"]
