"""A test-only ComfyUI node, never part of the pack: zero text conditioning for Wan models.

Wan's text encoder (UMT5-XXL, 5.7 B parameters) cannot be made tiny, so real-ComfyUI tests build
their CONDITIONING with this node instead of CLIPLoader + CLIPTextEncode. conftest.py copies this
file into the test ComfyUI's temporary custom_nodes folder (as fuse_test_nodes/__init__.py)
before the server starts; no other ComfyUI ever sees it.
"""

import torch

WAN_TEXT_DIM = 4096  # UMT5-XXL's hidden size: what Wan's cross-attention expects


class FUSETestZeroConditioning:
    DESCRIPTION = "Test only: CONDITIONING of zeros [1, length, 4096], standing in for Wan's UMT5-XXL text encoder."
    CATEGORY = "testing"
    FUNCTION = "build"
    RETURN_TYPES = ("CONDITIONING",)
    RETURN_NAMES = ("conditioning",)
    OUTPUT_TOOLTIPS = ("Zero text embeddings [1, length, 4096] with no extra keys.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"length": ("INT", {"default": 8, "min": 1, "max": 512, "tooltip": "Number of text tokens."})}}

    def build(self, length):
        return ([[torch.zeros(1, int(length), WAN_TEXT_DIM), {}]],)


NODE_CLASS_MAPPINGS = {"FUSETestZeroConditioning": FUSETestZeroConditioning}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSETestZeroConditioning": "FUSE Test Zero Conditioning"}
