"""comfyui-fuse queue: run a saved workflow on a ComfyUI server and download what it made.

    comfyui-fuse queue workflows/api/restore_faces.json --input file=clip.mp4 --out results
    comfyui-fuse queue my_workflow.json --set "FUSE Restore Faces.strength=0.7" --set 3.face_size=256

WORKFLOW is API format (what the editor's "Export (API)" writes) or UI format (what "Save"
writes); a UI-format workflow is converted with the server's own /object_info. --set and --input
name a node by id, title or class. Progress comes over ComfyUI's /ws and is drawn on stderr; the
paths of the downloaded outputs are printed on stdout. Exit codes: 0 done, 1 the server refused or
failed the prompt (its own words are printed), 2 a usage error, 130 Ctrl-C (the prompt is
dropped from the queue and interrupted on the server).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import time

from .client import ComfyClient, ComfyServerError, output_texts, ui_to_api
from .files import read_json
from .progress import EXIT_FAILED, EXIT_INTERRUPTED, ProgressPrinter

PROG = "comfyui-fuse queue"
DEFAULT_SERVER = "http://127.0.0.1:8188"
DEFAULT_OUT = "fuse_outputs"


def prompt_progress(prompt: dict, printer: ProgressPrinter):
    """on_progress for ComfyClient.wait: ComfyUI's /ws progress messages as one bar per node."""
    titles = {node_id: node_title(node) for node_id, node in prompt.items()}

    def show(message: dict) -> None:
        node = str(message.get("node"))
        printer.update(node, int(message.get("value", 0)), int(message.get("max", 0) or 0), label=f"{titles.get(node, node)} (node {node})")

    return show


def node_title(node: dict) -> str:
    return (node.get("_meta") or {}).get("title") or node.get("class_type", "?")


def load_workflow(path: str) -> dict:
    """The workflow saved at path (API or UI format), as a dict."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"WORKFLOW must be a saved workflow .json file, but {path!r} does not exist")
    workflow = read_json("WORKFLOW", path, "a workflow saved from ComfyUI (JSON)")
    if not isinstance(workflow, dict) or not workflow:
        raise ValueError(f"WORKFLOW {path!r} must hold a JSON object (a UI- or API-format workflow), but got {type(workflow).__name__}")
    return workflow


def is_ui_workflow(workflow: dict) -> bool:
    """True for the editor's graph format ("nodes" and "links"), False for the API format."""
    return isinstance(workflow.get("nodes"), list) and "links" in workflow


def parse_value(text: str):
    """A --set value: JSON when it parses (0.7, true, [1, 2], "3"), else the text itself.

    NaN and Infinity are refused: Python's JSON reads them, but they are no JSON numbers, and a
    node given NaN compares false with every limit (a NaN threshold silently finds nothing)."""

    def refuse(constant: str):
        raise ValueError(f"--set VALUE must be a finite number, text or JSON, but got {text!r} ({constant} is not a number any input takes)")

    try:
        return json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError:
        return text


def split_assignment(text: str, option: str) -> tuple[str, str]:
    """'TARGET=VALUE' -> (TARGET, VALUE), split at the first '='."""
    target, equals, value = text.partition("=")
    if not equals or not target.strip():
        example = "NODE.INPUT=VALUE, e.g. 3.face_size=256" if option == "--set" else "NAME=FILE, e.g. file=clip.mp4"
        raise ValueError(f"{option} must be {example}, but got {text!r}")
    return target.strip(), value


def split_node_input(target: str, option: str) -> tuple[str, str]:
    """'NODE.INPUT' -> (NODE, INPUT); the node part may itself contain dots (titles)."""
    node, dot, name = target.rpartition(".")
    if not dot or not node or not name:
        raise ValueError(f"{option} must name NODE.INPUT (node id, title or class, a dot, the input name), but got {target!r}")
    return node, name


def find_node(prompt: dict, reference: str, option: str) -> str:
    """The id of the node that `reference` names: its id, else its unique title, else its unique class."""
    if reference in prompt:
        return reference
    for key in ("title", "class_type"):
        matches = [node_id for node_id, node in prompt.items() if (node_title(node) if key == "title" else node.get("class_type")) == reference]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            listed = ", ".join(f"{node_id} ({node_title(prompt[node_id])})" for node_id in matches)
            raise ValueError(f"{option} node {reference!r} must name one node, but it matches several: {listed}; use the node id")
    listed = ", ".join(f"{node_id} ({node_title(node)})" for node_id, node in prompt.items())
    raise ValueError(f"{option} node {reference!r} must be a node id, title or class of the workflow, but none matches; its nodes are {listed}")


def check_input_name(prompt: dict, node_id: str, name: str, option: str, client: ComfyClient) -> None:
    """Refuse an input the node's class does not declare (the server would silently ignore it)."""
    node = prompt[node_id]
    if name in node.get("inputs", {}):
        return
    class_type = node.get("class_type")
    schema = client.object_info(class_type).get(class_type, {})
    declared = [input_name for section in ("required", "optional") for input_name in (schema.get("input", {}).get(section) or {})]
    if name not in declared:
        raise ValueError(f"{option} input {name!r} must be an input of node {node_id} ({class_type}), but it has none by that name; its inputs are {', '.join(declared) or 'none'}")


def find_file_input(prompt: dict, name: str) -> tuple[str, str]:
    """(node id, input) for --input NAME: NODE.INPUT, or the one node with a file-name input NAME."""
    if "." in name:
        node, input_name = split_node_input(name, "--input")
        return find_node(prompt, node, "--input"), input_name
    owners = [node_id for node_id, node in prompt.items() if isinstance(node.get("inputs", {}).get(name), str)]
    if len(owners) == 1:
        return owners[0], name
    if not owners:
        raise ValueError(f"--input {name!r} must name a file input of the workflow (e.g. file of Load Video, image of Load Image), but no node has a file-name input {name!r}; use NODE.INPUT")
    listed = ", ".join(f"{node_id} ({node_title(prompt[node_id])})" for node_id in owners)
    raise ValueError(f"--input {name!r} must name one node's input, but several nodes have it: {listed}; use NODE.INPUT, e.g. {owners[0]}.{name}")


def apply_inputs(prompt: dict, sets: list[str], uploads: list[str], client: ComfyClient) -> dict:
    """The prompt with --set values and --input files (uploaded to the server's input folder) wired in.

    Every target is resolved before the first upload, so a typo costs no upload."""
    prompt = json.loads(json.dumps(prompt))
    settings = []
    for text in sets:
        target, value = split_assignment(text, "--set")
        node, name = split_node_input(target, "--set")
        node_id = find_node(prompt, node, "--set")
        check_input_name(prompt, node_id, name, "--set", client)
        settings.append((node_id, name, parse_value(value)))
    files = []
    for text in uploads:
        target, path = split_assignment(text, "--input")
        node_id, name = find_file_input(prompt, target)
        check_input_name(prompt, node_id, name, "--input", client)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--input {target}={path}: FILE must be an existing file to upload, but {path!r} is not one")
        files.append((node_id, name, path))
    for node_id, name, value in settings:
        prompt[node_id].setdefault("inputs", {})[name] = value
    for node_id, name, path in files:
        prompt[node_id].setdefault("inputs", {})[name] = client.upload_file(path)
    return prompt


def file_name_part(text) -> str:
    """Text the server sent (a node id, a class name) as a safe part of a file name: letters,
    digits, '.', '-' and '_' only, never '..' or a path, so it cannot leave the output folder."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._")
    return safe or "node"


def write_text_outputs(entry: dict, prompt: dict, out_dir: str) -> list[str]:
    """Write each distinct text output (e.g. a JSON report shown by Preview Any) to out_dir.

    Named <node id>_<class>.json when the text is JSON, .txt otherwise (both made safe by
    file_name_part: the server names them); a text two nodes show is written once. Returns the
    paths."""
    written, seen = [], set()
    for node_id, texts in output_texts(entry).items():
        for index, text in enumerate(texts):
            if not isinstance(text, str) or text in seen:
                continue
            seen.add(text)
            try:
                json.loads(text)
                extension = ".json"
            except json.JSONDecodeError:
                extension = ".txt"
            suffix = f"_{index}" if len(texts) > 1 else ""
            node = prompt.get(node_id)
            class_type = node.get("class_type", "text") if isinstance(node, dict) else "text"
            path = os.path.join(out_dir, f"{file_name_part(node_id)}_{file_name_part(class_type)}{suffix}{extension}")
            os.makedirs(out_dir, exist_ok=True)
            with open(path + ".part", "w", encoding="utf-8") as stream:
                stream.write(text)
            os.replace(path + ".part", path)
            written.append(path)
    return written


def say(text: str) -> None:
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def run_queue(args: argparse.Namespace) -> int:
    workflow = load_workflow(args.workflow)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out must be a folder for the outputs, but {args.out!r} is a file; name a folder")
    client = ComfyClient(args.server)
    prompt_id = None
    try:
        if is_ui_workflow(workflow):
            prompt = ui_to_api(workflow, client.object_info())
            say(f"converted the UI-format workflow to API format with the server's node definitions ({len(prompt)} nodes)")
        else:
            prompt = workflow
        prompt = apply_inputs(prompt, args.set, args.input, client)
        if importlib.util.find_spec("websocket") is None:
            say("no progress bar: the websocket-client package is not installed (pip install websocket-client); following the prompt by polling")
        started = time.monotonic()
        prompt_id = client.queue_prompt(prompt)
        say(f"queued prompt {prompt_id} on {client.server}")
        entry = client.wait(prompt_id, on_progress=prompt_progress(prompt, args.progress), timeout=args.timeout or float("inf"))
        args.progress.close()
        files = client.download_outputs(entry, args.out)
        files += write_text_outputs(entry, prompt, args.out)
    except (ComfyServerError, TimeoutError) as error:
        args.progress.close()
        say(f"error: {error}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        args.progress.close()
        return cancel(client, prompt_id)
    for path in files:
        print(path)
    say(f"prompt {prompt_id} succeeded in {time.monotonic() - started:.1f} s; {len(files)} output file(s) in {args.out}")
    return 0


def cancel(client: ComfyClient, prompt_id: str | None) -> int:
    """After Ctrl-C: drop the prompt from the server's queue and interrupt it there."""
    if prompt_id is None:
        say("interrupted before the prompt was queued")
        return EXIT_INTERRUPTED
    try:
        client.cancel(prompt_id)
        say(f"interrupted: prompt {prompt_id} was dropped from the queue and interrupted on {client.server}")
    except ComfyServerError as error:
        say(f"interrupted, but the server could not be asked to stop prompt {prompt_id}: {error}")
    return EXIT_INTERRUPTED


def add_queue_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "queue",
        help="run a saved workflow (API or UI format) on a ComfyUI server and download its outputs",
        description=(
            "Queue WORKFLOW on a running ComfyUI server, follow it with a progress bar, and download every file it "
            "saves into --out (text outputs such as JSON reports too). A workflow saved from the editor (UI format) "
            "is converted with the server's node definitions. Nodes are named by id, title or class, e.g. "
            "--set 3.face_size=256 or --set \"FUSE Restore Faces.strength=0.7\". Ctrl-C stops the prompt on the server."
        ),
    )
    parser.add_argument("workflow", metavar="WORKFLOW", help="a workflow .json: API format (Export (API)) or UI format (Save), e.g. workflows/api/restore_faces.json")
    parser.add_argument("--server", default=DEFAULT_SERVER, help=f"the ComfyUI server (default {DEFAULT_SERVER})")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.INPUT=VALUE", help="override an input; NODE is a node id, title or class; VALUE is read as JSON when it parses (256, 0.7, true), else as text. Repeatable")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=FILE", help="upload a local image, video or audio file to the server's input folder and put its name into the input NAME (e.g. file for Load Video, image for Load Image), or NODE.INPUT. Repeatable")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"folder for the downloaded outputs (default ./{DEFAULT_OUT})")
    parser.add_argument("--timeout", type=float, default=0.0, help="give up waiting after this many seconds (default 0: wait until the prompt ends); the prompt keeps running on the server")
    parser.set_defaults(run=run_queue)
