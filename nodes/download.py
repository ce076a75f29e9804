"""Download node: fetch one known model file into its ComfyUI model folder, only when confirmed."""

from __future__ import annotations

from ..models.downloads import CATALOGUE, catalogue_entry, describe_download, download_model, is_installed
from . import host


class FUSEDownloadModel:
    DESCRIPTION = (
        "Downloads one model file FUSE knows (YOLO face, InsightFace buffalo_l, GFPGAN v1.4, CodeFormer, Wav2Lip) "
        "into the ComfyUI model folder FUSE reads it from. Nothing is downloaded unless confirm is on: with confirm "
        "off the node only reports what it would fetch, from where, how big and under which licence. The file is "
        "checked against a pinned size and sha256 and moved into place only when it matches; a stopped download "
        "resumes on the next run. Several of these models are for NON-COMMERCIAL use only (see the report). "
        "Press R (refresh) afterwards so the model lists show the new file."
    )
    CATEGORY = "FUSE/models"
    FUNCTION = "download"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("report",)
    OUTPUT_TOOLTIPS = ("What was (or, with confirm off, would be) downloaded, where to, and the model's licence.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "name": (list(CATALOGUE), {"tooltip": "The model to download: face_yolov8m / face_yolov8n (ultralytics/bbox), buffalo_l (insightface), GFPGANv1.4 and codeformer (facerestore_models), wav2lip and wav2lip_gan (lipsync), syncnet_v2 (syncnet: the lip-sync scores of FUSE Quality Check)."}),
                "confirm": ("BOOLEAN", {"default": False, "tooltip": "Off: only report what would be downloaded. On: download it now (hundreds of MB for most models)."}),
            },
        }

    @classmethod
    def IS_CHANGED(cls, name, confirm):
        return float("nan")  # always look again: the folder may have changed since the last run

    def download(self, name, confirm):
        entry = catalogue_entry(name)
        directory = host.model_folder_dirs(entry.folder)[0]
        if is_installed(entry, host.model_files(entry.folder)):
            report = f"{name} is already installed in {entry.folder}; nothing to download"
        elif not confirm:
            report = f"would download {describe_download(entry, directory)}. Turn confirm on and queue again to download it."
        else:
            path = download_model(entry, lambda folder: directory, on_progress=host.progress_callback(entry.size or 1))
            report = f"downloaded {name} to {path} (size and sha256 verified); licence: {entry.licence}. Press R to refresh the model lists."
        return {"ui": {"text": [report]}, "result": (report,)}


NODE_CLASS_MAPPINGS = {"FUSEDownloadModel": FUSEDownloadModel}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSEDownloadModel": "FUSE Download Model"}
