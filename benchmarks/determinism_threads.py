"""Measure what ``random_state`` and the number of torch threads do to results.

Fits the demo's u-net (``sk_spotting.cli._demo.DEMO_CONFIG`` estimator
settings, fewer epochs, smaller data) on synthetic videos and checks, on CPU:

1. two fits with the same ``random_state`` and the same number of threads
   give bit-identical weights, dense scores and events (1 thread, then 2);
2. one fitted model predicting with 1 and with 2 threads: the largest
   differences of the confidences and displacements, and whether the events
   after NMS and the average-mAP change;
3. the same fit run with 1 and with 2 threads: the same differences, after
   training has amplified them.

Results of 2026-12-01 on the 2-core Xeon CPU box (no GPU, torch 2.13.0+cpu),
``python benchmarks/determinism_threads.py`` (4 training videos and 2 test
videos of 10 minutes, 128 features, 2 epochs; log
``benchmarks/results/determinism_cpu.log``):

- same threads: bit-identical at 1 thread and at 2 threads (weights, dense
  scores, events);
- inference, 1 vs 2 threads: confidences differ by up to 7.5e-08,
  displacements by up to 2.3e-06 s; the same events at the same times, their
  confidences up to 7.5e-08 apart; the same average-mAP to the last bit;
- training, 1 vs 2 threads: confidences differ by up to 4.2e-04, weights by
  up to 1.8e-03; loose average-mAP 0.0587 against 0.0590.

The exact figures depend on the data and the CPU; the script prints them.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sk_spotting import DenseAnchorSpotter  # noqa: E402
from sk_spotting.cli._demo import DEMO_CONFIG  # noqa: E402
from sk_spotting.datasets import (  # noqa: E402
    SOCCERNET_V2_CLASSES,
    make_spotting_data,
)


def fit(X, y, n_threads, epochs):
    torch.set_num_threads(n_threads)
    params = {**DEMO_CONFIG["estimator"], "epochs": epochs}
    return DenseAnchorSpotter(
        **params, classes=SOCCERNET_V2_CLASSES, random_state=0
    ).fit(X, y)


def outputs(spotter, X, n_threads):
    torch.set_num_threads(n_threads)
    scores = spotter.predict_scores(X)
    confidence = np.concatenate([s.confidence.ravel() for s in scores])
    displacement = np.concatenate([s.displacement.ravel() for s in scores])
    return confidence, displacement, spotter.predict(X)


def weights(spotter):
    nets = [spotter.confidence_net_, spotter.displacement_net_]
    return np.concatenate(
        [p.detach().numpy().ravel() for net in nets for p in net.module_.parameters()]
    )


def same_events(a, b):
    return all(x.equals(y) for x, y in zip(a, b))


def event_differences(a, b):
    """Whether the events have the same labels in the same order, and the
    largest time (s) and confidence differences when they do."""
    if [len(x) for x in a] != [len(y) for y in b] or not all(
        x["label"].equals(y["label"]) for x, y in zip(a, b)
    ):
        return "other events"
    time = max(float((x["time"] - y["time"]).abs().max()) for x, y in zip(a, b))
    conf = max(
        float((x["confidence"] - y["confidence"]).abs().max()) for x, y in zip(a, b)
    )
    return f"same events, times differ by up to {time:.1e} s, confidences {conf:.1e}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    data = {"n_features": DEMO_CONFIG["n_features"], "minutes": args.minutes}
    X, y = make_spotting_data(args.videos, random_state=0, **data)
    X_test, y_test = make_spotting_data(2, random_state=1, **data)

    for n_threads in (1, 2):
        a, b = fit(X, y, n_threads, args.epochs), fit(X, y, n_threads, args.epochs)
        out_a, out_b = outputs(a, X_test, n_threads), outputs(b, X_test, n_threads)
        identical = (
            np.array_equal(weights(a), weights(b))
            and all(np.array_equal(u, v) for u, v in zip(out_a[:2], out_b[:2]))
            and same_events(out_a[2], out_b[2])
        )
        print(f"{n_threads} thread(s), two fits: bit-identical = {identical}")
        if n_threads == 1:
            one = a
        else:
            two = a

    conf_1, disp_1, events_1 = outputs(one, X_test, 1)
    score_1 = one.score(X_test, y_test)
    conf_2, disp_2, events_2 = outputs(one, X_test, 2)
    score_2 = one.score(X_test, y_test)
    torch.set_num_threads(1)
    print(
        f"inference 1 vs 2 threads: confidence max |diff| "
        f"{np.abs(conf_1 - conf_2).max():.1e}, displacement max |diff| "
        f"{np.abs(disp_1 - disp_2).max():.1e} s; "
        f"{event_differences(events_1, events_2)}; average-mAP {score_1!r} vs "
        f"{score_2!r}"
    )
    conf_t, _, _ = outputs(two, X_test, 1)
    torch.set_num_threads(1)
    print(
        f"training 1 vs 2 threads: confidence max |diff| "
        f"{np.abs(conf_1 - conf_t).max():.1e}, weights max |diff| "
        f"{np.abs(weights(one) - weights(two)).max():.1e}, average-mAP "
        f"{one.score(X_test, y_test):.4f} vs {two.score(X_test, y_test):.4f}"
    )


if __name__ == "__main__":
    main()
