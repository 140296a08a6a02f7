"""File size and save / load time of a spotter: save_spotter against joblib.

Fits each trunk at the paper's sizes (512 features, 17 classes, 112-s chunks;
one step, the weights' values do not matter here), then saves and loads it
with :func:`sk_spotting.save_spotter` / :func:`sk_spotting.load_spotter` (one
safetensors file, weights only) and with ``joblib.dump`` / ``joblib.load`` (a
pickle of the whole estimator, optimizer state included).  Times are the best
of ``--repeat`` runs.

Usage::

    python benchmarks/bench_persistence.py

Measured on a shared 2-core Xeon box, no GPU (torch 2.13.0 CPU, safetensors
0.8.0; times vary with the load of the shared cores)::

    trunk        save_spotter file, save, load   joblib file, dump, load
    unet         139.8 MB, 2.3 s, 1.7 s          419.6 MB, 5.5 s, 4.4 s
    transformer    7.8 MB, 0.0 s, 0.2 s           23.5 MB, 0.3 s, 0.4 s

The pickle is three times larger because it holds the AdamW state (two
moments per weight) of both networks, which prediction does not need.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import joblib
import torch

from sk_spotting import DenseAnchorSpotter, load_spotter, save_spotter
from sk_spotting.datasets import SOCCERNET_V2_CLASSES, make_spotting_data


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("trunk        save_spotter file, save, load   joblib file, dump, load")
    X, y = make_spotting_data(2, n_features=512, minutes=5.0, random_state=0)
    for trunk in ("unet", "transformer"):
        spotter = DenseAnchorSpotter(
            trunk=trunk,
            epochs=1,
            chunks_per_epoch=2,
            batch_size=2,
            classes=SOCCERNET_V2_CLASSES,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # read-only arrays copied by torch
            spotter.fit(X, y)
        with tempfile.TemporaryDirectory() as tmp:
            safe = os.path.join(tmp, "spotter.safetensors")
            pickled = os.path.join(tmp, "spotter.joblib")
            save = _best(lambda: save_spotter(spotter, safe), args.repeat)
            load = _best(lambda: load_spotter(safe), args.repeat)
            dump = _best(lambda: joblib.dump(spotter, pickled), args.repeat)
            unpickle = _best(lambda: joblib.load(pickled), args.repeat)
            print(
                f"{trunk:12} {os.path.getsize(safe) / 1e6:5.1f} MB, {save:.1f} s, "
                f"{load:.1f} s          {os.path.getsize(pickled) / 1e6:5.1f} MB, "
                f"{dump:.1f} s, {unpickle:.1f} s"
            )


if __name__ == "__main__":
    main()
