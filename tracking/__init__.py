"""Host-independent tracking: types, association, track life cycle, gap filling, smoothing."""
