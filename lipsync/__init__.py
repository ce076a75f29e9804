"""Host-independent lipsync: audio decoding, features, frame/audio alignment, backends."""
