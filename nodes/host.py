"""The only module that touches ComfyUI.

Every import of the host (folder_paths, comfy.utils, comfy.model_management, comfy.sample) is
made lazily inside a function, so every node module imports and runs in tests and on the command
line without ComfyUI. Outside ComfyUI, progress is silent, interrupts never fire, the device is
the CPU and the model folders are a models/store.py ModelStore below FUSE_MODELS_DIR (default
./models).

Tests replace functions of this module (monkeypatch) to act as a fake host.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from contextlib import contextmanager
from typing import Callable

from ..models import store
from ..models.store import MODEL_FOLDERS, MODEL_SUBDIRS

log = logging.getLogger(__name__)


def in_comfyui() -> bool:
    """True when running inside a ComfyUI process (folder_paths is importable)."""
    return importlib.util.find_spec("folder_paths") is not None


def register_model_folders() -> None:
    """Register FUSE's model folders (models/store.py) with ComfyUI, with explicit extensions.

    A folder another pack already registered keeps its paths; we add ours and the extensions we
    need. add_model_folder_path on a new name sets NO extension filter, so we set the pair ourselves.
    """
    if not in_comfyui():
        return
    import folder_paths

    for name, extensions in MODEL_FOLDERS.items():
        default_dir = os.path.join(folder_paths.models_dir, MODEL_SUBDIRS[name])
        paths, known_extensions = folder_paths.folder_names_and_paths.get(name, ([], set()))
        paths = list(paths)
        if default_dir not in paths:
            paths.append(default_dir)
        folder_paths.folder_names_and_paths[name] = (paths, set(known_extensions) | set(extensions))


class ComfyModelFolders:
    """The model folders as ComfyUI sees them (folder_paths): the store.ModelFolders interface."""

    def dirs(self, folder: str) -> list[str]:
        import folder_paths

        return list(folder_paths.folder_names_and_paths.get(folder, ([],))[0])

    def files(self, folder: str) -> list[str]:
        import folder_paths

        try:
            return list(folder_paths.get_filename_list(folder))
        except KeyError:
            return []

    def path(self, folder: str, name: str) -> str:
        import folder_paths

        store.check_model_name(folder, name)  # a name that could leave the folder never reaches folder_paths
        path = folder_paths.get_full_path(folder, name)
        if path is None:
            raise FileNotFoundError(f"model file {name!r} was not found in {folder} ({', '.join(self.dirs(folder))}); put it there and refresh the node")
        return path


def model_store():
    """The model folders every model family reads (store.ModelFolders): ComfyUI's inside ComfyUI,
    else a store.ModelStore below FUSE_MODELS_DIR (default ./models), read when called."""
    return ComfyModelFolders() if in_comfyui() else store.ModelStore()


def model_files(folder: str) -> list[str]:
    """Relative file names in a model folder."""
    return model_store().files(folder)


def model_path(folder: str, name: str) -> str:
    """Absolute path of a model file; ValueError for a name that leaves the folder,
    FileNotFoundError naming the folder when it is missing."""
    return model_store().path(folder, name)


def model_folder_dirs(folder: str) -> list[str]:
    """The directories a model folder reads from."""
    return model_store().dirs(folder)


def is_changed(*fingerprints):
    """An IS_CHANGED value from fingerprints of what a node's inputs resolve to (text that changes
    when they do, e.g. registry.FileModelRegistry.fingerprint). ComfyUI calls IS_CHANGED with the
    widget values and None for linked inputs; a None fingerprint (a value it cannot see) gives
    NaN, which never equals itself, so the node runs every time."""
    if any(fingerprint is None for fingerprint in fingerprints):
        return float("nan")
    return "\n".join(fingerprints)


class _SilentProgress:
    def __init__(self, total: int) -> None:
        self.total = total
        self.current = 0

    def update(self, count: int = 1) -> None:
        self.current += count


def progress(total: int):
    """A progress bar with update(n): ComfyUI's ProgressBar (also an interrupt point) or silent."""
    if in_comfyui():
        import comfy.utils

        return comfy.utils.ProgressBar(max(int(total), 1))
    return _SilentProgress(total)


def progress_callback(total: int) -> Callable[[int], None]:
    """A callable(n) advancing a progress bar of `total` steps; core functions take this shape."""
    bar = progress(total)
    return bar.update


def check_interrupt() -> None:
    """Raise ComfyUI's interrupt exception when the user pressed Cancel; no-op outside ComfyUI."""
    if in_comfyui():
        import comfy.model_management

        comfy.model_management.throw_exception_if_processing_interrupted()


def torch_device():
    """The device heavy work runs on (ComfyUI's choice, else CPU)."""
    import torch

    if in_comfyui():
        import comfy.model_management

        return comfy.model_management.get_torch_device()
    return torch.device("cpu")


def intermediate_device():
    """The device node outputs live on (CPU in ComfyUI's default configuration)."""
    import torch

    if in_comfyui():
        import comfy.model_management

        return comfy.model_management.intermediate_device()
    return torch.device("cpu")


# Sampler and scheduler names when ComfyUI is absent (tests, command line); inside ComfyUI the
# lists come from comfy.samplers.KSampler, so new samplers appear without a FUSE release.
FALLBACK_SAMPLERS = ("euler", "euler_ancestral", "heun", "dpm_2", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "ddim", "uni_pc", "lcm")
FALLBACK_SCHEDULERS = ("simple", "normal", "karras", "exponential", "sgm_uniform", "ddim_uniform", "beta")


def sampler_names() -> list[str]:
    """The sampler combo of the KSampler node (a short static list outside ComfyUI)."""
    if in_comfyui():
        import comfy.samplers

        return list(comfy.samplers.KSampler.SAMPLERS)
    return list(FALLBACK_SAMPLERS)


def scheduler_names() -> list[str]:
    """The scheduler combo of the KSampler node (a short static list outside ComfyUI)."""
    if in_comfyui():
        import comfy.samplers

        return list(comfy.samplers.KSampler.SCHEDULERS)
    return list(FALLBACK_SCHEDULERS)


def prepare_noise(latent, seed: int):
    """Noise for a latent from a seed, exactly as the KSampler node makes it (CPU, latent's dtype)."""
    if in_comfyui():
        import comfy.sample

        return comfy.sample.prepare_noise(latent, int(seed))
    import torch

    generator = torch.manual_seed(int(seed))
    return torch.randn(latent.size(), dtype=latent.dtype, layout=latent.layout, generator=generator, device="cpu")


def vae_facts(vae) -> dict:
    """What a VAE does to pixels: spatial_compression (8 for Wan 2.1, 16 for Wan 2.2 5B),
    temporal_compression (4 for Wan, 1 for image VAEs), latent_dim (2 image, 3 video) and
    latent_channels (16 / 48 for Wan). Read from the VAE, never assumed."""
    temporal = vae.temporal_compression_decode()
    return {
        "spatial_compression": int(vae.spacial_compression_encode()),
        "temporal_compression": int(temporal) if temporal else 1,
        "latent_dim": int(getattr(vae, "latent_dim", 2)),
        "latent_channels": int(getattr(vae, "latent_channels", 0)),
    }


@contextmanager
def interrupt_points(vae):
    """Inside the block, check_interrupt() runs before every layer of the VAE's network.

    One vae.encode / vae.decode call of a video VAE is a whole clip (Wan on the CPU: tens of
    seconds), and cutting the clip up would change the latent (the Wan VAE is causal in time:
    each 4-frame chunk reads the feature cache of the chunks before it). So the clip stays one
    call and Cancel is polled between the network's own pieces: each layer of each temporal chunk.
    The latent is bit-identical; the hooks are removed when the block ends. A VAE without a torch
    network (vae.first_stage_model) runs as it is.
    """
    import torch

    network = getattr(vae, "first_stage_model", None)
    if not isinstance(network, torch.nn.Module):
        yield
        return
    layers = [module for module in network.modules() if next(module.children(), None) is None]
    handles = [layer.register_forward_pre_hook(lambda module, args: check_interrupt()) for layer in layers]
    try:
        yield
    except BaseException:
        clear_cache = getattr(network, "clear_cache", None)
        if callable(clear_cache):  # the Wan 2.2 VAE keeps its chunk cache on itself until its next call
            clear_cache()
        raise
    finally:
        for handle in handles:
            handle.remove()


def vae_encode(vae, pixels):
    """VAEEncode: IMAGE [F,H,W,3] -> latent. A video VAE treats the batch as ONE clip -> [1,C,T,h,w].
    Cancel is honoured inside the call (interrupt_points)."""
    with interrupt_points(vae):
        return vae.encode(pixels[..., :3])


def vae_decode(vae, latent):
    """VAEDecode without the flattening: [B,C,T,h,w] -> [B,T,H,W,3] (video), [B,C,h,w] -> [B,H,W,3].
    Cancel is honoured inside the call (interrupt_points)."""
    with interrupt_points(vae):
        return vae.decode(latent)


def model_spatial_patch(model) -> int:
    """The latent patch size the diffusion model groups pixels by (Wan DiT: 2), 1 when it has none."""
    try:
        patch = model.get_model_object("diffusion_model.patch_size")
    except Exception:  # noqa: BLE001 - any model without the attribute (UNets, fakes) has no patch grid
        return 1
    if isinstance(patch, (tuple, list)):
        patch = patch[-1]
    return int(patch) if patch else 1


def model_takes_spatial_noise_mask(model) -> bool:
    """False when the model turns a noise mask into one timestep per latent frame.

    ComfyUI's WAN22 (Wan 2.2 TI2V 5B) passes the mask to its process_timestep, which averages it
    over channels and space: a face-only ellipse would tell the DiT about 0.6 x the real noise
    level of the face. Asked by behaviour, not by class: the model's process_timestep is given a
    mask that denoises half of one frame; a timestep strictly between 0 and 1 means averaging.
    Models without process_timestep (fakes, other hosts) keep the host's mask handling.
    """
    import torch

    process_timestep = getattr(getattr(model, "model", None), "process_timestep", None)
    if process_timestep is None:
        return True
    mask = torch.tensor([1.0, 0.0]).reshape(1, 1, 1, 1, 2)  # [B,C,T,h,w]: one frame, half of it denoised
    try:
        timesteps = torch.as_tensor(process_timestep(torch.ones(1), x=mask, denoise_mask=mask)).float()
    except Exception:  # noqa: BLE001 - a model whose timestep needs other inputs does not average a 1x2 mask
        return True
    return not bool(((timesteps > 0) & (timesteps < 1)).any())


def check_latent_channels(model, latent) -> None:
    """ValueError unless the latent has the channel count of the model's latent format."""
    expected = model.get_model_object("latent_format").latent_channels
    if expected != latent.shape[1]:
        raise ValueError(
            f"vae must encode to the model's latent space ({expected} channels), but got {latent.shape[1]} channels; "
            "use the VAE that belongs to the model (Wan 2.2 5B: wan2.2_vae; Wan 2.1 and Wan 2.2 A14B: wan_2.1_vae)"
        )


def sample_latent(
    model,
    latent,
    noise_seeds,
    *,
    add_noise: bool = True,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    positive,
    negative,
    denoise: float = 1.0,
    start_step: int | None = None,
    last_step: int | None = None,
    force_full_denoise: bool = False,
    noise_mask=None,
    on_step: Callable[[int], None] | None = None,
):
    """Sample a latent batch like the KSampler / KSamplerAdvanced nodes.

    latent [B,C,h,w] or [B,C,T,h,w] in raw VAE space; noise_seeds: one seed per batch row, row i's
    noise is prepare_noise(latent[i:i+1], noise_seeds[i]) so a row's result never depends on what
    else is in the batch; add_noise False uses zero noise (KSamplerAdvanced add_noise disable).
    start_step / last_step / force_full_denoise as KSamplerAdvanced (force_full_denoise False =
    return with leftover noise). noise_mask: 1 = denoise, resized by the host to the latent.
    on_step(1) after every sampler step (a progress bar update, which is also the interrupt point).
    Returns the sampled latent on the intermediate device.
    """
    import comfy.sample
    import comfy.utils
    import torch

    latent = comfy.sample.fix_empty_latent_channels(model, latent)
    check_latent_channels(model, latent)
    if len(noise_seeds) != latent.shape[0]:
        raise ValueError(f"noise_seeds must hold one seed per latent row ({latent.shape[0]}), but got {len(noise_seeds)}")
    if add_noise:
        noise = torch.cat([comfy.sample.prepare_noise(latent[row : row + 1], int(seed)) for row, seed in enumerate(noise_seeds)])
    else:
        noise = torch.zeros(latent.size(), dtype=latent.dtype, layout=latent.layout, device="cpu")

    def callback(step, x0, x, total_steps):
        if on_step is not None:
            on_step(1)

    return comfy.sample.sample(
        model, noise, steps, cfg, sampler_name, scheduler, positive, negative, latent,
        denoise=denoise, disable_noise=not add_noise, start_step=start_step, last_step=last_step,
        force_full_denoise=force_full_denoise, noise_mask=noise_mask, callback=callback,
        disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=int(noise_seeds[0]),
    )


def video_file(video) -> str:
    """The file behind a ComfyUI VIDEO (LoadVideo's VideoFromFile): a path FUSE can stream from.

    A VIDEO backed by bytes in memory (an upload not saved to disk) is written once to ComfyUI's
    temp folder; a VIDEO made of components (an IMAGE batch) has no file and is refused.
    """
    if isinstance(video, (str, os.PathLike)):
        return os.fspath(video)
    source = getattr(video, "get_stream_source", None)
    if source is None:
        raise TypeError(f"video must be a VIDEO (from Load Video), but got {type(video).__name__}")
    try:
        stream = source()
    except NotImplementedError:
        stream = None
    if isinstance(stream, (str, os.PathLike)):
        return os.fspath(stream)
    if hasattr(stream, "getbuffer"):
        import hashlib

        data = stream.getbuffer()
        name = f"fuse_video_{hashlib.sha256(data).hexdigest()[:16]}.mp4"
        path = os.path.join(job_directory(), name)
        if not os.path.exists(path):
            partial = path + ".partial"
            with open(partial, "wb") as handle:
                handle.write(data)
            os.replace(partial, path)
        return path
    raise ValueError(
        "video must be backed by a file (Load Video gives one); this VIDEO was built from frames, so connect its IMAGE "
        "batch to the IMAGE nodes instead, or save it with Save Video and load that file"
    )


def video_output(path: str):
    """A ComfyUI VIDEO for a file FUSE wrote (Save Video then copies its streams: fps stays exact)."""
    if in_comfyui():
        from comfy_api.input_impl import VideoFromFile

        return VideoFromFile(path)
    return path


def job_directory() -> str:
    """Where the video path keeps its jobs and outputs: ComfyUI's output/fuse (it survives restarts,
    so an interrupted job resumes), or ./fuse_jobs outside ComfyUI."""
    if in_comfyui():
        import folder_paths

        base = os.path.join(folder_paths.get_output_directory(), "fuse")
    else:
        base = os.path.abspath("fuse_jobs")
    os.makedirs(base, exist_ok=True)
    return base
