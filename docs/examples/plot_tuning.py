"""
Tuning in turn: a per-frame PCA pipeline tuned with Optuna
==========================================================

The paper tunes one hyper-parameter at a time on the validation set: the
learning rate, then SAM's rho, then the weight decay, then mixup's alpha, each
time keeping the best values found so far.  This example does the same on
synthetic SoccerNet-like videos with
:func:`sk_spotting.model_selection.tune_in_turn`, for a pipeline that reduces
the features with a per-frame PCA before the spotter, with median pruning of
the trials that fall behind, and draws every trial.

The model and the data are tiny so that the example runs in well under a
minute on 2 CPU cores: the scores are noisy and the figure shows the
mechanics, not good values for SoccerNet.  ``python plot_tuning.py out.png``
also writes the figure to ``out.png``.
"""

# %%
# Data and pipeline
# -----------------
# Six 2-minute videos of 32 features: four to train, two to validate.  The
# PCA keeps 8 components per frame; the spotter is a small u-net trained for
# a few epochs, scored on the validation videos every epoch.
import sys

import matplotlib.pyplot as plt
import optuna
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from sk_spotting import DenseAnchorSpotter
from sk_spotting.datasets import make_spotting_data
from sk_spotting.model_selection import tune_in_turn
from sk_spotting.plotting import plot_tuning_trials
from sk_spotting.preprocessing import PerFrame

CLASSES = ["pass", "shot", "foul", "corner"]
X, y = make_spotting_data(
    6, n_features=32, minutes=2.0, classes=CLASSES, random_state=0
)
pipe = make_pipeline(
    PerFrame(PCA(8, random_state=0)),
    DenseAnchorSpotter(
        chunk_duration=16.0,
        unet_levels=2,
        epochs=4,
        chunks_per_epoch=32,
        batch_size=16,
        validation_interval=1,
        classes=CLASSES,
        random_state=0,
    ),
)

# %%
# Tuning in turn
# --------------
# Four studies of four trials; each trial reports its validation average-mAP
# after every epoch of each network, and the median pruner stops a trial whose
# score is below the median of the finished trials at the same step.
optuna.logging.set_verbosity(optuna.logging.WARNING)
result = tune_in_turn(
    pipe,
    X[:4],
    y[:4],
    X_valid=X[4:],
    y_valid=y[4:],
    n_trials_per_param=4,
    pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
    random_state=0,
)
print(result.trials[["param", "number", "state", "value", "carried"]].to_string())
print("best:", result.best_params)
print("refitted, on the validation videos:", result.best_estimator.score(X[4:], y[4:]))

# %%
# Every trial
# -----------
# One panel per study, in tuning order, drawn by
# :func:`sk_spotting.plotting.plot_tuning_trials`: complete trials at their
# validation score, pruned trials at the last score they reported, the trial
# carried over from the previous study (the current value, already scored)
# and the value kept for the next studies.  SAM's rho and mixup's alpha are
# searched over "0 or log-uniform", hence their symmetric-log axes.
keys = list(result.best_params)
figure, axes = plt.subplots(1, len(keys), figsize=(11, 3.2), sharey=True)
for i, (ax, key) in enumerate(zip(axes, keys)):
    plot_tuning_trials(result, key, ax=ax, title=f"{i + 1}. {key.split('__')[-1]}")
    ax.set_ylabel("")
axes[0].set_ylabel("validation average-mAP (loose)")
axes[-1].legend(fontsize=7, loc="lower right")
figure.suptitle("PerFrame(PCA(8)) + DenseAnchorSpotter, tuned in turn")
figure.tight_layout()
if len(sys.argv) > 1:
    figure.savefig(sys.argv[1], dpi=80)
plt.show()
