"""face_only_mask on Wan 2.2 5B in ComfyUI's own code: the DiT is told the real noise level.

ComfyUI's WAN22 model (Wan 2.2 TI2V 5B) averages a noise mask into one timestep per latent frame
(model_base.WAN22.process_timestep), so a spatial face ellipse told the DiT ~0.6-0.7 x the
timestep while the face carried full noise. wan22_noise_level.py runs in COMFYUI_PYTHON with tiny
random Wan DiTs loaded by ComfyUI (48 channels -> WAN22, 16 -> WAN21), samples a face sequence
through FUSE with face_only_mask and records what process_timestep hands the DiT.

What this proves: for the 5B model class FUSE's face-only sampling gives the DiT exactly the
sampler's timestep on every frame of every step while the crop border keeps its latent, and the
host's own averaging is real (the control, the old way, gives less); Wan 2.1 keeps the host's
spatial mask. It does not run the 1.4 GB Wan 2.2 VAE (a fixed latent stands in for the encode).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PACK_ROOT = HERE.parents[1]


@pytest.fixture(scope="module")
def noise_levels(tmp_path_factory) -> dict:
    comfyui_path = os.environ.get("COMFYUI_PATH")
    if not comfyui_path:
        pytest.skip("COMFYUI_PATH is not set: set it (and COMFYUI_PYTHON) to run the real-ComfyUI tests; see tests/integration/README.md")
    package_dir = tmp_path_factory.mktemp("pack")
    (package_dir / "comfyui_fuse").symlink_to(PACK_ROOT, target_is_directory=True)
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(package_dir), os.environ.get("PYTHONPATH")])), "OMP_NUM_THREADS": "1"}
    command = [python, str(HERE / "wan22_noise_level.py"), "--comfyui", comfyui_path]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment, cwd=str(package_dir))
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_comfyui_loads_the_48_channel_dit_as_wan22_and_fuse_sees_it_averages_masks(noise_levels):
    assert noise_levels["wan22_5b"]["model_class"] == "WAN22" and noise_levels["wan21"]["model_class"] == "WAN21"
    assert noise_levels["wan22_5b"]["takes_spatial_noise_mask"] is False
    assert noise_levels["wan21"]["takes_spatial_noise_mask"] is True


def test_the_host_really_folds_a_spatial_mask_into_the_wan22_timestep(noise_levels):
    ratios = noise_levels["wan22_5b"]["host_mask_timestep_ratios"]
    assert ratios and max(ratios) < 0.9, f"control: a spatial mask handed to ComfyUI's WAN22 gives the DiT {max(ratios):.3f} x the timestep"


@pytest.mark.parametrize("model", ["wan22_5b", "wan21"])
def test_fuse_face_only_sampling_gives_the_dit_the_real_timestep(noise_levels, model):
    measured = noise_levels[model]
    ratios = measured["fuse_timestep_ratios"]
    assert ratios, "process_timestep was never called: did sampling run?"
    assert min(ratios) == pytest.approx(1.0, abs=1e-6) and max(ratios) == pytest.approx(1.0, abs=1e-6), (
        f"{model}: the DiT was told {min(ratios):.3f}..{max(ratios):.3f} x the sampler's timestep"
    )
    assert measured["border_change"] < 1e-4, f"{model}: outside the face ellipse the latent changed by {measured['border_change']:.2e}"
    assert measured["centre_change"] > 0.1, f"{model}: inside the face the latent must be resampled"
