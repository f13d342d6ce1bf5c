#!/usr/bin/env python3
"""Regenerate src/data/protobuf_fields.txt from the k8s-pb crate's generated prost code.

Usage: gen_protobuf_fields.py <path to k8s-pb-X.Y.Z/src> > src/data/protobuf_fields.txt

Output: one `M <package>.<Message>` line per message, then one line per field:
`<tag> <prost field name> <label> <type> [<message package>.<Message>]`, where label is
`optional`/`repeated` and type one of string, int32, int64, bool, bytes, double, message,
map:string, map:bytes, map:message (message targets are fully qualified).
"""
import os
import re
import sys

ROOT = sys.argv[1]
ATTR = re.compile(r'#\[prost\((\w+)(?: = "([^"]+)")?, (?:(optional|repeated), )?(?:boxed, )?(?:packed = "false", )?tag = "(\d+)"\)\]')
FIELD = re.compile(r'pub (?:r#)?(\w+): (.+),$')


def module_of(path):
    rel = os.path.relpath(os.path.dirname(path), ROOT)
    return [] if rel == "." else rel.split(os.sep)


def resolve(module, rust_type):
    t = rust_type
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        t = t.replace(wrapper, "")
    t = t.rstrip(">")
    if "BTreeMap<" in t:
        t = t.split(",")[-1].strip()
    parts = t.split("::")
    mod = list(module)
    while parts and parts[0] == "super":
        mod.pop()
        parts.pop(0)
    return ".".join(mod + parts)


def main():
    out = []
    for dirpath, _, files in sorted(os.walk(ROOT)):
        for f in sorted(files):
            if f != "mod.rs":
                continue
            path = os.path.join(dirpath, f)
            module = module_of(path)
            msg = None
            pending = None
            buf = ""
            for raw in open(path):
                line = raw.strip()
                if buf or (pending and line.startswith("pub ") and not line.endswith(",")):
                    buf += (" " if buf else "") + line
                    if not buf.endswith(",") or buf.count("<") > buf.count(">"):
                        continue
                    line, buf = buf.replace(", >", ">").replace("< ", "<").replace(",>", ">"), ""
                m = re.match(r"pub struct (\w+) \{", line)
                if m:
                    msg = ".".join(module + [m.group(1)])
                    out.append(f"M {msg}")
                    continue
                a = ATTR.search(line)
                if a:
                    pending = a.groups()
                    continue
                fm = FIELD.match(line)
                if fm and pending and msg:
                    kind, param, label, tag = pending
                    name, rust_type = fm.groups()
                    label = label or "optional"
                    if kind == "btree_map":
                        val = param.split(",")[1].strip()
                        typ = f"map:{val}"
                        target = resolve(module, rust_type) if val == "message" else ""
                    elif kind == "message":
                        typ, target = "message", resolve(module, rust_type)
                    else:
                        typ, target = kind, ""
                    out.append(f"{tag} {name} {label} {typ} {target}".rstrip())
                    pending = None
    print("\n".join(out))


main()
