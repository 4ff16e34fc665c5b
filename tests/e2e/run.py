#!/usr/bin/env python3
"""End-to-end suite: the released Codex CLI against a local stand-in for the Responses API.

    python3 tests/e2e/run.py [--only NAME ...] [--list]

It installs what it needs when missing (the pinned npm package `@openai/codex`, `tmux`), builds
the `toolseq` command line, and runs each scenario with its own `CODEX_HOME` and its own
stand-in (`standin.py`), which refuses with the API's own 400 any request whose calls and
outputs do not pair. For each scenario it shows what Codex sent, what the rollout says and what
toolseq says of both, and checks what the scenario claims. Everything it writes goes under
`target/e2e/`; Codex's own OpenTelemetry export of each scenario is kept there for the replay
test (`tests/codex_replay.rs`), which the suite runs on the fresh capture at the end.

Exit status: 0 when every scenario passed, 1 when one failed, 2 when the suite could not run.
"""

import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = os.path.join(ROOT, "target", "e2e")
CODEX_VERSION = "0.171.0"
STANDIN = os.path.join(ROOT, "tests", "e2e", "standin.py")
TOOLSEQ = os.path.join(ROOT, "target", "debug", "toolseq")


class CannotRun(Exception):
    """The suite cannot run here: said clearly, exit 2."""


class Failed(Exception):
    """A scenario's claim did not hold."""


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# --- what the suite needs ---------------------------------------------------------------------

def ensure_codex():
    prefix = os.path.join(WORK, "npm")
    binary = os.path.join(prefix, "node_modules", "@openai", "codex-linux-x64", "vendor",
                          "x86_64-unknown-linux-musl", "bin", "codex")
    if not os.path.exists(binary):
        if not shutil.which("npm"):
            raise CannotRun("npm is not installed: it is needed to install @openai/codex")
        print(f"installing @openai/codex@{CODEX_VERSION} with npm ...", flush=True)
        os.makedirs(prefix, exist_ok=True)
        done = run(["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund",
                    f"@openai/codex@{CODEX_VERSION}"])
        if done.returncode != 0 or not os.path.exists(binary):
            raise CannotRun(f"npm could not install @openai/codex@{CODEX_VERSION}:\n"
                            f"{done.stderr[-2000:]}")
    version = run([binary, "--version"]).stdout.strip()
    if version != f"codex-cli {CODEX_VERSION}":
        raise CannotRun(f"{binary} says {version!r}, not codex-cli {CODEX_VERSION}")
    return binary


def ensure_tmux():
    if shutil.which("tmux"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing tmux with apt-get ...", flush=True)
        run(["apt-get", "update", "-q"])
        run(["apt-get", "install", "-y", "-q", "tmux"])
    if not shutil.which("tmux"):
        raise CannotRun("tmux is not installed and could not be installed: the interactive "
                        "scenarios drive Codex's TUI in tmux (install it: apt-get install tmux)")


def build_toolseq():
    # All features, as the test command builds it: the proxy scenario runs `toolseq proxy`.
    done = run(["cargo", "build", "--quiet", "--all-features", "--bin", "toolseq"], cwd=ROOT)
    if done.returncode != 0:
        raise CannotRun(f"cargo could not build toolseq:\n{done.stderr[-3000:]}")


def toolseq(*args):
    done = run([TOOLSEQ, *args])
    return done.returncode, done.stdout, done.stderr


def verdict(path, fmt="auto"):
    """toolseq's --json report on a file, and its exit code."""
    code, out, err = toolseq("check", "--json", "--format", fmt, path)
    if code not in (0, 1):
        raise Failed(f"toolseq check {path} exited {code}: {err.strip()}")
    return json.loads(out), code


def rules_of(report):
    return [f"{v['rule']} {v.get('call_id') or ''}".strip() for v in report["violations"]]


# --- the stand-in and Codex -----------------------------------------------------------------------

class StandIn:
    def __init__(self, folder):
        self.record = os.path.join(folder, "rec")
        port_file = os.path.join(folder, "port")
        self.log = open(os.path.join(folder, "standin.log"), "w")
        self.proc = subprocess.Popen([sys.executable, STANDIN, "--record", self.record,
                                      "--port-file", port_file],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if time.time() > deadline or self.proc.poll() is not None:
                raise CannotRun("the stand-in did not start: see " + self.log.name)
            time.sleep(0.05)
        self.port = int(open(port_file).read())
        self.url = f"http://127.0.0.1:{self.port}"

    def requests(self):
        """Every model request so far, oldest first: (meta, body, path of the body)."""
        out = []
        for meta_path in sorted(glob.glob(os.path.join(self.record, "*.meta.json"))):
            body_path = meta_path.replace(".meta.json", ".json")
            meta = json.load(open(meta_path))
            try:
                body = json.load(open(body_path))
            except ValueError:
                body = None
            out.append((meta, body, body_path))
        return out

    def wait_requests(self, n, timeout=30):
        deadline = time.time() + timeout
        while len(self.requests()) < n:
            if time.time() > deadline:
                raise Failed(f"the stand-in saw {len(self.requests())} requests, not {n}")
            time.sleep(0.1)

    def exported(self, signal_name):
        path = os.path.join(self.record, f"otlp-{signal_name}.jsonl")
        return open(path).read() if os.path.exists(path) else ""

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


class Proxy:
    """`toolseq proxy` in front of the stand-in, as a user starts it."""

    def __init__(self, folder, upstream):
        self.record = os.path.join(folder, "proxy.jsonl")
        self.log_path = os.path.join(folder, "proxy.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([TOOLSEQ, "proxy", "--listen", "127.0.0.1:0", "--upstream",
                                      upstream, "--record", self.record],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while True:
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", open(self.log_path).read())
            if match:
                self.url = match.group(1)
                break
            if time.time() > deadline or self.proc.poll() is not None:
                raise CannotRun("toolseq proxy did not start: see " + self.log_path)
            time.sleep(0.05)

    def records(self):
        if not os.path.exists(self.record):
            return []
        return [json.loads(line) for line in open(self.record) if line.strip()]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


class Codex:
    """One CODEX_HOME, pointed at the stand-in, with its OpenTelemetry export there too."""

    def __init__(self, binary, folder, stand_in, extra_config="", via=None):
        self.binary = binary
        self.home = os.path.join(folder, "home")
        self.cwd = os.path.join(folder, "work")
        os.makedirs(self.home, exist_ok=True)
        os.makedirs(self.cwd, exist_ok=True)
        # `via`: a `toolseq proxy` in front of the stand-in, for the model and the export alike.
        url = via or stand_in.url
        with open(os.path.join(self.home, "config.toml"), "w") as f:
            f.write(f'''model = "gpt-5"
model_provider = "stand_in"
{extra_config}
[model_providers.stand_in]
name = "stand-in"
base_url = "{url}/v1"
wire_api = "responses"

[projects."{self.cwd}"]
trust_level = "trusted"

[otel]
exporter = {{ otlp-http = {{ endpoint = "{url}/v1/logs", protocol = "json" }} }}
trace_exporter = {{ otlp-http = {{ endpoint = "{url}/v1/traces", protocol = "json" }} }}
''')
        # OpenTelemetry's batch processors read these: export within a fraction of a second.
        self.env = dict(os.environ, CODEX_HOME=self.home, OTEL_BSP_SCHEDULE_DELAY="200",
                        OTEL_BLRP_SCHEDULE_DELAY="200", NO_COLOR="1")
        self.env.pop("RUST_LOG", None)

    def exec(self, *args, timeout=120):
        cmd = [self.binary, "exec", *args]
        done = subprocess.run(cmd, cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        return done

    def exec_prompt(self, prompt):
        done = self.exec("--skip-git-repo-check", "-s", "danger-full-access", prompt)
        if done.returncode != 0:
            raise Failed(f"codex exec exited {done.returncode}: {done.stderr[-1500:]}")
        return done

    def resume(self, thread, prompt):
        return self.exec("--skip-git-repo-check", "-s", "danger-full-access", "resume",
                         thread, prompt)

    def rollouts(self):
        return sorted(glob.glob(os.path.join(self.home, "sessions", "**", "rollout-*.jsonl"),
                                recursive=True))

    def stop_daemons(self):
        """The TUI starts a managed app-server daemon under CODEX_HOME: end it, so that its
        telemetry is flushed and no process outlives the scenario."""
        for pid_dir in os.listdir("/proc"):
            if not pid_dir.isdigit():
                continue
            try:
                cmdline = open(f"/proc/{pid_dir}/cmdline", "rb").read().decode(errors="replace")
            except OSError:
                continue
            if self.home in cmdline and "app-server" in cmdline:
                try:
                    os.kill(int(pid_dir), signal.SIGTERM)
                except OSError:
                    pass


def thread_of(rollout):
    match = re.search(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl$",
                      rollout)
    if not match:
        raise Failed(f"no thread id in {rollout}")
    return match.group(1)


def read_lines(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def write_lines(path, lines):
    with open(path, "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")


class Tui:
    """Codex's interactive CLI in a tmux session."""

    def __init__(self, codex, name):
        self.codex = codex
        self.session = f"toolseq-e2e-{name}-{os.getpid()}"
        env = " ".join(f"{k}={v}" for k, v in codex.env.items()
                       if k in ("CODEX_HOME", "OTEL_BSP_SCHEDULE_DELAY",
                                "OTEL_BLRP_SCHEDULE_DELAY", "NO_COLOR"))
        done = run(["tmux", "new-session", "-d", "-s", self.session, "-x", "200", "-y", "50",
                    "-c", codex.cwd, f"env {env} {codex.binary} -s danger-full-access"])
        if done.returncode != 0:
            raise CannotRun(f"tmux could not start a session: {done.stderr.strip()}")
        self.wait_for("Ask Codex to do anything", timeout=60)

    def screen(self):
        return run(["tmux", "capture-pane", "-p", "-t", self.session]).stdout

    def wait_for(self, text, timeout=30):
        deadline = time.time() + timeout
        while text not in self.screen():
            if time.time() > deadline:
                raise Failed(f"the TUI never showed {text!r}; it shows:\n{self.screen()}")
            time.sleep(0.1)

    def interrupt(self):
        """Esc while a turn runs, until the TUI says the turn was interrupted once more."""
        before = self.screen().count("Conversation interrupted")
        self.wait_for("esc to interrupt")
        for _ in range(3):
            self.key("Escape")
            deadline = time.time() + 3
            while time.time() < deadline:
                if self.screen().count("Conversation interrupted") > before:
                    # A key typed right after Esc would be read as Alt and that key.
                    time.sleep(0.5)
                    return
                time.sleep(0.1)
        raise Failed(f"Esc did not interrupt the turn; the TUI shows:\n{self.screen()}")

    def type(self, text):
        run(["tmux", "send-keys", "-t", self.session, "-l", text])
        time.sleep(0.3)
        run(["tmux", "send-keys", "-t", self.session, "Enter"])

    def key(self, key):
        run(["tmux", "send-keys", "-t", self.session, key])

    def close(self):
        self.type("/quit")
        time.sleep(1)
        run(["tmux", "kill-session", "-t", self.session])
        self.codex.stop_daemons()


# --- what a request holds -----------------------------------------------------------------------

def text_of(item):
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def describe(item):
    """One item of a request as a short token: kinds and ids, a few words of user text."""
    kind = item.get("type", "message")
    if kind == "message":
        text = text_of(item).strip()
        if item.get("role") != "user":
            return item.get("role", "?")
        tag = re.match(r"<([a-z_]+)", text)
        return f"user<{tag.group(1)}>" if tag else f"user:{text[:24]!r}"
    if kind.endswith("_output"):
        output = item.get("output")
        words = (output if isinstance(output, str) else json.dumps(output)).strip().splitlines()
        return f"output({item.get('call_id')}: {words[-1][:28] if words else ''!r})"
    if kind.endswith("_call"):
        return f"{kind}({item.get('call_id')})"
    return kind


def sequence(body):
    """A request's items, the instructions Codex sends first left out."""
    items = [i for i in body.get("input", []) if isinstance(i, dict)]
    shown = [describe(i) for i in items if i.get("role") != "developer"]
    return " ".join(shown)


def index_of(items, pred, start=0):
    for n, item in enumerate(items[start:], start):
        if pred(item):
            return n
    return None


def is_call(call_id):
    return lambda i: i.get("type") == "function_call" and i.get("call_id") == call_id


def is_output(call_id):
    return lambda i: i.get("type") == "function_call_output" and i.get("call_id") == call_id


def is_user(text):
    return lambda i: i.get("role") == "user" and text in text_of(i)


def calls_of(body):
    return [i["call_id"] for i in body.get("input", []) if i.get("type") == "function_call"]


def output_text(body, call_id):
    for item in body.get("input", []):
        if is_output(call_id)(item):
            out = item.get("output")
            return out if isinstance(out, str) else json.dumps(out)
    return None


# --- scenarios ------------------------------------------------------------------------------------

class Scenario:
    def __init__(self, name, binary):
        self.name = name
        self.folder = os.path.join(WORK, name)
        shutil.rmtree(self.folder, ignore_errors=True)
        os.makedirs(self.folder)
        self.binary = binary
        self.stand_in = StandIn(self.folder)
        self.notes = []
        self.checks = []

    def codex(self, extra_config="", via=None):
        return Codex(self.binary, self.folder, self.stand_in, extra_config, via)

    def expect(self, ok, claim):
        self.checks.append((bool(ok), claim))
        if not ok:
            raise Failed(claim)

    def note(self, text):
        self.notes.append(text)

    def sent(self, start=0):
        """Notes each request Codex sent from `start` on and what toolseq says of it; every
        one must be accepted and called clean."""
        requests = self.stand_in.requests()
        for meta, body, path in requests[start:]:
            report, _ = verdict(path, "responses")
            said = ", ".join(rules_of(report)) or "clean"
            self.note(f"request {meta['seq']}: {meta['status']} {meta['error'] or ''}".rstrip())
            self.note(f"    {sequence(body)}")
            self.note(f"    toolseq: {said}")
            self.expect(meta["status"] == 200, f"the stand-in accepted request {meta['seq']}")
            self.expect(not report["violations"], f"toolseq calls request {meta['seq']} clean")
        return [body for _, body, _ in requests]

    def rollout_clean(self, rollout):
        report, _ = verdict(rollout, "rollout")
        said = ", ".join(rules_of(report)) or "clean"
        self.note(f"rollout {os.path.basename(rollout)}: toolseq: {said}")
        self.expect(not report["violations"], "toolseq calls the rollout clean as Codex resumes it")

    def finish(self):
        self.stand_in.stop()


def tool_call(s):
    """One exec_command call, answered: Codex's requests pair, and so does its rollout."""
    codex = s.codex()
    codex.exec_prompt("CALL echo hello")
    bodies = s.sent()
    s.expect(len(bodies) == 2, "Codex sent two requests: the prompt, then the call's output")
    call = calls_of(bodies[1])[0]
    s.expect("hello" in (output_text(bodies[1], call) or ""), "the output carries the echo")
    s.rollout_clean(codex.rollouts()[0])


def interactive(s):
    """The TUI: a prompt typed into a running turn, the race this crate was made for (Esc while
    a long command runs, then a new message), and two parallel calls with one interrupted."""
    codex = s.codex()
    tui = Tui(codex, s.name)
    try:
        # 1. Steering: text typed while the call runs.
        tui.type("CALL sleep 3")
        s.stand_in.wait_requests(2)
        tui.wait_for("esc to interrupt")
        tui.type("steer: then say bye")
        tui.wait_for("Worked for", timeout=40)
        # 2. The race: Esc while a long call runs, then a new message.
        start = len(s.stand_in.requests())
        tui.type("CALL sleep 30")
        s.stand_in.wait_requests(start + 1)
        tui.wait_for("esc to interrupt")
        time.sleep(1.5)
        tui.interrupt()
        tui.type("after the interrupt: say hi")
        s.stand_in.wait_requests(start + 2)
        # 3. Two parallel calls, the slow one interrupted after the quick one finished.
        start = len(s.stand_in.requests())
        tui.type("CALL sleep 1 ;; CALL sleep 30")
        s.stand_in.wait_requests(start + 1)
        time.sleep(3)
        tui.interrupt()
        tui.type("after the parallel interrupt: say hi")
        s.stand_in.wait_requests(start + 2)
        time.sleep(1)
        bodies = [b for b in s.sent()]
        calls = [c for b in bodies for c in calls_of(b)]
        wait_for_export(s, set(calls))
    finally:
        tui.close()
    last = bodies[-1]
    items = last["input"]
    steer, race, quick, slow = dict.fromkeys(calls).keys()
    # Steering: Codex placed the typed text after the call's output.
    out = index_of(items, is_output(steer))
    s.expect(out is not None and index_of(items, is_user("steer: then say bye"), out) is not None,
             "the prompt typed into the running turn comes after the call's output")
    # The race: the interrupted call is answered by Codex, then the marker, then the message.
    out = index_of(items, is_output(race))
    s.expect(out == index_of(items, is_call(race)) + 1, "the interrupted call's output follows it")
    s.expect("aborted by user" in output_text(last, race), "Codex answers it `aborted by user`")
    marker = index_of(items, is_user("<turn_aborted>"), out)
    new = index_of(items, is_user("after the interrupt: say hi"), out)
    s.expect(marker is not None and new is not None and marker < new,
             "then the <turn_aborted> marker, then the new message")
    # Parallel: both answered, in call order, before the marker and the new message.
    q, w = index_of(items, is_output(quick)), index_of(items, is_output(slow))
    s.expect(q is not None and w is not None and q < w, "both parallel calls answered in order")
    s.expect("aborted by user" not in output_text(last, quick), "the quick call kept its output")
    s.expect("aborted by user" in output_text(last, slow), "the slow one is `aborted by user`")
    s.expect(index_of(items, is_user("after the parallel interrupt"), w) is not None,
             "the new message comes after both outputs")
    for rollout in codex.rollouts():
        s.rollout_clean(rollout)
    keep_capture(s)


def wait_for_export(s, call_ids, timeout=30):
    """Waits until Codex's OpenTelemetry export holds every call's dispatch span."""
    deadline = time.time() + timeout
    while True:
        traces = s.stand_in.exported("traces")
        missing = [c for c in call_ids if f'"{c}"' not in traces]
        if not missing:
            return
        if time.time() > deadline:
            s.note(f"the OpenTelemetry export never held {', '.join(missing)}")
            return
        time.sleep(0.2)


def keep_capture(s):
    traces, logs = s.stand_in.exported("traces"), s.stand_in.exported("logs")
    s.expect(traces, "Codex exported its traces to the stand-in")
    s.note(f"OpenTelemetry export kept: {len(traces)} bytes of traces, {len(logs)} of logs")


def compaction(s):
    """Auto-compaction mid-turn (reported usage over the limit), then a resumed turn: the
    `compacted` line's two arrays are of one length and Codex resumes from the checkpoint."""
    codex = s.codex("model_auto_compact_token_limit = 5000")
    codex.exec_prompt("CALL echo one\nUSAGE 900000")
    rollout = codex.rollouts()[0]
    compacted = [l for l in read_lines(rollout) if l["type"] == "compacted"]
    s.expect(compacted, "Codex compacted")
    p = compacted[0]["payload"]
    s.expect(len(p["replacement_history"]) == len(p["replacement_history_metadata"]),
             "replacement_history and its metadata have one length")
    s.note("replacement history: " + " ".join(describe(i) for i in p["replacement_history"]
                                               if i.get("role") != "developer"))
    s.rollout_clean(rollout)
    start = len(s.stand_in.requests())
    done = codex.resume(thread_of(rollout), "after compaction: say done")
    s.expect(done.returncode == 0, "codex exec resume exits 0")
    bodies = s.sent()
    s.expect(not calls_of(bodies[-1]), "the resumed request starts from the checkpoint, "
             "which kept no tool calls")
    s.expect(len(bodies) > start, "the resumed turn reached the stand-in")
    return codex, rollout


def broken_output(s):
    """A rollout whose output line was removed by hand: toolseq finds it, `toolseq fix`
    answers it, and the resumed Codex sends toolseq's answer, which the stand-in accepts."""
    codex = s.codex()
    codex.exec_prompt("CALL echo hello")
    rollout = codex.rollouts()[0]
    lines = read_lines(rollout)
    call = next(l["payload"]["call_id"] for l in lines
                if l["type"] == "response_item" and l["payload"].get("type") == "function_call")
    write_lines(rollout, [l for l in lines if not (l["type"] == "response_item" and
                                                  l["payload"].get("type") == "function_call_output")])
    report, code = verdict(rollout, "rollout")
    s.note(f"broken rollout: toolseq: {', '.join(rules_of(report))} (exit {code})")
    s.expect(rules_of(report) == [f"missing_output {call}"], "toolseq finds the missing output")
    fixed = rollout + ".fixed"
    code, _, err = toolseq("fix", "--text", "lost, answered by toolseq fix", "-o", fixed, rollout)
    s.expect(code == 0, f"toolseq fix exits 0 ({err.strip()})")
    os.replace(fixed, rollout)
    s.rollout_clean(rollout)
    start = len(s.stand_in.requests())
    done = codex.resume(thread_of(rollout), "continue")
    s.expect(done.returncode == 0, f"codex exec resume exits 0 ({done.stderr[-300:]})")
    bodies = s.sent(start)
    s.expect("answered by toolseq fix" in (output_text(bodies[-1], call) or ""),
             "the resumed request carries the output toolseq wrote")


def broken_compaction(s):
    """A replacement history that lost an output: `toolseq fix` answers it inside the
    `compacted` line, keeps replacement_history_metadata in step, and the real CLI resumes from
    that checkpoint. The control shows what Codex does when the arrays are out of step."""
    codex = s.codex("model_auto_compact_token_limit = 5000")
    codex.exec_prompt("CALL echo one\nUSAGE 900000")
    rollout = codex.rollouts()[0]
    lines = read_lines(rollout)
    at = next(n for n, l in enumerate(lines) if l["type"] == "compacted")
    p = lines[at]["payload"]
    # A call kept in the checkpoint whose output was not: the history loses the output.
    lost = {"type": "function_call", "call_id": "call_lost", "name": "exec_command",
            "arguments": json.dumps({"cmd": "true"})}
    k = index_of(p["replacement_history"], is_user("CALL echo one")) + 1
    p["replacement_history"].insert(k, lost)
    p["replacement_history_metadata"].insert(k, dict(p["replacement_history_metadata"][k - 1]))
    write_lines(rollout, lines)
    report, code = verdict(rollout, "rollout")
    s.note(f"broken checkpoint: toolseq: {', '.join(rules_of(report))} (exit {code})")
    s.expect(rules_of(report) == ["missing_output call_lost"], "toolseq finds it in the checkpoint")
    fixed = rollout + ".fixed"
    code, _, err = toolseq("fix", "--text", "lost, answered by toolseq fix", "-o", fixed, rollout)
    s.expect(code == 0, f"toolseq fix exits 0 ({err.strip()})")
    p = read_lines(fixed)[at]["payload"]
    s.expect(len(p["replacement_history"]) == len(p["replacement_history_metadata"]),
             "the fixed checkpoint's two arrays have one length")

    # Control: the arrays out of step, as `toolseq fix` used to leave them.
    # Its own CODEX_HOME holding only the sessions: Codex's state database records where each
    # thread's rollout lives, and a copy of it would point the control at the original file.
    control = Codex(codex.binary, os.path.join(s.folder, "control"), s.stand_in)
    shutil.copytree(os.path.join(codex.home, "sessions"), os.path.join(control.home, "sessions"))
    control_rollout = control.rollouts()[0]
    broken = read_lines(control_rollout)
    broken[at]["payload"]["replacement_history"].insert(k + 1, {
        "type": "function_call_output", "call_id": "call_lost", "output": "out of step"})
    write_lines(control_rollout, broken)
    start = len(s.stand_in.requests())
    done = control.resume(thread_of(control_rollout), "control: continue")
    s.expect(done.returncode == 0, "the control resume exits 0")
    control_body = s.sent(start)[-1]
    s.note("control, arrays out of step: Codex sent " + sequence(control_body))
    s.expect(done.stderr.count("replacement_history") == 0 and "call_lost" not in
             calls_of(control_body) and calls_of(control_body),
             "control: Codex silently discarded the checkpoint and sent the history before it")

    os.replace(fixed, rollout)
    s.rollout_clean(rollout)
    start = len(s.stand_in.requests())
    done = codex.resume(thread_of(rollout), "continue")
    s.expect(done.returncode == 0, f"codex exec resume exits 0 ({done.stderr[-300:]})")
    body = s.sent(start)[-1]
    s.expect("call_lost" in calls_of(body), "Codex resumed from the fixed checkpoint")
    s.expect("answered by toolseq fix" in (output_text(body, "call_lost") or ""),
             "with the output toolseq wrote")


def proxy(s):
    """The released Codex through `toolseq proxy`, its OpenTelemetry export sent there too:
    every request reaches the stand-in as Codex wrote it, answers stream back, each request is
    recorded by its ids and hashes under Codex's thread id, never its text, and the export
    feeds the proxy's ledger, which knows the calls of a resumed request."""
    p = Proxy(s.folder, s.stand_in.url)
    try:
        codex = s.codex(via=p.url)
        codex.exec_prompt("CALL echo hello-through-the-proxy")
        thread = thread_of(codex.rollouts()[0])
        # The export of the first run is flushed when it exits; the resumed request carries
        # its call and output.
        done = codex.resume(thread, "say done")
        s.expect(done.returncode == 0, f"codex exec resume exits 0 ({done.stderr[-300:]})")
        bodies = s.sent()
        records = [r for r in p.records() if r["path"].endswith("/responses")]
        s.note(f"proxy: {len(records)} model requests recorded, "
               f"{len(p.records()) - len(records)} other requests passed")
        for r in records:
            s.note(f"    {r['action']} {r['status']} conversation {r['conversation']}: "
                   f"{len(r['items'])} entries, {r['calls']} calls ({r['calls_seen']} in the "
                   f"export), findings "
                   f"{[f['finding'] for f in r['findings']] or 'none'}")
        s.expect(len(records) == len(bodies), "every model request went through the proxy")
        s.expect(all(r["action"] == "clean" and r["status"] == 200 for r in records),
                 "each was clean, forwarded untouched and accepted")
        s.expect(all(r["conversation"] == thread for r in records if r["calls"]),
                 "recorded under Codex's thread id (its prompt_cache_key)")
        s.expect(records[-1]["calls"] >= 1 and records[-1]["calls_seen"] == records[-1]["calls"],
                 "the resumed request's calls are ones the proxy's ledger saw in Codex's export")
        text = open(p.record).read()
        s.expect("hello-through-the-proxy" not in text, "the record holds no text of the history")
        code, out, _ = toolseq("timeline", p.record)
        s.expect(code == 0 and f"conversation {thread}" in out, "toolseq timeline reads the record")
        s.expect("panicked" not in open(p.log_path).read(), "the proxy never panicked")
    finally:
        p.stop()


def control(s):
    """A history broken on purpose, sent straight to the stand-in: refused with the API's 400,
    so the suite can fail; toolseq says the same of it."""
    body = {"model": "gpt-5", "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
        {"type": "function_call", "call_id": "call_X", "name": "exec_command", "arguments": "{}"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "next"}]}]}
    path = os.path.join(s.folder, "broken.json")
    json.dump(body, open(path, "w"))
    done = run(["curl", "-s", "-o", os.path.join(s.folder, "answer.json"), "-w", "%{http_code}",
                "-H", "content-type: application/json", "--data-binary", "@" + path,
                s.stand_in.url + "/v1/responses"])
    answer = json.load(open(os.path.join(s.folder, "answer.json")))
    s.note(f"stand-in: {done.stdout} {answer['error']['message']}")
    s.expect(done.stdout == "400", "the stand-in refuses it with a 400")
    s.expect(answer["error"]["message"] == "No tool output found for function call call_X.",
             "in the API's words")
    report, code = verdict(path, "responses")
    s.note(f"toolseq: {', '.join(rules_of(report))} (exit {code})")
    s.expect(rules_of(report) == ["missing_output call_X"], "toolseq finds the same call")


SCENARIOS = {
    "control": control,
    "tool_call": tool_call,
    "interactive": interactive,
    "compaction": compaction,
    "broken_output": broken_output,
    "broken_compaction": broken_compaction,
    "proxy": proxy,
}


def replay(capture):
    """The replay test on this run's capture of Codex's instrumentation."""
    env = dict(os.environ, TOOLSEQ_CODEX_CAPTURE=capture)
    done = subprocess.run(["cargo", "test", "--quiet", "--test", "codex_replay"], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    return done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="scenarios to run")
    parser.add_argument("--list", action="store_true", help="list the scenarios and stop")
    args = parser.parse_args()
    if args.list:
        for name, fn in SCENARIOS.items():
            print(f"{name}: {fn.__doc__.split(chr(10))[0]}")
        return 0
    try:
        binary = ensure_codex()
        ensure_tmux()
        build_toolseq()
    except CannotRun as e:
        print(f"e2e: cannot run: {e}", file=sys.stderr)
        return 2
    results = []
    started = time.time()
    for name in args.only or SCENARIOS:
        s = Scenario(name, binary)
        began = time.time()
        try:
            SCENARIOS[name](s)
            ok, why = True, ""
        except (Failed, subprocess.TimeoutExpired) as e:
            ok, why = False, str(e)
        except CannotRun as e:
            print(f"e2e: cannot run: {e}", file=sys.stderr)
            return 2
        finally:
            s.finish()
        results.append({"scenario": name, "passed": ok, "failure": why, "notes": s.notes,
                        "checks": [{"ok": c, "claim": t} for c, t in s.checks],
                        "seconds": round(time.time() - began, 1)})
        print(f"{'PASS' if ok else 'FAIL'} {name} ({results[-1]['seconds']} s)")
        for line in s.notes:
            print(f"    {line}")
        if not ok:
            print(f"    failed: {why}")
    if "interactive" in (args.only or SCENARIOS):
        capture = os.path.join(WORK, "interactive", "rec")
        ok, out = replay(capture)
        results.append({"scenario": "replay", "passed": ok, "failure": "" if ok else out})
        print(f"{'PASS' if ok else 'FAIL'} replay of the interactive scenario's capture "
              f"through the layer")
        if not ok:
            print(out)
    json.dump(results, open(os.path.join(WORK, "report.json"), "w"), indent=1)
    failed = [r["scenario"] for r in results if not r["passed"]]
    print(f"e2e: {len(results) - len(failed)} passed, {len(failed)} failed "
          f"in {time.time() - started:.0f} s (report: target/e2e/report.json)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
