"""Reproduce chapter 3's speed table: cross-encoder vs bi-encoder, most similar pair among 10,000 sentences.

    python benchmarks/speed_table.py                      # smoke sizes, this machine's device
    python benchmarks/speed_table.py --profile full       # larger measured sizes (GPU)
    python benchmarks/speed_table.py --out benchmarks/results/speed_table_cpu.txt

The cross-encoder here is MiniLM-L6 with a one-output head (``CrossEncoder(minilm_dir, num_labels=1)``):
its speed does not depend on the values of its weights, so no training is needed (``--trained`` loads
chapter 3's trained model from the cache instead). Every time is the median of timed runs after a
warm-up (``sbert_lessons.timing``); the 10,000-sentence cross-encoder time is an extrapolation by the
n(n-1)/2 pair count, and so is the bi-encoder's when it is not measured at 10,000 (labelled in the table).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=("smoke", "full"), default=None)
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: the profile's)")
    ap.add_argument("--trained", action="store_true", help="time chapter 3's trained cross-encoder")
    ap.add_argument("--ce-n", type=int, default=None, help="largest n measured with the cross-encoder")
    ap.add_argument("--bi-n", type=int, default=None, help="largest n measured with the bi-encoder")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from sentence_transformers import CrossEncoder

    from sbert_lessons import data, models, timing, training
    from sbert_lessons.profile import setup

    P = setup(args.profile, device=args.device)
    ce_n = args.ce_n or P.pick(smoke=40, full=500)
    bi_n = args.bi_n or P.pick(smoke=1_000, full=10_000)
    n_target = 10_000
    if ce_n < 2 or bi_n < 2:
        ap.error("--ce-n and --bi-n must be at least 2")

    corpus = data.load("corpus", "all", P.name)["text"].tolist()
    rng = np.random.default_rng(P.seed)
    sentences = [corpus[i] for i in rng.permutation(len(corpus))]
    if bi_n > len(sentences):
        ap.error(f"--bi-n {bi_n} is larger than the {len(sentences)} sentences of this profile")

    bi = models.load_sentence_model(models.MINILM, device=P.device)
    if args.trained:
        ce = training.load_cross_encoder(P)
    else:
        ce = CrossEncoder(str(models.model_path(models.MINILM)), num_labels=1, max_length=128, device=P.device)

    n_pairs, n_sents = P.pick(smoke=256, full=4_096), min(bi_n, P.pick(smoke=512, full=10_000))
    ce_rate = timing.throughput(lambda b: ce.predict(b, batch_size=64, show_progress_bar=False),
                                list(zip(sentences[:n_pairs], sentences[1:n_pairs + 1])),  # noqa: RUF007
                                batch=64,
                                repeats=args.repeats)
    bi_rate = timing.throughput(lambda b: bi.encode(b, batch_size=64, convert_to_tensor=True,
                                                    show_progress_bar=False),
                                sentences[:n_sents], batch=64, repeats=args.repeats)
    fake = torch.nn.functional.normalize(torch.randn(n_target, models.embedding_dim(bi), device=P.device), dim=1)
    sim_s = timing.time_call(timing.most_similar_pair, fake, warmup=1, repeats=args.repeats).median_s

    def bi_search(texts):
        return timing.most_similar_pair(bi.encode(texts, batch_size=64, convert_to_tensor=True,
                                                  show_progress_bar=False))

    bi_s = timing.time_call(bi_search, sentences[:bi_n], warmup=0, repeats=1).median_s
    ce_s = timing.time_call(timing.cross_encoder_pair_search, ce, sentences[:ce_n], warmup=0, repeats=1).median_s
    ce_10k = timing.extrapolate_pairs(ce_n, ce_s, n_target)
    if bi_n >= n_target:
        bi_10k, bi_how = bi_s, "measured"
    else:
        bi_10k = timing.extrapolate_linear(bi_n, bi_s, n_target) + sim_s
        bi_how = f"extrapolated (encoding linear from n={bi_n:,}) + measured 10k search"

    dev_name = torch.cuda.get_device_name() if P.device.startswith("cuda") else \
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    import sentence_transformers as st
    lines = [
        f"Chapter 3 speed table — {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"{P} | {dev_name} | torch {torch.__version__} | sentence-transformers {st.__version__}",
        (f"cross-encoder: {'trained (chapter 3 cache)' if args.trained else 'MiniLM-L6 + 1-output head'}; "
         "bi-encoder: all-MiniLM-L6-v2"),
        "",
        f"{'measure':<52} {'value':>14}  how",
        f"{'cross-encoder pairs/s':<52} {ce_rate:>14,.1f}  median of {args.repeats}, {n_pairs} pairs",
        f"{'bi-encoder sentences/s':<52} {bi_rate:>14,.1f}  median of {args.repeats}, {n_sents} sentences",
        f"{'most-similar-pair search, 10,000 embeddings (s)':<52} {sim_s:>14.3f}  median of {args.repeats}",
        f"{f'cross-encoder pair search, n={ce_n} (s)':<52} {ce_s:>14.2f}  measured, {timing.pair_count(ce_n):,} pairs",
        f"{f'bi-encoder pair search, n={bi_n:,} (s)':<52} {bi_s:>14.2f}  measured",
        (f"{'cross-encoder, n=10,000 (s)':<52} {ce_10k:>14,.0f}  extrapolated by n(n-1)/2 "
         f"= {timing.format_duration(ce_10k)} (paper: ~65 h)"),
        f"{'bi-encoder, n=10,000 (s)':<52} {bi_10k:>14,.1f}  {bi_how} (paper: ~5 s)",
        f"{'speed-up':<52} {ce_10k / bi_10k:>14,.0f}x  (paper: ~47,000x)",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return text


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
