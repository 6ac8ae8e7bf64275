#!/usr/bin/env python3
"""Rewrites the network layers of pipeline definitions (or nodulekit-unet-1 network files) in place with
their weights packed: each layer's "weight" and "bias" number arrays become one string, "f32le:" followed
by the base64 of the values as little-endian float32, which `nodules` reads in microseconds instead of
parsing hundreds of thousands of numbers at every start. The values are exactly the float32 values the
numbers denote (each decimal rounded once to the nearest float32, as Swift's Float parser does). Only
the arrays inside "layers" objects change; the rest of the file is left as written. Offline tooling; the fitting tools may
keep writing number arrays, which `nodules` reads too.

  python3 Pipelines/tools/pack_weights.py FILE.json [FILE.json ...]
"""
import base64
import re
import struct
import sys

ARRAY = re.compile(r'"(weight|bias)": \[([^\]]*)\]')


def packed(numbers):
    values = [float(t) for t in numbers.split(",") if t.strip()]
    # float -> binary32 rounds to nearest even; a decimal of at most 9 significant digits never lies
    # within a double's rounding of a binary32 tie, so this is the decimal's own nearest float32.
    return "f32le:" + base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def main(paths):
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        count = 0

        def replace(match):
            nonlocal count
            count += 1
            return f'"{match[1]}": "{packed(match[2])}"'

        # Only arrays inside a "layers" object (a score model's "bias" stays numbers): from the line that
        # opens it to the line where its braces close.
        lines, depth = [], 0
        for line in text.split("\n"):
            at = line.find('"layers": {') if depth == 0 else -1
            if at >= 0:
                tail = ARRAY.sub(replace, line[at:])
                depth = tail.count("{") - tail.count("}")
                line = line[:at] + tail
            elif depth > 0:
                line = ARRAY.sub(replace, line)
                depth += line.count("{") - line.count("}")
            lines.append(line)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        print(f"{path}: {count} arrays packed")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    main(sys.argv[1:])
