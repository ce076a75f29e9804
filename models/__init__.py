"""Host-independent model registries (one per family) and safe loading."""
