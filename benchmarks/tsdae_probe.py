"""Why chapter 8's TSDAE collapses in the full profile: a GPU probe (not run by the course or its tests).

Trains all-MiniLM-L6-v2 with the library's DenoisingAutoEncoderLoss on SciFact's 5,183 abstracts (256
tokens, batch 8, one epoch: chapter 8's full recipe) and measures SciFact test nDCG@10 (whole corpus, 256
tokens), STS-B test Spearman x100 and the mean cosine between abstracts (500 of them, all pairs):

* default: after training, for learning rates 3e-5 / 1e-5 / 3e-6 with the decoder tied to the encoder and
  3e-5 / 1e-5 with a separate decoder;
* ``--trajectory``: the course's recipe (tied, 3e-5) measured every few steps, trained at 256 and at 64
  tokens.

It also times encoding of the 5,183 abstracts on the device. It reads a kit folder (``.device-kit``, ignored
by git) that ``--make-kit`` builds on a machine with the course installed: MiniLM's weights as an fp16
safetensors copy (the GPU machine takes at most 64 MiB of working tree per call), its tokenizer and
configuration, and the SciFact and STS-B files of the data mirror. The weights are cast back to fp32 there.

    .venv/bin/python benchmarks/tsdae_probe.py --make-kit            # here: build .device-kit (49 MB)
    python3 benchmarks/tsdae_probe.py [--trajectory]                   # there, with .device-kit carried
    .venv/bin/python benchmarks/tsdae_probe.py --tiny [--trajectory]   # a CPU self-test on 24 abstracts

Results: ``benchmarks/results/tsdae_probe_{sweep,trajectory}_<gpu>.json``.
"""
import json
import os
import shutil
import sys
import time

if "--make-kit" not in sys.argv:
    os.environ["SBERT_LESSONS_DATA"] = ".device-kit/data"
sys.path.insert(0, "src")
import numpy as np
import torch
from safetensors.torch import load_file, save_file

TINY = "--tiny" in sys.argv
KIT = ".device-kit"
SRC, DST = f"{KIT}/minilm", "/tmp/probe_minilm"
if "--make-kit" in sys.argv:
    from sbert_lessons import models

    mirror = os.environ.get("SBERT_LESSONS_DATA") or sys.exit(
        "--make-kit needs SBERT_LESSONS_DATA (the data mirror)")
    folder = models.model_path(models.MINILM)
    shutil.rmtree(KIT, ignore_errors=True)
    shutil.copytree(folder, SRC, ignore=shutil.ignore_patterns("model.safetensors", "README.md",
                                                               "data_config.json",
                                                               ".gitattributes"))
    sd = load_file(str(folder / "model.safetensors"))
    save_file({k: v.to(torch.float16).contiguous() for k, v in sd.items()}, f"{SRC}/model_fp16.safetensors")
    for name in ("scifact", "stsb"):
        shutil.copytree(f"{mirror}/{name}", f"{KIT}/data/{name}")
    shutil.copy(f"{mirror}/MANIFEST.json", f"{KIT}/data/")
    print(f"kit written to {KIT}/")
    sys.exit(0)
OUT = os.environ.get("OUT", "/tmp/probe_out")
os.makedirs(OUT, exist_ok=True)
if not os.path.exists(f"{DST}/model.safetensors"):
    shutil.copytree(SRC, DST, ignore=shutil.ignore_patterns("model_fp16.safetensors"), dirs_exist_ok=True)
    sd = load_file(f"{SRC}/model_fp16.safetensors")
    save_file({k: v.float().contiguous() for k, v in sd.items()}, f"{DST}/model.safetensors")

import sentence_transformers
import transformers
from sentence_transformers import SentenceTransformer

try:
    from sentence_transformers.sentence_transformer import losses as st_losses
except ImportError:
    from sentence_transformers import losses as st_losses

from sbert_lessons import adaptation, data, evaluation, search, training
from sbert_lessons.profile import seed_everything

DEV = "cpu" if TINY else "cuda"
LEN = 32 if TINY else 256
info = {"torch": torch.__version__, "st": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
print(info, flush=True)

test_sf = data.load_scifact("test")
stsb = data.load("stsb", "test", "full")
if TINY:
    test_sf = data.scifact_subset(test_sf, "smoke", n_docs=60, seed=0)
    stsb = stsb.iloc[:40]
texts = adaptation.doc_texts(test_sf.corpus)
if TINY:
    texts = texts[:24]
damaged, original = adaptation.tsdae_pairs(texts, del_ratio=0.6, seed=0)
doc_texts = adaptation.doc_texts(test_sf.corpus)
queries = search.scifact_query_texts(test_sf.queries)


def sync():
    if DEV == "cuda":
        torch.cuda.synchronize()


def evaluate(m, tag):
    m.max_seq_length = LEN
    sync()
    t = time.perf_counter()
    d = m.encode(doc_texts, batch_size=128, convert_to_numpy=True, normalize_embeddings=True)
    sync()
    enc_s = time.perf_counter() - t
    q = m.encode(queries, batch_size=128, convert_to_numpy=True, normalize_embeddings=True)
    scores, ids = search.exact_topk(q, d, top_k=10)
    run = search.topk_to_run(ids, scores, list(test_sf.queries["_id"]), list(test_sf.corpus["_id"]))
    ndcg = evaluation.ndcg_at_k(run, test_sf.qrels, 10)
    e1 = m.encode(list(stsb["sentence1"]), batch_size=128, normalize_embeddings=True)
    e2 = m.encode(list(stsb["sentence2"]), batch_size=128, normalize_embeddings=True)
    sts = evaluation.sts_spearman(e1, e2, stsb["score"].to_numpy(dtype=float))
    # how spread out the abstracts are: mean pairwise cosine of 500 of them (collapse -> near 1)
    sub = d[:500]
    sim = sub @ sub.T
    mean_cos = float((sim.sum() - len(sub)) / (len(sub) * (len(sub) - 1)))
    row = {"tag": tag, "ndcg10": round(float(ndcg), 4), "stsb": round(float(sts), 2),
           "mean_doc_cos": round(mean_cos, 4), "encode_docs_s": round(enc_s, 2),
           "docs_per_s": round(len(doc_texts) / enc_s, 1)}
    print(row, flush=True)
    return row


def load():
    return SentenceTransformer(DST, device=DEV)


results = {"info": info, "rows": []}


def save():
    with open(f"{OUT}/tsdae_probe.json", "w") as f:
        json.dump(results, f, indent=1)



if "--trajectory" in sys.argv:
    # the course's full recipe (tied, lr 3e-5, batch 8), measured every few steps, at 256 and 64 tokens
    CHECK = {0, 8, 16, 32, 64, 128, 256, 400, 647} if not TINY else {0, 2}
    results["trajectory"] = []
    for train_len in ([LEN, 64] if not TINY else [LEN]):
        seed_everything(0)
        m = load()
        m.max_seq_length = train_len
        loss = st_losses.DenoisingAutoEncoderLoss(m, tie_encoder_decoder=True).to(DEV)
        recipe = training.Recipe(epochs=1, batch_size=8, lr=3e-5, max_length=train_len)
        opt, sched = training._optimizer(loss, recipe, len(damaged))
        loss.train()
        for step, idx in enumerate(training._batches(len(damaged), 8, 1, 0)):
            if step in CHECK:
                loss.eval()
                row = evaluate(m, f"train_len {train_len} step {step}")
                row.update(step=step, train_len=train_len)
                results["trajectory"].append(row)
                save()
                m.max_seq_length = train_len
                loss.train()
            feats = [training.bi_encoder_features(m, [c[i] for i in idx]) for c in (damaged, original)]
            training._step(loss(feats, None), loss, opt, sched)
        loss.eval()
        row = evaluate(m, f"train_len {train_len} end")
        row.update(step=len(damaged) // 8 + 1, train_len=train_len)
        results["trajectory"].append(row)
        save()
        del m, loss
    print("done", flush=True)
    sys.exit(0)

results["rows"].append(evaluate(load(), "before"))
save()

CONFIGS = [("tsdae tied lr3e-5 (course full recipe)", 3e-5, True),
           ("tsdae tied lr1e-5", 1e-5, True),
           ("tsdae tied lr3e-6", 3e-6, True),
           ("tsdae untied lr3e-5", 3e-5, False),
           ("tsdae untied lr1e-5", 1e-5, False)]
if TINY:
    CONFIGS = CONFIGS[:1] + CONFIGS[3:4]
for tag, lr, tie in CONFIGS:
    seed_everything(0)
    m = load()
    m.max_seq_length = LEN
    loss = st_losses.DenoisingAutoEncoderLoss(m, decoder_name_or_path=None if tie else DST,
                                             tie_encoder_decoder=tie).to(DEV)
    recipe = training.Recipe(epochs=1, batch_size=8, lr=lr, max_length=LEN)
    sync()
    t = time.perf_counter()
    losses = adaptation.fit_with_loss(m, loss, [damaged, original], recipe)
    sync()
    row = evaluate(m, tag)
    row.update(train_s=round(time.perf_counter() - t - row["encode_docs_s"], 1), steps=len(losses),
               loss_first20=round(float(np.mean(losses[:20])), 3),
               loss_last20=round(float(np.mean(losses[-20:])), 3))
    print(row, flush=True)
    results["rows"].append(row)
    save()
    del m, loss
    if DEV == "cuda":
        torch.cuda.empty_cache()
print("done", flush=True)
