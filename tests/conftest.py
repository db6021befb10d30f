import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_MIRROR = ROOT.parent / "shared" / "data"

# The offline kit, as the Makefile sets it: the data mirror beside the checkout and no hub calls.
if not os.environ.get("SBERT_LESSONS_DATA") and (_MIRROR / "MANIFEST.json").is_file():
    os.environ["SBERT_LESSONS_DATA"] = str(_MIRROR)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PYTHONWARNINGS", "ignore:IProgress not found")  # inherited by notebook kernels
