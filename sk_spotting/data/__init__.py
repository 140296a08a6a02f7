"""Per-video sequences in: the data contract, event conversions, chunking."""

from ._events import dense_to_events, events_to_dense, frame_to_time, time_to_frame
from ._validation import (
    EVENT_COLUMNS,
    VISIBILITY_VALUES,
    check_events,
    check_frame_rate,
    check_videos,
    check_videos_and_events,
    video_duration,
)
from ._validation_set import ValidationSet

__all__ = [
    "EVENT_COLUMNS",
    "VISIBILITY_VALUES",
    "ValidationSet",
    "check_events",
    "check_frame_rate",
    "check_videos",
    "check_videos_and_events",
    "dense_to_events",
    "events_to_dense",
    "frame_to_time",
    "time_to_frame",
    "video_duration",
]
