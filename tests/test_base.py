"""SpotterMixin's tags cooperate with other mixins."""

from sklearn.base import BaseEstimator

from sk_spotting.base import SpotterMixin


class NonDeterministicMixin:
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags


class Composed(SpotterMixin, NonDeterministicMixin, BaseEstimator):
    pass


def test_spotter_tags_keep_what_later_mixins_set():
    tags = Composed().__sklearn_tags__()
    assert tags.non_deterministic  # lost when SpotterMixin skipped super()
    assert tags.estimator_type == "spotter"
    assert tags.input_tags.two_d_array is False
