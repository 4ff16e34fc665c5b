#!/usr/bin/env bash
# toolseq check side by side with what people write today, in one run on one machine:
#   - a generated Codex rollout of ROLLOUT_MB MiB: `toolseq check` against a line-by-line Python
#     `json.loads` scan that pairs call ids;
#   - a generated Responses body of BODY_MB MB: `toolseq check` against Python's `json.load` alone;
#   - `toolseq check --json` on a body whose outputs are all missing (peak memory against its size).
# Prints wall time (median of RUNS=3 runs) and peak resident size of each, and the ratios. Not
# part of the tests:
#   [RUNS=3] bash benches/compare.sh [ROLLOUT_MB=200] [BODY_MB=100]
set -euo pipefail
cd "$(dirname "$0")/.."
rollout_mb=${1:-200}
body_mb=${2:-100}
dir=${TMPDIR:-/tmp}/toolseq-compare
mkdir -p "$dir"

cargo build -q --release --features cli --bin toolseq --example gen_rollout
bin=target/release/toolseq

[ -s "$dir/rollout.jsonl" ] && [ "$(du -m "$dir/rollout.jsonl" | cut -f1)" -ge "$rollout_mb" ] ||
    target/release/examples/gen_rollout "$rollout_mb" > "$dir/rollout.jsonl"
# The same size in short lines (outputs of 300 bytes): three times the lines, each an entry.
[ -s "$dir/short.jsonl" ] && [ "$(du -m "$dir/short.jsonl" | cut -f1)" -ge "$rollout_mb" ] ||
    target/release/examples/gen_rollout "$rollout_mb" 300 > "$dir/short.jsonl"

python3 - "$dir" "$body_mb" <<'EOF'
import json, os, sys
d, mb = sys.argv[1], int(sys.argv[2])
path = f"{d}/body.json"
if not (os.path.exists(path) and os.path.getsize(path) >= mb * 1_000_000):
    items, size, n = [], 0, 0
    while size < mb * 1_000_000:
        call = {"type": "function_call", "call_id": f"call_{n}", "name": "shell",
                "arguments": json.dumps({"cmd": ["ls", "-la", f"/work/dir{n}"]})}
        out = {"type": "function_call_output", "call_id": f"call_{n}", "output": "x" * 120}
        items += [call, out]
        size += len(json.dumps(call)) + len(json.dumps(out)) + 4
        n += 1
    with open(path, "w") as f:
        json.dump({"model": "gpt-5", "input": items}, f)
    # Every output missing: one violation per call.
    calls = [i for i in items if i["type"] == "function_call"][: len(items) // 4]
    with open(f"{d}/missing.json", "w") as f:
        json.dump({"model": "gpt-5", "input": calls}, f)
EOF

cat > "$dir/scan.py" <<'EOF'
import json, sys
calls, outs = set(), set()
for line in open(sys.argv[1], "rb"):
    rec = json.loads(line)
    if rec.get("type") != "response_item":
        continue
    p = rec["payload"]
    t = p.get("type", "")
    if t.endswith("_call"):
        calls.add(p.get("call_id"))
    elif t.endswith("_output"):
        outs.add(p.get("call_id"))
print(len(calls - outs), "missing,", len(outs - calls), "orphan")
EOF
cat > "$dir/load.py" <<'EOF'
import json, sys
print(len(json.load(open(sys.argv[1], "rb"))["input"]), "items")
EOF

# Runs a command RUNS times (default 3: the machine is shared and noisy); prints the median
# wall time in seconds (to the millisecond, where /usr/bin/time gives hundredths) and the
# largest peak resident size in KiB.
measure() {
    local times=() peak=0 start end kib
    for _ in $(seq "${RUNS:-3}"); do
        start=$(date +%s%N)
        /usr/bin/time -f "%M" -o "$dir/time" "$@" > /dev/null 2>&1 || true
        end=$(date +%s%N)
        times+=($(( (end - start) / 1000000 )))
        kib=$(tail -n 1 "$dir/time")  # a failing command adds a line before it
        (( kib > peak )) && peak=$kib
    done
    local median
    median=$(printf "%s\n" "${times[@]}" | sort -n | sed -n "$(( (${#times[@]} + 1) / 2 ))p")
    printf "%d.%03d %d\n" $(( median / 1000 )) $(( median % 1000 )) "$peak"
}

size_mib() { echo $(( $(stat -c %s "$1") >> 20 )); }

row() { printf "%-44s %8s s %8s MiB\n" "$1" "$2" "$(( $3 >> 10 ))"; }

read -r t_check m_check < <(measure "$bin" check "$dir/rollout.jsonl")
read -r t_py m_py < <(measure python3 "$dir/scan.py" "$dir/rollout.jsonl")
read -r t_short m_short < <(measure "$bin" check "$dir/short.jsonl")
read -r t_pys m_pys < <(measure python3 "$dir/scan.py" "$dir/short.jsonl")
read -r t_body m_body < <(measure "$bin" check "$dir/body.json")
read -r t_load m_load < <(measure python3 "$dir/load.py" "$dir/body.json")
read -r t_json m_json < <(measure "$bin" check --json "$dir/missing.json")

echo "rollout $(size_mib "$dir/rollout.jsonl") MiB, $(wc -l < "$dir/rollout.jsonl") lines"
row "toolseq check" "$t_check" "$m_check"
row "python json.loads per line, pairing ids" "$t_py" "$m_py"
echo "rollout $(size_mib "$dir/short.jsonl") MiB, $(wc -l < "$dir/short.jsonl") lines"
row "toolseq check" "$t_short" "$m_short"
row "python json.loads per line, pairing ids" "$t_pys" "$m_pys"
echo "body $(size_mib "$dir/body.json") MiB"
row "toolseq check" "$t_body" "$m_body"
row "python json.load alone" "$t_load" "$m_load"
echo "body $(size_mib "$dir/missing.json") MiB, every output missing"
row "toolseq check --json" "$t_json" "$m_json"
echo
python3 - "$t_py" "$t_check" "$m_check" "$m_short" "$t_load" "$t_body" "$m_body" "$m_load" "$m_json" \
    "$(stat -c %s "$dir/missing.json")" <<'EOF'
import sys
t_py, t_check, m_check, m_short, t_load, t_body, m_body, m_load, m_json, size = map(float, sys.argv[1:])
print(f"rollout: check {t_py / t_check:.1f}x faster than the Python scan (budget >= 10x), "
      f"peak {m_check / 1024:.0f} MiB, {m_short / 1024:.0f} MiB in short lines (budget <= 32)")
print(f"body: check takes {t_body / t_load:.2f}x the time and {m_body / m_load:.2f}x the memory "
      f"of json.load (budget <= 0.5x each)")
print(f"--json: peak {m_json * 1024 / size:.2f}x the file size (budget <= 2x)")
EOF
