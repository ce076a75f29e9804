"""Who speaks when: speech activity, audio-visual sync scores per face, speaker segments, stems."""
