"""A fake ComfyUI server on 127.0.0.1 (a free port) that answers like ComfyUI 0.3.64, for client tests.

Routes: GET /object_info[/{class}], POST /prompt, GET /history/{id}, GET /view, POST /upload/image,
POST /interrupt, POST /queue, and GET /ws (a real websocket: RFC 6455 handshake and frames).

- POST /prompt answers {"prompt_id": "p1"}, or HTTP 400 with `refusal(prompt)` when that returns
  one (default: REFUSAL when node "2" asks for frames 0, as ComfyUI refuses a value below min).
- GET /history/p1 answers {} until the prompt is done, then {"p1": entry}. The prompt is done after
  `polls_before_done` empty answers, or, with a websocket client, once /ws has sent `ws_events`
  (ComfyUI stores the entry before it sends "executing" {"node": null}). `finish=False` never ends it.
- /ws waits for the client's first /history poll (so it is following); if the prompt is not done
  by then, it sends ws_events as {"type", "data"} text frames, then "executing" {"node": null}
  when finishing.
- `on_history_poll()` runs on every /history answer (tests use it to press Ctrl-C mid-wait).

Every request is recorded in `requests` as (method, path, query, body). Tests import this module
by name (tests/conftest.py puts tests/ on sys.path).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3

REFUSAL = {
    "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
    "node_errors": {
        "2": {
            "errors": [{"type": "value_smaller_than_min", "message": "Value 0 smaller than min of 1", "details": "frames", "extra_info": {}}],
            "dependent_outputs": ["5"],
            "class_type": "FUSEDemoClip",
        }
    },
}


CORE_NODES_PATH = Path(__file__).with_name("core_node_signatures.json")


def pack_object_info() -> dict:
    """What ComfyUI's GET /object_info says about the pack's nodes (server.py node_info, V1 nodes)."""
    from comfyui_fuse.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    info = {}
    for node_id, node_class in NODE_CLASS_MAPPINGS.items():
        inputs = json.loads(json.dumps(node_class.INPUT_TYPES()))  # tuples -> lists, as over HTTP
        info[node_id] = {
            "input": inputs,
            "input_order": {section: list(declared) for section, declared in inputs.items()},
            "output": list(node_class.RETURN_TYPES),
            "output_name": list(getattr(node_class, "RETURN_NAMES", node_class.RETURN_TYPES)),
            "display_name": NODE_DISPLAY_NAME_MAPPINGS.get(node_id, node_id),
            "output_node": bool(getattr(node_class, "OUTPUT_NODE", False)),
        }
    return info


def server_object_info() -> dict:
    """GET /object_info of a ComfyUI with the pack: the core nodes the workflows use, and the pack's."""
    return {**json.loads(CORE_NODES_PATH.read_text()), **pack_object_info()}


def refuse_zero_frames(prompt: dict) -> dict | None:
    return REFUSAL if prompt.get("2", {}).get("inputs", {}).get("frames") == 0 else None


def history_entry(status_str="success", messages=(), outputs=None):
    return {"prompt": [], "outputs": outputs or {}, "status": {"status_str": status_str, "completed": status_str == "success", "messages": [list(m) for m in messages]}}


def progress_event(node: str, value: int, maximum: int, prompt_id: str = "p1") -> tuple[str, dict]:
    return ("progress", {"value": value, "max": maximum, "prompt_id": prompt_id, "node": node})


def ws_text_frame(text: str) -> bytes:
    """One unmasked server-to-client text frame (FIN, opcode 1)."""
    payload = text.encode("utf-8")
    if len(payload) < 126:
        header = struct.pack("!BB", 0x81, len(payload))
    elif len(payload) < 65536:
        header = struct.pack("!BBH", 0x81, 126, len(payload))
    else:
        header = struct.pack("!BBQ", 0x81, 127, len(payload))
    return header + payload


def read_ws_frame(stream) -> int | None:
    """Read one (masked) client frame and return its opcode; None when the connection ends."""
    head = stream.read(2)
    if len(head) < 2:
        return None
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", stream.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", stream.read(8))[0]
    stream.read((4 if head[1] & 0x80 else 0) + length)
    return head[0] & 0x0F


class FakeComfyUI:
    def __init__(self, entry=None, polls_before_done=2, object_info=None, refusal=refuse_zero_frames, ws_events=(), finish=True, on_history_poll=None):
        self.entry = entry or history_entry()
        self.polls_before_done = polls_before_done
        self.object_info = object_info if object_info is not None else {"SaveImage": {"input": {}}}
        self.refusal = refusal
        self.ws_events = list(ws_events)
        self.finish = finish
        self.on_history_poll = on_history_poll
        self.requests = []
        self.files = {("a.png", "", "output"): b"PNG-A", ("b.webp", "run1", "output"): b"WEBP-B", ("p.png", "", "temp"): b"PNG-P"}
        self.done = False
        self.polled = threading.Event()  # set at the first /history poll: the client is following
        self.stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, payload, content_type="application/json"):
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                fake.requests.append(("GET", url.path, query, b""))
                if url.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
                    self.serve_websocket()
                elif url.path == "/object_info":
                    self.answer(200, fake.object_info)
                elif url.path.startswith("/object_info/"):
                    name = urllib.parse.unquote(url.path[len("/object_info/"):])
                    self.answer(200, {name: fake.object_info[name]} if name in fake.object_info else {})
                elif url.path.startswith("/history/"):
                    fake.polls_before_done -= 1
                    if fake.finish and fake.polls_before_done < 0:
                        fake.done = True
                    fake.polled.set()
                    self.answer(200, {"p1": fake.entry} if fake.done else {})
                    if fake.on_history_poll is not None:
                        fake.on_history_poll()
                elif url.path == "/view":
                    key = (query.get("filename"), query.get("subfolder", ""), query.get("type"))
                    self.answer(200, fake.files[key], "image/png") if key in fake.files else self.answer(404, b"", "text/plain")
                else:
                    self.answer(404, b"", "text/plain")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append(("POST", self.path, {}, body))
                if self.path == "/prompt":
                    refusal = fake.refusal(json.loads(body)["prompt"]) if fake.refusal else None
                    self.answer(400, refusal) if refusal else self.answer(200, {"prompt_id": "p1", "number": 0, "node_errors": {}})
                elif self.path == "/upload/image":
                    filename = re.search(rb'name="image"; filename="([^"]+)"', body).group(1).decode()
                    self.answer(200, {"name": filename, "subfolder": "sub" if b"\r\n\r\nsub\r\n" in body else "", "type": "input"})
                elif self.path in ("/interrupt", "/queue"):
                    self.answer(200, b"", "text/plain")
                else:
                    self.answer(404, b"", "text/plain")

            def serve_websocket(self):
                accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] + WS_GUID).encode()).digest()).decode()
                self.send_response(101, "Switching Protocols")
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept)
                self.end_headers()
                self.close_connection = True
                try:
                    self.wfile.write(ws_text_frame(json.dumps({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 1}}, "sid": "x"}})))
                    fake.polled.wait(10)
                    if not fake.done:
                        for event_type, data in fake.ws_events:
                            self.wfile.write(ws_text_frame(json.dumps({"type": event_type, "data": data})))
                        if fake.finish:
                            fake.done = True
                            self.wfile.write(ws_text_frame(json.dumps({"type": "executing", "data": {"node": None, "prompt_id": "p1"}})))
                    self.wfile.flush()
                    while not fake.stopping.is_set():  # until the client closes: answer its close frame
                        opcode = read_ws_frame(self.rfile)
                        if opcode is None:
                            break
                        if opcode == 8:
                            self.wfile.write(b"\x88\x00")
                            self.wfile.flush()
                            break
                except OSError:  # the client went away first
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def posted(self, path: str) -> list[bytes]:
        """Bodies of the POST requests to path, in order."""
        return [body for method, request_path, _, body in self.requests if method == "POST" and request_path == path]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
