"""Check the data-parallel path on the GPUs of one machine (NCCL).

Run under torchrun with one process per GPU (one GPU is enough)::

    torchrun --standalone --nproc-per-node $(nvidia-smi -L | wc -l) \\
        benchmarks/gpu_distributed_check.py

Without a GPU it runs the same checks on CPU processes (gloo).  Every rank
fits a small spotter with ``distributed=True`` (the fit starts the process
group: NCCL on ``cuda:LOCAL_RANK``), with validation and checkpoints, then
the same fit interrupted at the displacement network's 4th epoch and resumed;
rank 0 then fits it in one process.  Rank 0 prints one line per check and
``ALL PASSED`` or the failures; with one process, the distributed fit must
equal the one-process fit (rank 0 draws the one-process stream), with several
the two must come close (test average-mAP printed).
"""

import sys
import tempfile
import time

import numpy as np
import torch
import torch.distributed as dist

from sk_spotting import DenseAnchorSpotter
from sk_spotting.datasets import make_spotting_data
from sk_spotting.training._distributed import resolve_distributed

PARAMS = {
    "chunk_duration": 32.0,
    "unet_levels": 3,
    "epochs": 8,
    "chunks_per_epoch": 256,
    "batch_size": 32,
    "validation_interval": 2,
    "random_state": 0,
}


class _Interrupt:
    def __call__(self, network, epoch, score):
        if (network, epoch) == ("displacement", 4):
            raise KeyboardInterrupt


def main():
    X, y = make_spotting_data(8, n_features=64, minutes=10.0, random_state=0)
    train, valid = (X[:6], y[:6]), {"X_valid": X[6:7], "y_valid": y[6:7]}
    test = (X[7:], y[7:])
    start = time.perf_counter()
    spotter = DenseAnchorSpotter(**PARAMS, distributed=True).fit(*train, **valid)
    seconds = time.perf_counter() - start
    context = resolve_distributed(True, "cuda" if torch.cuda.is_available() else "cpu")
    checks = []

    def check(name, passed, detail=""):
        checks.append(passed)
        if context.is_main:
            verdict = "PASS" if passed else "FAIL"
            print(f"{verdict} {name} {detail}".rstrip(), flush=True)

    if context.is_main:
        print(
            f"{context.world_size} process(es), backend {context.backend}, "
            f"device {context.device}, torch {torch.__version__}; fit {seconds:.1f} s",
            flush=True,
        )
    states = context.gather(
        [p.detach().cpu() for p in spotter.confidence_net_.module_.parameters()]
    )
    check(
        "every rank ends with the same weights",
        all(torch.equal(a, b) for s in states for a, b in zip(s, states[0])),
    )
    with tempfile.TemporaryDirectory() as folder:
        folder = context.gather(folder)[0]  # rank 0's folder (one machine)
        resumed = DenseAnchorSpotter(**PARAMS, distributed=True, checkpoint_dir=folder)
        try:
            resumed.fit(*train, **valid, on_validation=_Interrupt())
        except KeyboardInterrupt:
            pass
        resumed.fit(*train, **valid, resume=True)
        context.barrier()
    if context.is_main:
        a = spotter.predict_scores(test[0])[0]
        b = resumed.predict_scores(test[0])[0]
        check(
            "interrupted and resumed fit equals the uninterrupted one",
            np.array_equal(a.confidence, b.confidence)
            and np.array_equal(a.displacement, b.displacement),
            f"(max difference {np.abs(a.confidence - b.confidence).max():.2e})",
        )
        alone = DenseAnchorSpotter(**PARAMS, distributed=False).fit(*train, **valid)
        c = alone.predict_scores(test[0])[0]
        scores = [s.score(*test, tolerances="loose") for s in (spotter, alone)]
        if context.world_size == 1:
            check(
                "one-rank fit equals the one-process fit",
                np.array_equal(a.confidence, c.confidence),
                f"(max difference {np.abs(a.confidence - c.confidence).max():.2e})",
            )
        print(
            f"test loose average-mAP: {scores[0]:.4f} on {context.world_size} "
            f"process(es), {scores[1]:.4f} on one",
            flush=True,
        )
    passed = context.gather(all(checks))
    if context.is_main:
        print("ALL PASSED" if all(passed) else "FAILURES", flush=True)
    dist.destroy_process_group()
    return 0 if all(passed) else 1


if __name__ == "__main__":
    sys.exit(main())
