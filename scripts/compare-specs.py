"""Compare two chain spec JSON files, ignoring the wasm code (which depends on the build machine)."""
import json
import sys


def strip_code(spec):
    genesis = spec.get("genesis", {})
    genesis.get("runtimeGenesis", {}).pop("code", None)
    return spec


a, b = (strip_code(json.load(open(p))) for p in sys.argv[1:3])
if a != b:
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            print(f"  differs: {key}", file=sys.stderr)
    sys.exit(1)
