"""ComfyClient against a small fake ComfyUI server (tests/fuse_fake_comfyui.py), and ui_to_api tables."""

import contextlib
import json
import socket
import threading

import pytest
from fuse_fake_comfyui import REFUSAL, FakeComfyUI, history_entry, progress_event

from comfyui_fuse.cli.client import (
    ComfyClient,
    ComfyServerError,
    check_history_entry,
    describe_prompt_error,
    output_texts,
    ui_to_api,
)


def make_client(server):
    return ComfyClient(server.url, client_id="test-client", use_websocket=False)


# ---- the client -----------------------------------------------------------------------------------


def test_queue_prompt_sends_the_prompt_with_the_client_id():
    with FakeComfyUI() as server:
        prompt_id = make_client(server).queue_prompt({"1": {"class_type": "SaveImage", "inputs": {}}})
        sent = json.loads(server.requests[-1][3])
    assert prompt_id == "p1"
    assert sent == {"prompt": {"1": {"class_type": "SaveImage", "inputs": {}}}, "client_id": "test-client"}


def test_queue_prompt_refusal_carries_the_servers_node_errors():
    with FakeComfyUI() as server, pytest.raises(ComfyServerError) as caught:
        make_client(server).queue_prompt({"2": {"class_type": "FUSEDemoClip", "inputs": {"frames": 0}}})
    message = str(caught.value)
    assert "Prompt outputs failed validation" in message and "node 2 (FUSEDemoClip): Value 0 smaller than min of 1: frames" in message, message
    assert caught.value.details == REFUSAL, "the raw /prompt answer must travel with the error"


@pytest.mark.parametrize(
    "prompt, exception, words",
    [
        ({}, TypeError, "non-empty API-format dict"),
        ([{"class_type": "X"}], TypeError, "but got list"),
        ({"nodes": [], "links": []}, ValueError, "convert it with ui_to_api"),
    ],
)
def test_queue_prompt_rejects_what_is_not_an_api_workflow(prompt, exception, words):
    client = ComfyClient("http://127.0.0.1:9", use_websocket=False)
    with pytest.raises(exception, match=words):
        client.queue_prompt(prompt)


def test_wait_polls_history_until_the_entry_appears():
    with FakeComfyUI(polls_before_done=2) as server:
        entry = make_client(server).wait("p1", timeout=10, poll_interval=0.01)
        polls = [request for request in server.requests if request[1] == "/history/p1"]
    assert entry == server.entry
    assert len(polls) == 3, f"expected 2 empty answers then the entry, got {len(polls)} polls"


def test_wait_raises_the_servers_words_when_the_prompt_failed():
    failure = ("execution_error", {"prompt_id": "p1", "node_id": "3", "node_type": "FUSEFaceDetector", "exception_type": "ValueError", "exception_message": "images must be [B,H,W,3], but got [4,4]\n"})
    with FakeComfyUI(entry=history_entry("error", [failure]), polls_before_done=0) as server, pytest.raises(ComfyServerError) as caught:
        make_client(server).wait("p1", timeout=10, poll_interval=0.01)
    assert str(caught.value) == "prompt p1 failed in node 3 (FUSEFaceDetector): ValueError: images must be [B,H,W,3], but got [4,4]"


def test_wait_times_out_with_a_clear_error():
    with FakeComfyUI(polls_before_done=10**6) as server, pytest.raises(TimeoutError, match="did not finish in time"):
        make_client(server).wait("p1", timeout=0.05, poll_interval=0.01)


def test_download_outputs_fetches_every_file_of_the_selected_types(tmp_path):
    entry = history_entry(outputs={
        "5": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}, {"filename": "b.webp", "subfolder": "run1", "type": "output"}], "animated": [True]},
        "6": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}]},
        "7": {"text": ['{"tracks": []}']},
    })
    with FakeComfyUI() as server:
        saved = make_client(server).download_outputs(entry, str(tmp_path), types=("output",))
    assert saved == [str(tmp_path / "a.png"), str(tmp_path / "run1" / "b.webp")]
    assert (tmp_path / "run1" / "b.webp").read_bytes() == b"WEBP-B"
    assert not list(tmp_path.rglob("*.part")), "downloads must be renamed into place, never left partial"


def test_download_outputs_refuses_a_subfolder_outside_the_output_folder(tmp_path):
    entry = history_entry(outputs={"5": {"images": [{"filename": "a.png", "subfolder": "../..", "type": "output"}]}})
    with FakeComfyUI() as server, pytest.raises(ComfyServerError, match="outside its folders"):
        make_client(server).download_outputs(entry, str(tmp_path))


@pytest.mark.parametrize("filename", ["..", "", 7], ids=["dot-dot", "empty", "not-text"])
def test_download_outputs_refuses_a_filename_that_is_no_file_name(tmp_path, filename):
    entry = history_entry(outputs={"5": {"images": [{"filename": filename, "subfolder": "", "type": "output"}]}})
    with FakeComfyUI() as server, pytest.raises(ComfyServerError, match="the server named an output"):
        make_client(server).download_outputs(entry, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@contextlib.contextmanager
def raw_http_server(answer: bytes):
    """A loopback server that answers every request with the same raw bytes and closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.recv(65536)
                connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


HTML_PAGE = b"<!DOCTYPE html><html><body>Welcome to nginx!</body></html>"


@pytest.mark.parametrize(
    "answer, words",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(HTML_PAGE), HTML_PAGE), r"must answer JSON, but got '<!DOCTYPE html>.*is .* the address of a ComfyUI server"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"a\": 1}", r"got a broken HTTP answer \(IncompleteRead"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]", r"must answer a JSON object, but got list"),
    ],
    ids=["html-page", "content-length-too-long", "json-of-another-shape"],
)
def test_a_server_that_is_not_comfyui_is_named_in_the_error(answer, words):
    with raw_http_server(answer) as url:
        client = ComfyClient(url, use_websocket=False, request_timeout=5)
        with pytest.raises(ComfyServerError, match=words):
            client.history("p1")


def test_a_prompt_holding_nan_is_refused_before_it_is_sent():
    client = ComfyClient("http://127.0.0.1:9", use_websocket=False)
    with pytest.raises(ValueError, match=r"prompt inputs must be finite numbers, but node 3 input 'score_threshold' is NaN or infinite"):
        client.queue_prompt({"3": {"class_type": "FUSEFaceDetector", "inputs": {"score_threshold": float("nan")}}})


def test_upload_file_returns_the_name_a_loader_widget_takes(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not really a video")
    with FakeComfyUI() as server:
        name = make_client(server).upload_file(str(video), subfolder="sub")
        body = server.requests[-1][3]
    assert name == "sub/clip.mp4"
    assert b'name="image"; filename="clip.mp4"' in body and b"not really a video" in body and b"\r\n\r\ninput\r\n" in body


def test_upload_file_rejects_an_unknown_folder_kind(tmp_path):
    with pytest.raises(ValueError, match="kind must be 'input', 'temp' or 'output', but got 'models'"):
        ComfyClient("http://127.0.0.1:9").upload_file(str(tmp_path), kind="models")


def test_interrupt_names_the_prompt():
    with FakeComfyUI() as server:
        make_client(server).interrupt("p1")
        method, path, _, body = server.requests[-1]
    assert (method, path, json.loads(body)) == ("POST", "/interrupt", {"prompt_id": "p1"})


def test_cancel_drops_the_prompt_from_the_queue_and_interrupts_it():
    with FakeComfyUI() as server:
        make_client(server).cancel("p1")
        sent = [(path, json.loads(body)) for method, path, _, body in server.requests if method == "POST"]
    assert sent == [("/queue", {"delete": ["p1"]}), ("/interrupt", {"prompt_id": "p1"})], "a waiting prompt is only removed by /queue delete; a running one only stops on /interrupt"


def test_wait_follows_progress_over_the_websocket():
    events = [progress_event("3", 1, 2), progress_event("3", 2, 2), progress_event("9", 1, 1, prompt_id="other")]
    with FakeComfyUI(polls_before_done=10**6, ws_events=events) as server:
        progress = []
        entry = ComfyClient(server.url, client_id="test-client").wait("p1", on_progress=progress.append, timeout=20)
        ws_requests = [query for method, path, query, _ in server.requests if path == "/ws"]
    assert entry == server.entry
    assert ws_requests == [{"clientId": "test-client"}], "wait must open /ws with its client id, or ComfyUI sends it no progress"
    assert [(message["node"], message["value"]) for message in progress] == [("3", 1), ("3", 2)], "progress of other prompts must be filtered out"


def test_an_unreachable_server_is_named_in_the_error():
    with FakeComfyUI() as server:
        url = server.url
    with pytest.raises(ComfyServerError, match=r"cannot reach ComfyUI at http://127\.0\.0\.1:\d+"):
        ComfyClient(url, request_timeout=2).object_info()


# ---- pure helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, expected",
    [
        (REFUSAL, "ComfyUI refused the prompt: Prompt outputs failed validation\n  node 2 (FUSEDemoClip): Value 0 smaller than min of 1: frames"),
        ({"error": {"message": "No prompt provided", "details": "No prompt provided"}, "node_errors": {}}, "ComfyUI refused the prompt: No prompt provided: No prompt provided"),
        ({"error": "bad json"}, "ComfyUI refused the prompt: bad json"),
    ],
)
def test_describe_prompt_error(answer, expected):
    assert describe_prompt_error(answer) == expected


@pytest.mark.parametrize(
    "entry, words",
    [
        (history_entry("error", [("execution_interrupted", {"node_id": "4", "node_type": "FUSETrackFaces"})]), "prompt p1 was interrupted in node 4 (FUSETrackFaces)"),
        (history_entry("error", []), "prompt p1 did not succeed: status 'error'"),
    ],
)
def test_check_history_entry_failures(entry, words):
    with pytest.raises(ComfyServerError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_history_entry("p1", entry)


def test_output_texts_collects_text_outputs_per_node():
    entry = history_entry(outputs={"5": {"images": []}, "7": {"text": ["a", "b"]}})
    assert output_texts(entry) == {"7": ["a", "b"]}


# ---- ui_to_api ------------------------------------------------------------------------------------

OBJECT_INFO = {
    "Source": {"input": {"required": {"count": ["INT", {"default": 1}], "mode": [["a", "b"], {}]}}, "output": ["IMAGE", "FLOAT"]},
    "Sampler": {
        "input": {"required": {"images": ["IMAGE", {}], "seed": ["INT", {"default": 0}], "rate": ["FLOAT", {"default": 1.0}]}, "optional": {"label": ["STRING", {}], "hint": ["STRING", {"forceInput": True}]}},
        "output": ["IMAGE"],
    },
}


def ui_node(node_id, node_type, widgets=(), inputs=(), mode=0, **extra):
    return {"id": node_id, "type": node_type, "mode": mode, "widgets_values": list(widgets), "inputs": [{"name": name, "type": kind, "link": link} for name, kind, link in inputs], **extra}


def workflow(nodes, links):
    return {"nodes": nodes, "links": links, "version": 0.4}


def test_ui_to_api_maps_widgets_in_order_and_skips_the_seed_control_value():
    ui = workflow(
        [ui_node(1, "Source", [3, "b"]), ui_node(2, "Sampler", [42, "randomize", 0.5, "hello"], [("images", "IMAGE", 7)], title="My sampler"), ui_node(3, "Note", ["read me"])],
        [[7, 1, 0, 2, 0, "IMAGE"]],
    )
    assert ui_to_api(ui, OBJECT_INFO) == {
        "1": {"class_type": "Source", "inputs": {"count": 3, "mode": "b"}, "_meta": {"title": "Source"}},
        "2": {"class_type": "Sampler", "inputs": {"images": ["1", 0], "seed": 42, "rate": 0.5, "label": "hello"}, "_meta": {"title": "My sampler"}},
    }


@pytest.mark.parametrize(
    "nodes, links, expected_inputs",
    [
        # a widget turned into a socket and linked: the link wins over the stored widget value
        ([ui_node(1, "Source", [1, "a"]), ui_node(2, "Sampler", [5, 0.5, ""], [("images", "IMAGE", 1), ("rate", "FLOAT", 2)])], [[1, 1, 0, 2, 0, "IMAGE"], [2, 1, 1, 2, 2, "FLOAT"]], {"images": ["1", 0], "seed": 5, "rate": ["1", 1], "label": ""}),
        # through a reroute, links given as objects (the newer format)
        (
            [ui_node(1, "Source", [1, "a"]), ui_node(9, "Reroute", [], [("", "*", 1)]), ui_node(2, "Sampler", [5, 0.5, ""], [("images", "IMAGE", 2)])],
            [{"id": 1, "origin_id": 1, "origin_slot": 0, "target_id": 9, "target_slot": 0, "type": "*"}, {"id": 2, "origin_id": 9, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE"}],
            {"images": ["1", 0], "seed": 5, "rate": 0.5, "label": ""},
        ),
        # a primitive feeding a widget: the widget's own stored value is the primitive's value
        ([ui_node(1, "Source", [1, "a"]), ui_node(4, "PrimitiveNode", [0.25]), ui_node(2, "Sampler", [5, 0.25, ""], [("images", "IMAGE", 1), ("rate", "FLOAT", 3)])], [[1, 1, 0, 2, 0, "IMAGE"], [3, 4, 0, 2, 2, "FLOAT"]], {"images": ["1", 0], "seed": 5, "rate": 0.25, "label": ""}),
        # a bypassed node passes on what its input of the linked type receives
        (
            [ui_node(1, "Source", [1, "a"]), ui_node(3, "Sampler", [7, 0.5, ""], [("images", "IMAGE", 1)], mode=4), ui_node(2, "Sampler", [5, 0.5, ""], [("images", "IMAGE", 2)])],
            [[1, 1, 0, 3, 0, "IMAGE"], [2, 3, 0, 2, 0, "IMAGE"]],
            {"images": ["1", 0], "seed": 5, "rate": 0.5, "label": ""},
        ),
        # a bypassed node without an input of the linked type passes nothing
        ([ui_node(1, "Source", [1, "a"]), ui_node(3, "Sampler", [7, 0.5, ""], [("images", "IMAGE", 1)], mode=4), ui_node(2, "Sampler", [5, 0.5, ""], [("images", "IMAGE", 1), ("rate", "FLOAT", 2)])], [[1, 1, 0, 3, 0, "IMAGE"], [2, 3, 0, 2, 2, "FLOAT"]], {"images": ["1", 0], "seed": 5, "label": ""}),
        # a muted source is left out, as the editor does
        ([ui_node(1, "Source", [1, "a"], mode=2), ui_node(2, "Sampler", [5, 0.5, ""], [("images", "IMAGE", 1)])], [[1, 1, 0, 2, 0, "IMAGE"]], {"seed": 5, "rate": 0.5, "label": ""}),
    ],
)
def test_ui_to_api_resolves_links(nodes, links, expected_inputs):
    prompt = ui_to_api(workflow(nodes, links), OBJECT_INFO)
    assert prompt["2"]["inputs"] == expected_inputs
    assert set(prompt) <= {"1", "2"}, f"editor-only, muted and bypassed nodes must not be sent: {sorted(prompt)}"


@pytest.mark.parametrize(
    "ui, words",
    [
        ({"prompt": {}}, "ui_workflow must be a UI-format workflow with a 'nodes' list"),
        (workflow([ui_node(1, "Mystery")], []), "node 1 has type 'Mystery', which the server does not know"),
        ({**workflow([], []), "definitions": {"subgraphs": [{"id": "x"}]}}, "must not contain subgraphs"),
        (workflow([{"id": 1}], []), r"nodes\[0\] must be an object with an 'id' and a 'type'"),
        (workflow([None], []), r"nodes\[0\] must be an object with an 'id' and a 'type', but got None"),
        (workflow([ui_node(2, "Sampler", [5, 0.5, ""], [("images", "IMAGE", 7)])], []), r"link 7 is missing from 'links'"),
        (workflow([ui_node(2, "Sampler", [5, 0.5, ""], [("images", "IMAGE", 7)])], [[7, 99, 0, 2, 0, "IMAGE"]]), r"link 7 must come from one of its nodes, but node 99 is missing"),
        (workflow([ui_node(1, "Source", [1, "a"])], [[7, 1]]), r"links\[0\] must be \[id, origin node, origin slot, ...\]"),
        (workflow([ui_node(1, "Source", [1, "a"])], {"7": [1, 0]}), r"'links' must be a list, but got dict"),
        (workflow([ui_node(1, "Source", [1, "a"])], [[7, 1, "0", 2, 0, "IMAGE"]]), r"link 7 must have an integer origin slot, but got '0'"),
        (workflow([{**ui_node(1, "Source", [1, "a"]), "inputs": [{"type": "IMAGE", "link": None}]}], []), r"node 1 must list its inputs as objects with a 'name'"),
        (workflow([{**ui_node(1, "Source"), "widgets_values": "3"}], []), r"node 1 must keep its widget values in a list, but got str"),
    ],
    ids=["not-ui", "unknown-type", "subgraphs", "node-without-type", "null-node", "missing-link", "link-from-missing-node", "short-link", "links-not-a-list", "slot-not-int", "input-without-name", "widgets-not-a-list"],
)
def test_ui_to_api_refuses_what_it_cannot_convert(ui, words):
    """Damaged or hand-edited workflows get a sentence naming the node or link, never a KeyError or TypeError."""
    with pytest.raises(ValueError, match=words):
        ui_to_api(ui, OBJECT_INFO)
