"""Cheaper item text encoding: the encoder at its chosen precision against float32 on the same texts, one run.

The texts are what the product encodes (:func:`igcore.encode.items.item_text`) for the first ``--texts`` items of
Amazon Industrial (titles, descriptions, brands; the bundled sample's catalogue when ../shared/data is absent).
Both encoders run in this process on one thread, alternating, ``--repeats`` times; the figures are the median
throughput of each, their ratio, and the cosine of each text's vector to its float32 vector (mean and minimum).

    OMP_NUM_THREADS=1 .venv/bin/python bench/text_encoder.py [--texts 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch  # noqa: E402

from igcore.benchio import machine, median, timed, today, write_json, write_section  # noqa: E402
from igcore.encode.items import item_text  # noqa: E402
from igcore.encode.text import TextEncoder  # noqa: E402
from igcore.paths import SHARED_DATA  # noqa: E402


def texts(n: int) -> tuple[str, list[str]]:
    """Up to ``n`` item texts: Industrial's when the shared data is here, else the generated sample's."""
    path = SHARED_DATA / "amazon_industrial_text" / "items.json"
    if path.exists():
        items = list(json.loads(path.read_text()).values())[:n]
        return "Amazon Industrial", [item_text({"title": i.get("title"), "description": i.get("description"),
                                                "brand": i.get("brand")}) for i in items]
    from igcore.synth import SynthConfig, generate

    rows = generate(SynthConfig(n_events=1000)).items[:n]
    return "the generated sample", [item_text({"title": r[1], "category": r[2], "brand": r[3], "price": float(r[4]),
                                              "description": r[5]}) for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    source, batch = texts(args.texts)
    batch = [t for t in batch if t]
    exact, chosen = TextEncoder(device="cpu", precision="float32"), TextEncoder(device="cpu")
    reference, vectors = exact.encode(batch), chosen.encode(batch)  # also warms both up
    fp32_s, chosen_s = [], []
    for _ in range(args.repeats):  # alternate, so both see the same machine load
        fp32_s += timed(lambda: exact.encode(batch), 1)
        chosen_s += timed(lambda: chosen.encode(batch), 1)
    cos = (reference * vectors).sum(axis=1)
    precision = str(chosen.dtype).removeprefix("torch.")
    result = {"texts": len(batch), "source": source, "precision": precision, "load_before": os.getloadavg()[0],
              "float32_texts_per_s": round(len(batch) / median(fp32_s), 1),
              "chosen_texts_per_s": round(len(batch) / median(chosen_s), 1),
              "speedup": round(median(fp32_s) / median(chosen_s), 3),
              "cosine_mean": round(float(cos.mean()), 5), "cosine_min": round(float(cos.min()), 5),
              "runs_s": {"float32": [round(x, 2) for x in fp32_s], precision: [round(x, 2) for x in chosen_s]},
              "date": today(), "machine": machine(),
              "command": f"bench/text_encoder.py --texts {args.texts} --repeats {args.repeats}"}
    write_json("text-encoder", result)
    write_section("text-encoder", f"""
## Item text encoder

{today()} · {machine()} · `{result['command']}`: {len(batch):,} item texts of {source}, one thread, medians of
{args.repeats} alternating runs; the chosen precision is what `TextEncoder(precision="auto")` picks on this machine.

| encoder | texts/s | runs (s) | cosine to float32: mean | min |
|---|---:|---|---:|---:|
| float32 (baseline) | {result['float32_texts_per_s']:,} | {', '.join(f'{x:.1f}' for x in fp32_s)} | 1 | 1 |
| {precision} | {result['chosen_texts_per_s']:,} | {', '.join(f'{x:.1f}' for x in chosen_s)} | {result['cosine_mean']:.4f} | {result['cosine_min']:.4f} |

{result['speedup']:.2f}x float32's throughput (target >= 1.5x, with mean cosine >= 0.99 and minimum >= 0.95).
""")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
