"""``sk-spotting demo --quick``: the README's first command, in miniature."""

import json
import zipfile

import pytest

from sk_spotting.cli import main
from sk_spotting.cli._demo import DEMO_CONFIG, QUICK_CONFIG

pytestmark = pytest.mark.filterwarnings(
    "ignore:The given NumPy array is not writable:UserWarning"
)


def test_quick_demo_writes_everything(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for text in (
        "with displacement",
        "without displacement",
        "loose",
        "tight",
        "AP per class",
        "Yellow->red card",
    ):
        assert text in printed
    scores = json.loads((out / "scores.json").read_text())
    assert sorted(scores) == sorted(
        f"{t}_{w}_displacement" for t in ("loose", "tight") for w in ("with", "without")
    )
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert (out / "map_vs_tolerance.png").read_bytes()[:4] == b"\x89PNG"
    # one test game: the report says why it draws no bootstrap interval
    page = (out / "report" / "index.html").read_text()
    assert "No bootstrap interval: it resamples games, and there is only one" in page
    assert (out / "model.safetensors").is_file()
    games = [p.parent for p in (out / "results").rglob("results_spotting.json")]
    assert len(games) == QUICK_CONFIG["n_test_games"]
    with zipfile.ZipFile(out / "submission.zip") as zf:
        assert len(zf.namelist()) == len(games)

    # The written test games and results score what the demo printed.
    args = [
        "evaluate",
        str(out / "data"),
        str(out / "results"),
        "--json",
        "--features",
        "synthetic",
    ]
    assert main(args) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["average_map"] == scores["loose_with_displacement"]


def test_demo_configurations_have_the_same_keys():
    assert sorted(DEMO_CONFIG) == sorted(QUICK_CONFIG)
    assert sorted(DEMO_CONFIG["estimator"]) == sorted(QUICK_CONFIG["estimator"])


def test_demo_fixes_and_restores_its_threads(tmp_path, monkeypatch):
    import torch
    from threadpoolctl import threadpool_info

    from sk_spotting.cli import _demo

    seen = {}

    def spy(out, config, verbose):
        seen["torch"] = torch.get_num_threads()
        seen["blas"] = {info["num_threads"] for info in threadpool_info()}
        return {}

    monkeypatch.setattr(_demo, "_run_demo", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _demo.run_demo(tmp_path, {**QUICK_CONFIG, "n_threads": 1}, verbose=0)
        assert seen["torch"] == 1
        assert seen["blas"] <= {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
