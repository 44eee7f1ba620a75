"""Edge video: model loading, the shared detector, camera capture and the per-camera pipeline."""
