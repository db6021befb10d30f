"""Encoding throughput: the cost centre of the course on a CPU (design §3).

Measures sentences per second of each available sentence model on two workloads — short STS-B
sentences and SciFact abstracts (title + text, truncated at the model's max_seq_length) — and prints a
table, which is also written to benchmarks/results/encode_throughput_<device>.txt.

    .venv/bin/python benchmarks/encode_throughput.py            # profile defaults: smoke on a CPU
    .venv/bin/python benchmarks/encode_throughput.py --n-short 1024 --n-long 128

Numbers are machine-dependent and recorded, never asserted in unit tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
from pathlib import Path

import torch

from sbert_lessons import data, models, timing
from sbert_lessons.profile import setup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-short", type=int, default=512, help="STS-B sentences per timed pass")
    ap.add_argument("--n-long", type=int, default=48, help="SciFact abstracts per timed pass")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    P = setup()
    stsb = data.load_stsb("test")
    short = data.unique_texts(stsb["sentence1"], stsb["sentence2"])[: args.n_short]
    corpus = data.load_scifact("test").corpus
    long = (corpus["title"] + ". " + corpus["text"]).tolist()[: args.n_long]

    rows = []
    for hub_id in (models.MINILM, models.MPNET):
        model = models.load_optional(hub_id)
        if model is None:
            rows.append((hub_id, "absent", "", ""))
            continue

        def enc(batch, model=model):
            model.encode(batch, batch_size=args.batch, show_progress_bar=False)

        short_rate = timing.throughput(enc, short, batch=args.batch, repeats=args.repeats)
        long_rate = timing.throughput(enc, long, batch=args.batch, repeats=args.repeats)
        rows.append((hub_id, f"{short_rate:,.1f}", f"{long_rate:,.2f}",
                     timing.format_duration(len(corpus) / long_rate)))

    device = P.device if P.device == "cpu" else torch.cuda.get_device_name(0)
    header = (f"# encode throughput, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, device {device}, "
              f"{torch.get_num_threads()} torch threads, {platform.processor() or platform.machine()}, "
              f"torch {torch.__version__}\n"
              f"# short: {len(short)} STS-B sentences; long: {len(long)} SciFact abstracts; "
              f"batch {args.batch}; median of {args.repeats}\n")
    lines = [f"{'model':45} {'short sent/s':>14} {'abstracts/s':>12} {'whole SciFact (5,183)':>22}"]
    lines += [f"{m:45} {s:>14} {l:>12} {t:>22}" for m, s, l, t in rows]
    text = header + "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).parent / "results" / f"encode_throughput_{P.device.split(':')[0]}.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
