"""
Tuning in turn: a per-frame PCA pipeline tuned with Optuna
==========================================================

The paper tunes one hyper-parameter at a time on the validation set: the
learning rate, then SAM's rho, then the weight decay, then mixup's alpha, each
time keeping the best values found so far.  This example does the same on
synthetic SoccerNet-like videos with :func:`sk_spotting.model_selection.tune_in_turn`,
for a pipeline that reduces the features with a per-frame PCA before the
spotter, with median pruning of the trials that fall behind, and draws every
trial.  It writes ``docs/images/tuning_trials.png``.

Run ``python docs/examples/plot_tuning.py`` (a few minutes on 2 CPU cores).
"""

# %%
# Data and pipeline
# -----------------
# Eight 4-minute videos of 64 features: six to train, two to validate.  The
# PCA keeps 16 components per frame; the spotter is a small u-net.
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from sk_spotting import DenseAnchorSpotter  # noqa: E402
from sk_spotting.datasets import make_spotting_data  # noqa: E402
from sk_spotting.model_selection import tune_in_turn  # noqa: E402
from sk_spotting.plotting import plot_tuning_trials  # noqa: E402
from sk_spotting.preprocessing import PerFrame  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "images" / "tuning_trials.png"
CLASSES = ["pass", "shot", "foul", "corner"]


def build():
    X, y = make_spotting_data(
        8, n_features=64, minutes=4.0, classes=CLASSES, random_state=0
    )
    pipe = make_pipeline(
        PerFrame(PCA(16, random_state=0)),
        DenseAnchorSpotter(
            chunk_duration=32.0,
            unet_levels=3,
            epochs=8,
            chunks_per_epoch=64,
            batch_size=16,
            validation_interval=2,
            classes=CLASSES,
            random_state=0,
        ),
    )
    return X, y, pipe


# %%
# Tuning in turn
# --------------
# Four studies of six trials; each trial reports its validation average-mAP
# every two epochs of each network, and the median pruner stops a trial whose
# score is below the median of the finished trials at the same step.
def tune(X, y, pipe):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return tune_in_turn(
        pipe,
        X[:6],
        y[:6],
        X_valid=X[6:],
        y_valid=y[6:],
        n_trials_per_param=6,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
        random_state=0,
    )


# %%
# Every trial
# -----------
# One panel per study, in tuning order, drawn by
# :func:`sk_spotting.plotting.plot_tuning_trials`: complete trials at their
# validation score, pruned trials at the last score they reported, the trial
# carried over from the previous study (the current value, already scored)
# and the value kept for the next studies.  SAM's rho and mixup's alpha are
# searched over "0 or log-uniform", hence their symmetric-log axes.
def plot(result):
    keys = list(result.best_params)
    figure, axes = plt.subplots(1, len(keys), figsize=(11, 3.2), sharey=True)
    for i, (ax, key) in enumerate(zip(axes, keys)):
        plot_tuning_trials(result, key, ax=ax, title=f"{i + 1}. {key.split('__')[-1]}")
        ax.set_ylabel("")
    axes[0].set_ylabel("validation average-mAP (loose)")
    axes[-1].legend(fontsize=7, loc="lower right")
    figure.suptitle("PerFrame(PCA(16)) + DenseAnchorSpotter, tuned in turn")
    figure.tight_layout()
    return figure


if __name__ == "__main__":
    X, y, pipe = build()
    result = tune(X, y, pipe)
    print(result.trials[["param", "number", "state", "value", "carried"]].to_string())
    print("best:", result.best_params)
    print(
        "refitted, on the validation videos:", result.best_estimator.score(X[6:], y[6:])
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    plot(result).savefig(OUT, dpi=80)
    print(f"wrote {OUT}")
