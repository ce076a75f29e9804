"""A client for a running ComfyUI server: node schemas, uploads, queueing, following, outputs.

Host-independent: the Python standard library (urllib) plus the websocket-client package when it
is importable; without it, wait() polls /history instead of following /ws. Nothing here imports
ComfyUI, so the command line, the tests and other programs use it against any server.

    client = ComfyClient("http://127.0.0.1:8188")
    prompt_id = client.queue_prompt(api_workflow)
    entry = client.wait(prompt_id, on_progress=lambda p: print(p["node"], p["value"], "/", p["max"]))
    paths = client.download_outputs(entry, "out")

ui_to_api() turns a workflow saved from the editor (UI format) into the API format /prompt takes.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import mimetypes
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Callable

log = logging.getLogger(__name__)

# Widget types the frontend draws for an input (any other type is a socket only).
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
# Values of the "control after generate" widget the frontend adds after a seed input.
SEED_CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")
# Nodes that exist only in the editor: notes are never sent, reroutes and primitives are resolved.
EDITOR_ONLY_NODES = ("Note", "MarkdownNote", "Reroute", "PrimitiveNode")
MUTED_MODE = 2  # LiteGraph node mode "never": the frontend leaves the node out of the prompt
BYPASS_MODE = 4


class ComfyServerError(RuntimeError):
    """The server refused a request or a prompt failed while running.

    str(error) is a readable summary in the server's own words; `details` holds the JSON the server
    sent (the /prompt error body with node_errors, or the execution_error message).
    """

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class ComfyClient:
    """One ComfyUI server. `client_id` ties /ws progress messages to the prompts this client queued."""

    def __init__(self, server: str = "http://127.0.0.1:8188", client_id: str | None = None, request_timeout: float = 60.0, use_websocket: bool | None = None) -> None:
        if "://" not in server:
            server = "http://" + server
        self.server = server.rstrip("/")
        self.client_id = client_id or uuid.uuid4().hex
        self.request_timeout = request_timeout
        # None: follow /ws when websocket-client is importable, else poll /history.
        self.use_websocket = use_websocket

    # ---- plumbing -------------------------------------------------------------------------------

    def _url(self, path: str, query: dict | None = None) -> str:
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return url

    def _request(self, method: str, path: str, *, query: dict | None = None, body: bytes | None = None, content_type: str | None = None) -> tuple[int, bytes]:
        """Send one request; returns (status, body) for 2xx and 4xx answers, raises for the rest."""
        request = urllib.request.Request(self._url(path, query), data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            text = error.read()
            if 400 <= error.code < 500:
                return error.code, text
            raise ComfyServerError(f"{method} {path} failed on {self.server}: HTTP {error.code}: {text.decode('utf-8', 'replace')[:2000]}") from error
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ComfyServerError(f"cannot reach ComfyUI at {self.server} ({reason}); start the server or pass its address") from error
        except http.client.HTTPException as error:  # a body shorter than its Content-Length, a garbled status line, ...
            raise ComfyServerError(
                f"{method} {path} on {self.server} got a broken HTTP answer ({type(error).__name__}: {error}); is {self.server} a ComfyUI server, and is a proxy in between cutting answers short?"
            ) from None

    def _decode(self, method: str, path: str, text: bytes):
        """The JSON of an answer; ComfyServerError naming the server when it is not JSON (an HTML page)."""
        try:
            return json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            start = text[:80].decode("utf-8", "replace").strip()
            raise ComfyServerError(f"{method} {path} on {self.server} must answer JSON, but got {start!r}...; is {self.server} the address of a ComfyUI server (not a web page or proxy)?") from None

    def _json(self, method: str, path: str, *, query: dict | None = None, payload=None):
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        status, text = self._request(method, path, query=query, body=body, content_type="application/json" if body is not None else None)
        if status >= 400:
            raise ComfyServerError(f"{method} {path} failed on {self.server}: HTTP {status}: {text.decode('utf-8', 'replace')[:2000]}")
        return self._decode(method, path, text) if text else None

    # ---- queries --------------------------------------------------------------------------------

    def system_stats(self) -> dict:
        """GET /system_stats: ComfyUI version, Python, torch, devices."""
        return self._json("GET", "/system_stats")

    def object_info(self, node_class: str | None = None) -> dict:
        """GET /object_info: {node id: schema} for every node the server loaded (or just one)."""
        if node_class is None:
            return self._json("GET", "/object_info")
        return self._json("GET", "/object_info/" + urllib.parse.quote(node_class, safe=""))

    def workflow_templates(self) -> dict[str, list[str]]:
        """GET /workflow_templates: {custom node folder: [workflow names]} the editor offers."""
        return self._json("GET", "/workflow_templates")

    def history(self, prompt_id: str) -> dict | None:
        """The /history entry of one prompt (prompt, outputs, status), or None while it is not done."""
        history = self._json("GET", "/history/" + urllib.parse.quote(prompt_id, safe=""))
        if not isinstance(history, dict):
            raise ComfyServerError(f"GET /history on {self.server} must answer a JSON object, but got {type(history).__name__}; is it a ComfyUI server?")
        return history.get(prompt_id)

    # ---- actions --------------------------------------------------------------------------------

    def upload_file(self, path: str, kind: str = "input", subfolder: str = "", overwrite: bool = True) -> str:
        """Upload an image, video or audio file through POST /upload/image.

        kind is the server folder it lands in: "input" (what LoadImage / LoadVideo read), "temp"
        or "output". Returns the name to put in a loader's file widget ("subfolder/name").
        """
        if kind not in ("input", "temp", "output"):
            raise ValueError(f"kind must be 'input', 'temp' or 'output', but got {kind!r}")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"path must be an existing file to upload, but got {path!r}")
        boundary = uuid.uuid4().hex
        filename = os.path.basename(path).replace('"', "%22")
        mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        with open(path, "rb") as stream:
            data = stream.read()
        parts = []
        for name, value in (("type", kind), ("subfolder", subfolder), ("overwrite", "true" if overwrite else "false")):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\nContent-Type: {mime}\r\n\r\n'.encode() + data + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        status, text = self._request("POST", "/upload/image", body=b"".join(parts), content_type=f"multipart/form-data; boundary={boundary}")
        if status >= 400:
            raise ComfyServerError(f"upload of {path!r} was refused: HTTP {status}: {text.decode('utf-8', 'replace')}")
        answer = self._decode("POST", "/upload/image", text)
        if not isinstance(answer, dict) or not isinstance(answer.get("name"), str):
            raise ComfyServerError(f"upload of {path!r} to {self.server} must answer the stored file's name, but got {str(answer)[:200]}")
        return f"{answer['subfolder']}/{answer['name']}" if answer.get("subfolder") else answer["name"]

    def queue_prompt(self, prompt: dict, extra_data: dict | None = None, front: bool = False) -> str:
        """POST /prompt with an API-format workflow; returns the prompt id.

        Raises ComfyServerError with every node error the server reported when it refuses the
        prompt (HTTP 400: unknown node, missing input, value out of range, ...).
        """
        if not isinstance(prompt, dict) or not prompt:
            raise TypeError(f"prompt must be a non-empty API-format dict {{node id: {{class_type, inputs}}}}, but got {type(prompt).__name__}")
        if "nodes" in prompt and "links" in prompt:
            raise ValueError("prompt must be an API-format workflow, but got a UI-format one (it has 'nodes' and 'links'); convert it with ui_to_api(workflow, client.object_info())")
        payload = {"prompt": prompt, "client_id": self.client_id}
        if extra_data:
            payload["extra_data"] = extra_data
        if front:
            payload["front"] = True
        try:
            body = json.dumps(payload, allow_nan=False).encode("utf-8")
        except ValueError:  # NaN or inf would be sent as a bare NaN (not JSON), which ComfyUI reads back as NaN
            places = ", ".join(f"node {node_id} input {name!r}" for node_id, name in _nonfinite_inputs(prompt)) or "extra_data"
            raise ValueError(f"prompt inputs must be finite numbers, but {places} is NaN or infinite; set a number") from None
        status, text = self._request("POST", "/prompt", body=body, content_type="application/json")
        answer = self._decode("POST", "/prompt", text) if text else {}
        if not isinstance(answer, dict):
            raise ComfyServerError(f"POST /prompt on {self.server} must answer a JSON object, but got {str(answer)[:200]}")
        if status >= 400:
            raise ComfyServerError(describe_prompt_error(answer, prompt), answer)
        if "prompt_id" not in answer:
            raise ComfyServerError(f"POST /prompt on {self.server} must answer the queued prompt's id, but got {str(answer)[:200]}; is it a ComfyUI server?")
        if answer.get("node_errors"):
            log.warning("ComfyUI queued prompt %s but left out outputs with errors: %s", answer["prompt_id"], describe_prompt_error(answer, prompt))
        return answer["prompt_id"]

    def interrupt(self, prompt_id: str | None = None) -> None:
        """POST /interrupt: stop the running prompt (only if it is `prompt_id`, when given)."""
        self._json("POST", "/interrupt", payload={"prompt_id": prompt_id} if prompt_id else {})

    def cancel(self, prompt_id: str) -> None:
        """Stop a prompt wherever it is: POST /queue {"delete"} drops it if it still waits in the
        queue, POST /interrupt stops it if it runs (/interrupt alone never touches a waiting prompt)."""
        self._json("POST", "/queue", payload={"delete": [prompt_id]})
        self.interrupt(prompt_id)

    def wait(self, prompt_id: str, on_progress: Callable[[dict], None] | None = None, timeout: float = 600.0, poll_interval: float = 0.5) -> dict:
        """Follow a queued prompt to its end and return its /history entry.

        on_progress receives ComfyUI's progress messages {"node", "value", "max", "prompt_id"}
        (only through /ws; polling sees none). Raises ComfyServerError with the server's words when
        the prompt fails or is interrupted, TimeoutError after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        use_websocket = self.use_websocket
        if use_websocket is None:
            use_websocket = _websocket_module() is not None
        entry = None
        if use_websocket:
            entry = self._wait_websocket(prompt_id, on_progress, deadline)
        if entry is None:
            entry = self._wait_polling(prompt_id, deadline, poll_interval)
        return check_history_entry(prompt_id, entry)

    def _wait_polling(self, prompt_id: str, deadline: float, poll_interval: float) -> dict:
        while True:
            entry = self.history(prompt_id)
            if entry is not None:  # the server stores the entry once, when the prompt has ended
                return entry
            if time.monotonic() > deadline:
                raise TimeoutError(f"prompt {prompt_id} did not finish in time on {self.server}; it may still be running (interrupt() stops it)")
            time.sleep(poll_interval)

    def _wait_websocket(self, prompt_id: str, on_progress, deadline: float) -> dict | None:
        """Follow /ws until the server says the prompt is done; None if /ws cannot be used."""
        websocket = _websocket_module()
        if websocket is None:
            return None
        ws_url = "ws" + self.server[len("http"):] + "/ws?" + urllib.parse.urlencode({"clientId": self.client_id})
        try:
            connection = websocket.create_connection(ws_url, timeout=self.request_timeout)
        except Exception as error:  # noqa: BLE001 - any failure to open /ws falls back to polling
            log.info("cannot open %s (%s); polling /history instead", ws_url, error)
            return None
        try:
            connection.settimeout(1.0)
            last_poll = 0.0
            while True:
                now = time.monotonic()
                # The prompt may have ended before we connected, or a message may be lost: poll too.
                if now - last_poll > 5.0:
                    last_poll = now
                    entry = self.history(prompt_id)
                    if entry is not None:
                        return entry
                if now > deadline:
                    raise TimeoutError(f"prompt {prompt_id} did not finish in time on {self.server}; it may still be running (interrupt() stops it)")
                try:
                    message = connection.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                except (websocket.WebSocketConnectionClosedException, OSError):
                    log.info("%s closed; polling /history instead", ws_url)
                    return None
                if not isinstance(message, str):
                    continue  # binary frames are preview images
                event = json.loads(message)
                data = event.get("data") or {}
                if data.get("prompt_id") != prompt_id:
                    continue
                if event.get("type") == "progress" and on_progress is not None:
                    on_progress(data)
                elif event.get("type") == "executing" and data.get("node") is None:
                    # Sent after the history entry is stored: the prompt is done.
                    last_poll = 0.0
        finally:
            connection.close()

    def download_outputs(self, history_entry: dict, out_dir: str, types: tuple[str, ...] = ("output", "temp")) -> list[str]:
        """Download every file a finished prompt produced (images, animations, videos, audio).

        Files are fetched through GET /view into out_dir/<subfolder>/<filename>; each is written to
        a temporary name first and renamed, so a failed download leaves no partial file. `types`
        selects the server folders ("output" = saved, "temp" = previews). Returns the paths.
        """
        paths = []
        for node_outputs in history_entry.get("outputs", {}).values():
            for items in node_outputs.values():
                for item in items if isinstance(items, list) else []:
                    if not isinstance(item, dict) or "filename" not in item or item.get("type", "output") not in types:
                        continue
                    subfolder = item.get("subfolder", "")
                    if not isinstance(item["filename"], str) or not isinstance(subfolder, str):
                        raise ComfyServerError(f"the server named an output with a filename {item['filename']!r} and subfolder {subfolder!r}; both must be text")
                    filename = os.path.basename(item["filename"])
                    if filename in ("", ".", "..") or os.path.isabs(subfolder) or ".." in subfolder.replace("\\", "/").split("/"):
                        raise ComfyServerError(f"the server named an output outside its folders: subfolder {subfolder!r}, filename {item['filename']!r}")
                    status, data = self._request("GET", "/view", query={"filename": item["filename"], "subfolder": subfolder, "type": item.get("type", "output")})
                    if status >= 400:
                        raise ComfyServerError(f"cannot download output {item['filename']!r}: HTTP {status}")
                    target = os.path.join(out_dir, subfolder, filename)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    partial = target + ".part"
                    with open(partial, "wb") as stream:
                        stream.write(data)
                    os.replace(partial, target)
                    paths.append(target)
        return paths


def _nonfinite_inputs(prompt: dict) -> list[tuple[str, str]]:
    """(node id, input name) of every NaN or infinite number among the prompt's inputs."""
    return [
        (str(node_id), str(name))
        for node_id, node in prompt.items() if isinstance(node, dict) and isinstance(node.get("inputs"), dict)
        for name, value in node["inputs"].items() if isinstance(value, float) and not math.isfinite(value)
    ]


def _websocket_module():
    try:
        import websocket
    except ImportError:
        return None
    return websocket if hasattr(websocket, "create_connection") else None


def output_texts(history_entry: dict) -> dict[str, list[str]]:
    """Text outputs of a finished prompt ({node id: [text, ...]}, e.g. from Preview Any)."""
    return {node_id: list(outputs["text"]) for node_id, outputs in history_entry.get("outputs", {}).items() if outputs.get("text")}


def describe_prompt_error(answer: dict, prompt: dict | None = None) -> str:
    """One readable text from a POST /prompt refusal: the error and every node's errors."""
    error = answer.get("error") or {}
    if isinstance(error, str):
        lines = [f"ComfyUI refused the prompt: {error}"]
    else:
        lines = [f"ComfyUI refused the prompt: {error.get('message', 'invalid prompt')}" + (f": {error['details']}" if error.get("details") else "")]
    for node_id, node_error in (answer.get("node_errors") or {}).items():
        class_type = node_error.get("class_type") or (prompt or {}).get(node_id, {}).get("class_type", "?")
        for item in node_error.get("errors", []):
            detail = f": {item['details']}" if item.get("details") else ""
            lines.append(f"  node {node_id} ({class_type}): {item.get('message', 'error')}{detail}")
    return "\n".join(lines)


def check_history_entry(prompt_id: str, entry: dict) -> dict:
    """Return the entry of a prompt that succeeded; raise ComfyServerError with the server's words if not."""
    if not isinstance(entry, dict):
        raise ComfyServerError(f"the history entry of prompt {prompt_id} must be a JSON object, but got {str(entry)[:200]}; is it a ComfyUI server?")
    status = entry.get("status") or {}
    if status.get("status_str") == "success":
        return entry
    for event, data in status.get("messages", []):
        if event == "execution_error":
            raise ComfyServerError(f"prompt {prompt_id} failed in node {data.get('node_id')} ({data.get('node_type')}): {data.get('exception_type')}: {data.get('exception_message', '').strip()}", data)
        if event == "execution_interrupted":
            raise ComfyServerError(f"prompt {prompt_id} was interrupted in node {data.get('node_id')} ({data.get('node_type')})", data)
    raise ComfyServerError(f"prompt {prompt_id} did not succeed: status {status.get('status_str')!r}", status)


def ui_to_api(ui_workflow: dict, object_info: dict) -> dict:
    """Convert a workflow saved from the editor (UI format) into the API format /prompt takes.

    object_info is the server's GET /object_info (or the same schema built another way): widget
    values are matched to inputs in the order the node declares them, the seed "control after
    generate" value is skipped, links become ["source id", output index], Reroute nodes are followed,
    a PrimitiveNode's value is the target widget's own value, notes and muted nodes are left out, and
    a bypassed node passes on what its input of the linked type receives, as the editor does.
    Groups of nodes saved as subgraphs are not supported (ValueError).
    """
    _check_ui_workflow(ui_workflow)
    graph = _UiGraph(ui_workflow)
    prompt = {}
    for node in graph.nodes.values():
        if node["type"] in EDITOR_ONLY_NODES or node.get("mode") in (MUTED_MODE, BYPASS_MODE):
            continue
        if node["type"] not in object_info:
            raise ValueError(f"node {node['id']} has type {node['type']!r}, which the server does not know; install the custom node pack that provides it")
        prompt[str(node["id"])] = _api_node(node, object_info[node["type"]], graph)
    return prompt


def _check_ui_workflow(ui_workflow) -> None:
    if not isinstance(ui_workflow, dict) or not isinstance(ui_workflow.get("nodes"), list):
        raise ValueError("ui_workflow must be a UI-format workflow with a 'nodes' list, but got " + (f"keys {sorted(ui_workflow)[:5]}" if isinstance(ui_workflow, dict) else type(ui_workflow).__name__))
    if (ui_workflow.get("definitions") or {}).get("subgraphs"):
        raise ValueError("ui_workflow must not contain subgraphs (not supported here); unpack them in the editor and save again")


class _UiGraph:
    """The nodes and links of a UI-format workflow, and where a link's value really comes from."""

    def __init__(self, ui_workflow: dict) -> None:
        self.links = _ui_links(ui_workflow.get("links"))  # link id -> (origin node id, origin output slot)
        self.nodes = _ui_nodes(ui_workflow["nodes"])

    def source_of(self, link_id, socket_type) -> tuple[dict, int] | None:
        """(node, output index) a link into a socket_type input comes from, through reroutes and
        bypassed nodes; None when nothing reaches it (a muted source, an unlinked bypass)."""
        if link_id not in self.links:
            raise ValueError(f"ui_workflow must hold every link its nodes use, but link {link_id!r} is missing from 'links'; {RESAVE}")
        origin_id, origin_slot = self.links[link_id]
        if origin_id not in self.nodes:
            raise ValueError(f"ui_workflow link {link_id!r} must come from one of its nodes, but node {origin_id!r} is missing from 'nodes'; {RESAVE}")
        origin = self.nodes[origin_id]
        if origin["type"] == "Reroute":
            upstream = (origin.get("inputs") or [{}])[0].get("link")
        elif origin.get("mode") == MUTED_MODE:
            return None
        elif origin.get("mode") == BYPASS_MODE:
            upstream = _bypass_input_link(origin, origin_slot, socket_type)
        else:
            return origin, origin_slot
        return None if upstream is None else self.source_of(upstream, socket_type)


def _bypass_input_link(node: dict, output_slot: int, socket_type):
    """The link a bypassed node passes on, by the editor's rule: its input at the output's slot if
    its type matches the target input's, else its first input of that type (None: no such input)."""
    inputs = node.get("inputs") or []
    for index in ([output_slot] if output_slot < len(inputs) else []) + list(range(len(inputs))):
        if inputs[index].get("type") == socket_type:
            return inputs[index].get("link")
    return None


def _api_node(node: dict, schema: dict, graph: _UiGraph) -> dict:
    """One API-format node: widget values and links as inputs, in the declared order, and its title."""
    declared = _declared_inputs(schema)
    inputs = _widget_inputs(node, declared)
    _add_linked_inputs(node, graph, inputs)
    order = [name for name, _ in declared if name in inputs] + [name for name in inputs if name not in dict(declared)]
    return {
        "class_type": node["type"],
        "inputs": {name: inputs[name] for name in order},  # declaration order, as the editor sends them
        "_meta": {"title": node.get("title") or schema.get("display_name") or node["type"]},
    }


def _widget_inputs(node: dict, declared: list[tuple[str, list]]) -> dict:
    """{input name: value} from the node's widgets_values (a list in declared order, or a dict)."""
    values = node.get("widgets_values") or []
    if isinstance(values, dict):
        return {name: values[name] for name, spec in declared if _is_widget(spec) and name in values}
    inputs = {}
    position = 0
    for name, spec in declared:
        if not _is_widget(spec):
            continue
        if position < len(values):
            inputs[name] = values[position]
        position += 1
        if _has_seed_control(name, spec) and position < len(values) and values[position] in SEED_CONTROL_VALUES:
            position += 1
    return inputs


def _add_linked_inputs(node: dict, graph: _UiGraph, inputs: dict) -> None:
    """Put each linked socket's ["source id", output index] into inputs (a widget converted to a
    socket is replaced; a link from nothing removes the input; a PrimitiveNode leaves the widget value)."""
    for socket in node.get("inputs") or []:
        if socket.get("link") is None:
            continue
        source = graph.source_of(socket["link"], socket.get("type"))
        if source is None:
            inputs.pop(socket["name"], None)
        elif source[0]["type"] != "PrimitiveNode":  # the target widget holds the primitive's value
            inputs[socket["name"]] = [str(source[0]["id"]), source[1]]


RESAVE = "the file is damaged or not saved by the ComfyUI editor: open it in the editor and save it again"


def _ui_links(links) -> dict:
    """{link id: (origin node id, origin slot)} of a UI workflow's 'links' (lists or objects), checked."""
    if links is None:
        return {}
    if not isinstance(links, list):
        raise ValueError(f"ui_workflow 'links' must be a list, but got {type(links).__name__}; {RESAVE}")
    found = {}
    for position, link in enumerate(links):
        if isinstance(link, dict) and all(key in link for key in ("id", "origin_id", "origin_slot")):
            link_id, origin_id, origin_slot = link["id"], link["origin_id"], link["origin_slot"]
        elif isinstance(link, list) and len(link) >= 3:
            link_id, origin_id, origin_slot = link[:3]
        else:
            raise ValueError(f"ui_workflow links[{position}] must be [id, origin node, origin slot, ...] or an object with id, origin_id and origin_slot, but got {str(link)[:80]}; {RESAVE}")
        if isinstance(origin_slot, bool) or not isinstance(origin_slot, int):
            raise ValueError(f"ui_workflow link {link_id!r} must have an integer origin slot, but got {origin_slot!r}; {RESAVE}")
        found[link_id] = (origin_id, origin_slot)
    return found


def _ui_nodes(nodes: list) -> dict:
    """{node id: node} of a UI workflow's 'nodes', each checked to have what ui_to_api reads."""
    found = {}
    for position, node in enumerate(nodes):
        if not isinstance(node, dict) or "id" not in node or not isinstance(node.get("type"), str):
            raise ValueError(f"ui_workflow nodes[{position}] must be an object with an 'id' and a 'type', but got {str(node)[:80]}; {RESAVE}")
        sockets = node.get("inputs") or []
        if not isinstance(sockets, list) or not all(isinstance(socket, dict) and isinstance(socket.get("name"), str) for socket in sockets):
            raise ValueError(f"ui_workflow node {node['id']!r} must list its inputs as objects with a 'name', but got {str(sockets)[:80]}; {RESAVE}")
        if not isinstance(node.get("widgets_values") or [], (list, dict)):
            raise ValueError(f"ui_workflow node {node['id']!r} must keep its widget values in a list, but got {type(node['widgets_values']).__name__}; {RESAVE}")
        found[node["id"]] = node
    return found


def _declared_inputs(schema: dict) -> list[tuple[str, list]]:
    declared = schema.get("input") or {}
    order = schema.get("input_order") or {section: list(declared.get(section) or {}) for section in ("required", "optional")}
    return [(name, declared[section][name]) for section in ("required", "optional") for name in order.get(section, []) if name in (declared.get(section) or {})]


def _is_widget(spec) -> bool:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if options.get("forceInput"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _has_seed_control(name: str, spec) -> bool:
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return spec[0] == "INT" and (bool(options.get("control_after_generate")) or name in ("seed", "noise_seed"))
