"""optuna_integration.OptunaSearchCV with spotters, pipelines and our scorers."""

import numpy as np
import pytest
from optuna.distributions import FloatDistribution
from optuna_integration import OptunaSearchCV
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_spotting.metrics import tight_average_map_scorer
from sk_spotting.preprocessing import PerFrame

from .conftest import tiny_spotter


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
# optuna_integration 5.0 reports CV scores through the deprecated optuna.terminator
@pytest.mark.filterwarnings("ignore:`optuna.terminator` module:FutureWarning")
# optuna_integration's OptunaSearchCV still defines _more_tags, which
# scikit-learn 1.6 warns about (FutureWarning in 1.6.0, DeprecationWarning later)
@pytest.mark.filterwarnings("ignore:The OptunaSearchCV or classes from which it")
def test_optuna_search_cv_on_a_spotting_pipeline(videos):
    X, y = videos
    pipe = make_pipeline(
        PerFrame(StandardScaler()),
        tiny_spotter(epochs=1, chunks_per_epoch=8, use_displacement=False),
    )
    search = OptunaSearchCV(
        pipe,
        {"denseanchorspotter__learning_rate": FloatDistribution(1e-4, 1e-2, log=True)},
        cv=GroupKFold(2),
        scoring=tight_average_map_scorer,
        n_trials=2,
        random_state=0,
        error_score="raise",
    )
    search.fit(X[:4], y[:4], groups=[0, 0, 1, 1])
    assert search.n_trials_ == 2
    assert 1e-4 <= search.best_params_["denseanchorspotter__learning_rate"] <= 1e-2
    table = search.trials_dataframe()
    assert np.isfinite(table["value"]).all()
    assert 0.0 <= search.score(X[4:], y[4:]) <= 1.0  # the refitted pipeline
    assert len(search.predict(X[4:])) == 2
