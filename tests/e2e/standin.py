#!/usr/bin/env python3
"""A local stand-in for the OpenAI Responses API, for running the released Codex CLI against.

It streams answers as the API does (SSE: response.created, response.output_item.done per item,
response.completed with usage), records every request body it is sent, and refuses with the
API's own HTTP 400 JSON any request whose tool calls and outputs do not pair. That rule is its
own, a few lines below, written from the API's documented refusals rather than taken from
toolseq, so the suite cannot agree with toolseq by construction.

What it answers is read from the newest real user message (one that is not contextual, such as
`<environment_context>` or `<turn_aborted>`):

    CALL <command>          one exec_command call per line (or per ` ;; `-separated part, as a
                            TUI prompt is one line), all in one response: parallel calls
    USAGE <n>               report n input tokens (to trigger Codex's auto-compaction)

A request whose input already holds calls after that message gets a final assistant message. A
compaction request (Codex's "CONTEXT CHECKPOINT COMPACTION" prompt) gets a summary.

Usage: standin.py --record DIR --port-file FILE
"""

import argparse
import itertools
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Call item type -> (output item type, the noun the API's refusal uses).
PAIRS = {
    "function_call": ("function_call_output", "function call"),
    "custom_tool_call": ("custom_tool_call_output", "custom tool call"),
    "local_shell_call": ("function_call_output", "local shell call"),
    "tool_search_call": ("tool_search_output", "tool search call"),
}
OUTPUT_NOUN = {
    "function_call_output": "function call output",
    "custom_tool_call_output": "custom tool call output",
    "tool_search_output": "tool search output",
}


def refusal(body):
    """The API's 400 message for an unpaired history, or None: every call has an output of its
    family somewhere in the input (the Responses API asks presence, not adjacency), and every
    output answers a call, unless the calls may live server-side (previous_response_id)."""
    items = [i for i in body.get("input", []) if isinstance(i, dict)]
    calls, outputs = {}, {}
    for item in items:
        kind = item.get("type")
        if kind in PAIRS:
            calls.setdefault(item.get("call_id"), kind)
        elif kind in OUTPUT_NOUN:
            outputs.setdefault(item.get("call_id"), kind)
    for call_id, kind in calls.items():
        answer, noun = PAIRS[kind]
        if outputs.get(call_id) != answer:
            return f"No tool output found for {noun} {call_id}."
    if "previous_response_id" not in body:
        for call_id, kind in outputs.items():
            if call_id not in calls or PAIRS[calls[call_id]][0] != kind:
                return (f"No tool call found for {OUTPUT_NOUN[kind]} with call_id {call_id}.")
    return None


def text_of(item):
    content = item.get("content")
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return "\n".join(parts)


def is_real_user_message(item):
    if item.get("type") != "message" or item.get("role") != "user":
        return False
    text = text_of(item).lstrip()
    return not text.startswith("<") and not text.startswith("# AGENTS.md")


class StandIn:
    def __init__(self, record):
        self.record = record
        self.seq = itertools.count(1)
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        os.makedirs(record, exist_ok=True)

    def next_id(self):
        with self.lock:
            return next(self.ids)

    def save(self, path, raw, status, error):
        """Keeps the body as sent (NNNN.json) and what was answered (NNNN.meta.json)."""
        with self.lock:
            n = next(self.seq)
        base = os.path.join(self.record, f"{n:04}")
        with open(base + ".json", "wb") as f:
            f.write(raw)
        meta = {"seq": n, "path": path, "status": status, "error": error}
        with open(base + ".meta.json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".meta.json.tmp", base + ".meta.json")

    def keep_export(self, signal, raw):
        with self.lock:
            with open(os.path.join(self.record, f"otlp-{signal}.jsonl"), "ab") as f:
                f.write(raw.replace(b"\n", b" ") + b"\n")

    def answer(self, body):
        """The output items and the reported input tokens for an accepted request."""
        items = [i for i in body.get("input", []) if isinstance(i, dict)]
        last = items[-1] if items else {}
        if last.get("type") == "message" and "CONTEXT CHECKPOINT COMPACTION" in text_of(last):
            return [self.message("Summary: the user asked for commands; they ran.")], 100
        real = [n for n, i in enumerate(items) if is_real_user_message(i)]
        if not real:
            return [self.message("Title")], 100
        start = real[-1]
        text = text_of(items[start])
        usage = 100
        commands = []
        for line in (part.strip() for l in text.splitlines() for part in l.split(" ;; ")):
            if line.startswith("CALL "):
                commands.append(line[5:].strip())
            elif line.startswith("USAGE "):
                usage = int(line[6:].strip())
        answered = any(i.get("type") in PAIRS for i in items[start + 1:])
        # Side requests (the TUI's thread title) offer no tools and get plain text.
        offered = {t.get("name") for t in body.get("tools", []) if isinstance(t, dict)}
        if commands and not answered and "exec_command" in offered:
            return [self.call(c) for c in commands], usage
        return [self.message("done")], usage

    def message(self, text):
        return {"type": "message", "role": "assistant", "id": f"msg_{self.next_id():06}",
                "content": [{"type": "output_text", "text": text, "annotations": []}]}

    def call(self, command):
        n = self.next_id()
        args = json.dumps({"cmd": command, "yield_time_ms": 30000})
        return {"type": "function_call", "id": f"fc_{n:06}", "call_id": f"call_{n:06}",
                "name": "exec_command", "arguments": args}


def handler(stand_in):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply_json(self, status, value):
            data = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/").endswith("/models"):
                self.reply_json(200, {"models": [], "data": []})
            else:
                self.reply_json(404, {"error": {"message": "not found"}})

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            path = self.path.rstrip("/")
            if path.endswith("/v1/logs") or path.endswith("/v1/traces"):
                # Codex's own OpenTelemetry export (OTLP/HTTP JSON), kept for the replay test.
                stand_in.keep_export(path.rsplit("/", 1)[1], raw)
                self.reply_json(200, {})
                return
            if not path.endswith("/responses"):
                self.reply_json(200, {})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                stand_in.save(self.path, raw, 400, "body is not JSON")
                self.reply_json(400, {"error": {"message": "We could not parse the JSON body.",
                                                "type": "invalid_request_error"}})
                return
            error = refusal(body)
            if error:
                stand_in.save(self.path, raw, 400, error)
                self.reply_json(400, {"error": {"message": error, "type": "invalid_request_error",
                                                "param": "input", "code": None}})
                return
            stand_in.save(self.path, raw, 200, None)
            items, usage = stand_in.answer(body)
            self.stream(items, usage)

        def stream(self, items, input_tokens):
            response_id = f"resp_{stand_in.next_id():06}"
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()

            def event(kind, data):
                data = dict(data, type=kind)
                self.wfile.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            event("response.created", {"response": {"id": response_id}})
            for index, item in enumerate(items):
                event("response.output_item.done", {"output_index": index, "item": item})
            usage = {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0},
                     "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
                     "total_tokens": input_tokens + 10}
            event("response.completed", {"response": {"id": response_id, "usage": usage}})
            self.close_connection = True

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", required=True, help="folder for the request bodies")
    parser.add_argument("--port-file", required=True, help="file the chosen port is written to")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(StandIn(args.record)))
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
