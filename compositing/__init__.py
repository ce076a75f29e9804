"""Host-independent compositing: crop geometry, warps, masks, blending, temporal windows."""
