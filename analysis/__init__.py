"""Face analysis on tracks: identity, head pose, quality, syncability, the detection report and face selection."""
