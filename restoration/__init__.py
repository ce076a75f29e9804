"""Face restoration of face sequences: the restorer pass and temporal stabilisation."""
