"""comfyui-fuse queue against a fake ComfyUI on 127.0.0.1 (tests/fuse_fake_comfyui.py).

The fake answers like ComfyUI 0.3.64: /prompt (with node_errors refusals), /ws progress, /history,
/view, /upload/image, /object_info, /interrupt and /queue. Real runs are in tests/integration.
"""

import io
import json
import os
import signal
from pathlib import Path

import pytest
from fuse_fake_comfyui import FakeComfyUI, history_entry, progress_event, server_object_info

from comfyui_fuse.cli.app import main
from comfyui_fuse.cli.client import ui_to_api
from comfyui_fuse.cli.progress import ProgressPrinter
from comfyui_fuse.cli.queue import parse_value, prompt_progress

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
OBJECT_INFO = server_object_info()


def prompt_of_two_loaders() -> dict:
    """An API-format workflow: two video loaders, a demo clip, two paste nodes of one class, a saver."""
    return {
        "1": {"class_type": "LoadVideo", "inputs": {"file": "example.mp4"}, "_meta": {"title": "Load Video"}},
        "2": {"class_type": "FUSEDemoClip", "inputs": {"frames": 4, "width": 64, "height": 64}, "_meta": {"title": "FUSE Demo Clip"}},
        "3": {"class_type": "FUSEPasteFaces", "inputs": {"images": ["2", 0], "blend_mode": "box", "blend_amount": 0.3}, "_meta": {"title": "Paste mouths"}},
        "4": {"class_type": "FUSEPasteFaces", "inputs": {"images": ["3", 0], "blend_mode": "box", "blend_amount": 0.3}, "_meta": {"title": "Paste faces"}},
        "5": {"class_type": "SaveVideo", "inputs": {"video": ["1", 0], "filename_prefix": "FUSE/out", "format": "auto", "codec": "auto"}, "_meta": {"title": "Save Video"}},
        "6": {"class_type": "LoadVideo", "inputs": {"file": "other.mp4"}, "_meta": {"title": "Load reference video"}},
    }


def write_json(path: Path, data) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def run(server, workflow_path, *options, out=None):
    """main(["queue", ...]) against the fake; returns the exit code."""
    arguments = ["queue", str(workflow_path), "--server", server.url, "--timeout", "30"]
    if out is not None:
        arguments += ["--out", str(out)]
    return main(arguments + list(options))


def sent_prompt(server) -> dict:
    bodies = server.posted("/prompt")
    assert len(bodies) == 1, f"expected one POST /prompt, got {len(bodies)}"
    return json.loads(bodies[0])["prompt"]


SUCCESS_OUTPUTS = {
    "5": {"images": [{"filename": "b.webp", "subfolder": "run1", "type": "output"}], "animated": [True]},
    "7": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}]},
    "8": {"text": ['{"faces": 2}']},
    "9": {"text": ['{"faces": 2}']},
}


def test_success_draws_progress_and_downloads_every_output(tmp_path, capsys):
    events = [progress_event("4", value, 4) for value in (1, 2, 3, 4)]
    workflow = write_json(tmp_path / "wf.json", prompt_of_two_loaders())
    with FakeComfyUI(entry=history_entry(outputs=SUCCESS_OUTPUTS), polls_before_done=10**6, ws_events=events) as server:
        code = run(server, workflow, out=tmp_path / "out")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    bars = [line for line in captured.err.splitlines() if "Paste faces (node 4) [" in line]
    assert bars and bars[-1].endswith("[" + "#" * 24 + "] 4/4"), f"expected a progress bar per tenth ending full, got stderr:\n{captured.err}"
    assert (tmp_path / "out" / "run1" / "b.webp").read_bytes() == b"WEBP-B"
    assert (tmp_path / "out" / "p.png").read_bytes() == b"PNG-P", "previews (temp files) are downloaded too"
    texts = sorted(path.name for path in (tmp_path / "out").glob("*.json"))
    assert texts == ["8_text.json"], f"one text shown by two nodes must be written once, got {texts}"
    assert captured.out.splitlines() == [str(tmp_path / "out" / "run1" / "b.webp"), str(tmp_path / "out" / "p.png"), str(tmp_path / "out" / "8_text.json")]
    assert "succeeded" in captured.err and "3 output file(s)" in captured.err


@pytest.mark.parametrize(
    "option, node_id, name, value",
    [
        ("2.frames=8", "2", "frames", 8),
        ("FUSE Demo Clip.width=128", "2", "width", 128),
        ("FUSEDemoClip.height=96", "2", "height", 96),
        ("Paste faces.blend_amount=0.5", "4", "blend_amount", 0.5),
        ("Paste mouths.blend_mode=ellipse", "3", "blend_mode", "ellipse"),
        ("5.filename_prefix=\"123\"", "5", "filename_prefix", "123"),
        ("Paste faces.images=[\"2\", 0]", "4", "images", ["2", 0]),
        ("3.crop_mask=[\"2\", 0]", "3", "crop_mask", ["2", 0]),
    ],
)
def test_set_overrides_one_input_of_the_node_it_names(tmp_path, capsys, option, node_id, name, value):
    original = prompt_of_two_loaders()
    workflow = write_json(tmp_path / "wf.json", original)
    with FakeComfyUI(polls_before_done=0, object_info=OBJECT_INFO) as server:
        code = run(server, workflow, "--set", option, out=tmp_path / "out")
        prompt = sent_prompt(server)
    assert code == 0, capsys.readouterr().err
    assert prompt[node_id]["inputs"][name] == value
    original[node_id]["inputs"][name] = value
    assert prompt == original, "only the named input may change"


@pytest.mark.parametrize(
    "option, words",
    [
        ("FUSEPasteFaces.blend_amount=0.5", "matches several: 3 (Paste mouths), 4 (Paste faces); use the node id"),
        ("Nobody.width=1", "must be a node id, title or class of the workflow, but none matches"),
        ("2.speed=1", "input 'speed' must be an input of node 2 (FUSEDemoClip), but it has none by that name; its inputs are frames, width, height"),
        ("2frames=1", "must name NODE.INPUT"),
        ("2.frames", "--set must be NODE.INPUT=VALUE"),
        ("Paste faces.blend_amount=NaN", "--set VALUE must be a finite number, text or JSON, but got 'NaN'"),
        ("Paste faces.blend_amount=-Infinity", "but got '-Infinity'"),
        ("Paste faces.images=[NaN, 0]", "but got '[NaN, 0]'"),
    ],
)
def test_set_refuses_what_it_cannot_resolve(tmp_path, capsys, option, words):
    workflow = write_json(tmp_path / "wf.json", prompt_of_two_loaders())
    with FakeComfyUI(object_info=OBJECT_INFO) as server:
        code = run(server, workflow, "--set", option)
        posted = server.posted("/prompt") + server.posted("/upload/image")
    err = capsys.readouterr().err
    assert code == 2 and words in err, err
    assert posted == [], "nothing may be queued or uploaded when an option is wrong"


@pytest.mark.parametrize("node_id", ["../../escaped", "/tmp/absolute", "..", "a/../../b"])
def test_text_outputs_stay_in_the_output_folder_whatever_the_server_calls_the_node(tmp_path, capsys, node_id):
    workflow = write_json(tmp_path / "wf.json", prompt_of_two_loaders())
    out = tmp_path / "deep" / "out"
    with FakeComfyUI(entry=history_entry(outputs={node_id: {"text": ["not json"]}}), polls_before_done=0) as server:
        code = run(server, workflow, out=out)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    written = [Path(line) for line in captured.out.splitlines()]
    assert len(written) == 1 and written[0].parent == out and written[0].read_text() == "not json", f"the text must be written inside {out}, but went to {written}"
    assert sorted(path.name for path in tmp_path.rglob("*.txt")) == [written[0].name], "nothing may be written outside --out"


def test_out_that_is_a_file_is_refused_before_queueing(tmp_path, capsys):
    workflow = write_json(tmp_path / "wf.json", prompt_of_two_loaders())
    (tmp_path / "out").write_text("a file")
    with FakeComfyUI() as server:
        code = run(server, workflow, out=tmp_path / "out")
        posted = server.posted("/prompt")
    assert code == 2 and "--out must be a folder for the outputs, but" in capsys.readouterr().err
    assert posted == [], "nothing may be queued when the outputs have nowhere to go"


@pytest.mark.parametrize(
    "name, node_id, input_name",
    [
        ("6.file", "6", "file"),
        ("Load Video.file", "1", "file"),
        ("Load reference video.file", "6", "file"),
    ],
)
def test_input_uploads_the_file_and_wires_its_name(tmp_path, capsys, name, node_id, input_name):
    video = tmp_path / "my clip.mp4"
    video.write_bytes(b"fake video bytes")
    workflow = write_json(tmp_path / "wf.json", prompt_of_two_loaders())
    with FakeComfyUI(polls_before_done=0, object_info=OBJECT_INFO) as server:
        code = run(server, workflow, "--input", f"{name}={video}", out=tmp_path / "out")
        uploads = server.posted("/upload/image")
        prompt = sent_prompt(server)
    assert code == 0, capsys.readouterr().err
    assert len(uploads) == 1 and b'filename="my clip.mp4"' in uploads[0] and b"fake video bytes" in uploads[0] and b"\r\n\r\ninput\r\n" in uploads[0]
    assert prompt[node_id]["inputs"][input_name] == "my clip.mp4"


def test_input_by_name_alone_finds_the_one_node_that_has_it(tmp_path, capsys):
    image = tmp_path / "face.png"
    image.write_bytes(b"png")
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}}, "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    with FakeComfyUI(polls_before_done=0, object_info=OBJECT_INFO) as server:
        code = run(server, write_json(tmp_path / "wf.json", prompt), "--input", f"image={image}", out=tmp_path / "out")
        sent = sent_prompt(server)
    assert code == 0, capsys.readouterr().err
    assert sent["1"]["inputs"]["image"] == "face.png"


@pytest.mark.parametrize(
    "name, make_file, words",
    [
        ("file", True, "several nodes have it: 1 (Load Video), 6 (Load reference video); use NODE.INPUT, e.g. 1.file"),
        ("audio", True, "no node has a file-name input 'audio'"),
        ("1.file", False, "FILE must be an existing file to upload"),
    ],
)
def test_input_refuses_an_unclear_target_or_a_missing_file(tmp_path, capsys, name, make_file, words):
    video = tmp_path / "clip.mp4"
    if make_file:
        video.write_bytes(b"x")
    with FakeComfyUI(object_info=OBJECT_INFO) as server:
        code = run(server, write_json(tmp_path / "wf.json", prompt_of_two_loaders()), "--input", f"{name}={video}")
        posted = server.posted("/prompt") + server.posted("/upload/image")
    err = capsys.readouterr().err
    assert code == 2 and words in err, err
    assert posted == []


def test_validation_error_exits_non_zero_with_the_servers_node_errors(tmp_path, capsys):
    workflow = write_json(tmp_path / "wf.json", prompt_of_two_loaders())
    with FakeComfyUI(object_info=OBJECT_INFO) as server:
        code = run(server, workflow, "--set", "2.frames=0")
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Prompt outputs failed validation" in err and "node 2 (FUSEDemoClip): Value 0 smaller than min of 1: frames" in err, err


def test_execution_error_exits_non_zero_with_the_exception_and_downloads_nothing(tmp_path, capsys):
    failure = ("execution_error", {"prompt_id": "p1", "node_id": "3", "node_type": "FUSEPasteFaces", "exception_type": "ValueError", "exception_message": "crops must match the crop plan, but got 3 rows for 4\n"})
    entry = history_entry("error", [failure], outputs=SUCCESS_OUTPUTS)
    with FakeComfyUI(entry=entry, polls_before_done=10**6, ws_events=[progress_event("3", 1, 4)]) as server:
        code = run(server, write_json(tmp_path / "wf.json", prompt_of_two_loaders()), out=tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 1, err
    assert "prompt p1 failed in node 3 (FUSEPasteFaces): ValueError: crops must match the crop plan, but got 3 rows for 4" in err, err
    assert not (tmp_path / "out").exists(), "a failed prompt must not leave outputs behind"


def test_ui_format_workflow_is_converted_with_the_servers_object_info(tmp_path, capsys):
    with FakeComfyUI(polls_before_done=0, object_info=OBJECT_INFO) as server:
        code = run(server, WORKFLOWS / "track_preview.json", "--set", "FUSE Demo Clip.frames=6", out=tmp_path / "out")
        object_info_requests = [path for method, path, _, _ in server.requests if path == "/object_info"]
        prompt = sent_prompt(server)
    err = capsys.readouterr().err
    assert code == 0, err
    assert object_info_requests == ["/object_info"] and "converted the UI-format workflow" in err
    expected = json.loads((WORKFLOWS / "api" / "track_preview.json").read_text())
    expected["1"]["inputs"]["frames"] = 6
    assert {key: node["inputs"] for key, node in prompt.items()} == {key: node["inputs"] for key, node in expected.items()}
    assert prompt == ui_to_api(json.loads((WORKFLOWS / "track_preview.json").read_text()), OBJECT_INFO) | {"1": prompt["1"]}


def test_ctrl_c_cancels_the_prompt_on_the_server_and_exits_130(tmp_path, capsys):
    """A real SIGINT while the command waits, sent by the fake when the client first polls /history."""
    pressed = []

    def press_ctrl_c():
        if not pressed:
            pressed.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    with FakeComfyUI(polls_before_done=10**6, finish=False, on_history_poll=press_ctrl_c) as server:
        code = run(server, write_json(tmp_path / "wf.json", prompt_of_two_loaders()), out=tmp_path / "out")
        cancels = [(path, json.loads(body)) for method, path, _, body in server.requests if method == "POST" and path in ("/queue", "/interrupt")]
    err = capsys.readouterr().err
    assert code == 130, err
    assert cancels == [("/queue", {"delete": ["p1"]}), ("/interrupt", {"prompt_id": "p1"})], cancels
    assert "interrupted: prompt p1 was dropped from the queue and interrupted" in err, err


def test_an_unreachable_server_is_named(tmp_path, capsys):
    with FakeComfyUI() as server:
        url = server.url
    code = main(["queue", write_json(tmp_path / "wf.json", prompt_of_two_loaders()), "--server", url])
    err = capsys.readouterr().err
    assert code == 1 and f"cannot reach ComfyUI at {url}" in err, err


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
    ],
)
def test_a_file_that_is_no_workflow_is_refused(tmp_path, capsys, content, words):
    path = tmp_path / "wf.json"
    path.write_text(content)
    assert main(["queue", str(path), "--server", "http://127.0.0.1:9"]) == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, expected",
    [("256", 256), ("0.7", 0.7), ("true", True), ("[1, 2]", [1, 2]), ('"12"', "12"), ("ellipse", "ellipse"), ("FUSE/out", "FUSE/out"), ("", "")],
)
def test_parse_value_reads_json_else_text(text, expected):
    assert parse_value(text) == expected


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_redraws_in_place_on_a_terminal_and_writes_lines_elsewhere():
    prompt = {"3": {"class_type": "FUSERestoreFaces", "_meta": {"title": "Restore"}}, "4": {"class_type": "FUSEPasteFaces"}}
    messages = [{"node": "3", "value": value, "max": 20} for value in range(1, 21)] + [{"node": "4", "value": 1, "max": 2}]
    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        printer = ProgressPrinter(stream)
        show = prompt_progress(prompt, printer)
        for message in messages:
            show(message)
        printer.close()
    assert terminal.getvalue().count("\r") == 21 and terminal.getvalue().count("\n") == 2, repr(terminal.getvalue()[-200:])
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 11 + 1, f"one line per tenth of each node, got {lines}"
    assert lines[-2] == "Restore (node 3) [########################] 20/20" and lines[-1] == "FUSEPasteFaces (node 4) [############------------] 1/2"
