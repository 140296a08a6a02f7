"""The tiny spotter configuration that the tests share: seconds per fit."""

TINY = {
    "chunk_duration": 16.0,
    "unet_levels": 2,
    "epochs": 2,
    "chunks_per_epoch": 16,
    "batch_size": 8,
    "random_state": 0,
}
"""16-s chunks, a 2-level u-net, 2 epochs of 2 steps of 8 chunks."""
