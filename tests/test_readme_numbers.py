"""The numbers the README quotes are the numbers the demo prints.

``benchmarks/record_demo.py`` runs ``sk-spotting demo`` (the README's first
command) and records what it printed in ``docs/demo_scores.json``, with the
demo configuration.  These tests check that the configuration is still the
demo's (a changed demo needs a new recording) and that every page quoting
the demo's scores quotes exactly the recorded ones.
"""

import json
from pathlib import Path

import pytest

from sk_spotting.cli._demo import DEMO_CONFIG

ROOT = Path(__file__).resolve().parents[1]
RECORD = json.loads((ROOT / "docs" / "demo_scores.json").read_text())


def _percent(key, digits):
    return f"{100 * RECORD['scores'][key]:.{digits}f}"


def test_the_recording_is_of_the_current_demo_configuration():
    assert RECORD["config"] == json.loads(json.dumps(DEMO_CONFIG)), (
        "DEMO_CONFIG changed: run python benchmarks/record_demo.py and update "
        "the numbers quoted in README.md, docs/benchmarks.md and RESULTS.md"
    )


def _minutes(seconds):
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s"


@pytest.mark.parametrize(
    "page, texts",
    [
        (
            "README.md",
            lambda: [
                f"{_percent('loose_with_displacement', 1)} / "
                f"{_percent('tight_with_displacement', 1)} with the displacement "
                f"network and {_percent('loose_without_displacement', 1)} / "
                f"{_percent('tight_without_displacement', 1)} without it",
                f"`sk-spotting demo --out\ndemo_output`, "
                f"{_minutes(RECORD['wall_seconds'])})",
            ],
        ),
        (
            "docs/benchmarks.md",
            lambda: [
                f"| with displacement | {_percent('loose_with_displacement', 2)} | "
                f"{_percent('tight_with_displacement', 2)} |",
                f"| without displacement | {_percent('loose_without_displacement', 2)} "
                f"| {_percent('tight_without_displacement', 2)} |",
                f"| run time | {_minutes(RECORD['wall_seconds'])} wall",
            ],
        ),
        (
            "benchmarks/RESULTS.md",
            lambda: [
                f"{_percent('loose_with_displacement', 1)} / "
                f"{_percent('tight_with_displacement', 1)} with displacement and "
                f"{_percent('loose_without_displacement', 1)} / "
                f"{_percent('tight_without_displacement', 1)} without",
            ],
        ),
    ],
)
def test_pages_quote_the_recorded_demo(page, texts):
    text = " ".join((ROOT / page).read_text(encoding="utf-8").split())
    for expected in texts():
        assert " ".join(expected.split()) in text, f"{page} should say {expected!r}"
