#!/usr/bin/env python3
"""Lists each library module with the modules it names in code (`use crate::…`, `crate::x::…`,
`super::…`, a parent's `child::…`; comments and tests left out), and fails when modules import
each other, directly or round a longer circle.

    python3 .ci/imports.py          # the list, then any circle of imports
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3]
    if rel.endswith("/mod"):
        rel = rel[:-4]
    return rel.replace("/", "::")


def exists(name):
    base = os.path.join(ROOT, *name.split("::"))
    return os.path.exists(base + ".rs") or os.path.exists(os.path.join(base, "mod.rs"))


def imports():
    found = {}
    for folder, _, files in os.walk(ROOT):
        if os.path.relpath(folder, ROOT).startswith("bin"):
            continue
        for f in files:
            if not f.endswith(".rs") or f == "lib.rs":
                continue
            path = os.path.join(folder, f)
            name = module_of(path)
            text = open(path).read().split("#[cfg(test)]\nmod tests")[0]
            code = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
            parent = name.rsplit("::", 1)[0] if "::" in name else None
            deps = set()
            for m in re.finditer(r"crate::([a-z_]+)(?:::([a-z_]+))?", code):
                a, b = m.group(1), m.group(2)
                deps.add(f"{a}::{b}" if b and exists(f"{a}::{b}") else a)
            for m in re.finditer(r"\bsuper::([a-z_]+)", code):
                if parent:
                    sub = f"{parent}::{m.group(1)}"
                    deps.add(sub if exists(sub) else parent)
            # A parent names its children by their bare names (`text::ItemView`).
            for m in re.finditer(r"(?<![:\w])([a-z_]+)::[A-Za-z_]", code):
                child = f"{name}::{m.group(1)}"
                if exists(child):
                    deps.add(child)
            deps.discard(name)
            found[name] = {d for d in deps if exists(d)}
    return found


def circles(graph):
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index, low, stack, on, found, count = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = count[0]
        count[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main():
    found = imports()
    for name in sorted(found):
        print(f"{name}: {', '.join(sorted(found[name])) or '-'}")
    groups = circles(found)
    if groups:
        print("modules importing each other round a circle: "
              + "; ".join("{" + ", ".join(g) + "}" for g in groups))
        return 1
    print("no module imports one that imports it back, directly or round a circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
