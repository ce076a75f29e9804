"""Host-independent face sampling: face crops through a VAE and a diffusion sampler given as callables.

The host's VAE and sampler arrive wrapped in VaeCodec and LatentSampler (sampling/backend.py), so
this package runs in tests with a fake VAE and a fake sampler and never imports ComfyUI.
"""
