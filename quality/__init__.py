"""Quality checks of processed faces: lip sync, identity, flicker, jitter, seams; report, plot, fallback."""
