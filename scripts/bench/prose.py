"""Writes 100 lines of real prose for `cargo xtask report --texts` (the issue's "100 lines of real
prose" timing): the paragraphs longer than 80 characters of the GPL-3 and Apache-2.0 license
texts that Debian ships under /usr/share/common-licenses, one paragraph per line, whitespace
collapsed. Standard library only:

    python3 scripts/bench/prose.py /tmp/prose100.txt
"""
import re
import sys

paragraphs = []
for name in ("GPL-3", "Apache-2.0"):
    text = open(f"/usr/share/common-licenses/{name}", encoding="utf-8").read()
    paragraphs += [p for p in (re.sub(r"\s+", " ", p).strip() for p in text.split("\n\n")) if len(p) > 80]
with open(sys.argv[1], "w", encoding="utf-8") as out:
    out.write("\n".join(paragraphs[:100]) + "\n")
