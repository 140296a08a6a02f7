"""A fit interrupted by a signal resumes from its checkpoints to the full epochs."""

import signal
import subprocess
import time

import pytest
import torch

from sk_spotting import load_spotter
from sk_spotting.cli import main

from .conftest import tiny_set

pytestmark = pytest.mark.filterwarnings(
    "ignore:The given NumPy array is not writable:UserWarning"
)

EPOCHS = 12


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)
def test_interrupted_fit_resumes_to_the_same_epochs(
    roots, tmp_path, console_script, signum
):
    script, env = console_script
    model = tmp_path / "model.safetensors"
    checkpoints = tmp_path / "checkpoints"
    args = [
        "fit",
        str(roots / "train"),
        "--out",
        str(model),
        "--checkpoint-dir",
        str(checkpoints),
        "--quiet",
        *tiny_set(epochs=EPOCHS, validation_interval=1),
    ]
    process = subprocess.Popen(
        [script, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (checkpoints / "confidence.pt").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.01)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "interrupted" in err and "--resume" in err
    assert not model.exists()
    saved = torch.load(checkpoints / "confidence.pt", weights_only=True)
    assert not saved["complete"] and 1 <= len(saved["history"]) < EPOCHS

    assert main([*args, "--resume"]) == 0
    fitted = load_spotter(model)
    assert len(fitted.confidence_net_.history) == EPOCHS
    assert len(fitted.displacement_net_.history) == EPOCHS
