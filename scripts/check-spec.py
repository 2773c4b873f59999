"""Check a generated chain spec (plain and raw) says what the runtime's presets promise."""
import json
import sys

chain, plain_path, raw_path = sys.argv[1:4]
plain = json.load(open(plain_path))
raw = json.load(open(raw_path))
expected = {
    "dev": ("mnemo_dev", "Development", "development"),
    "local": ("mnemo_local", "Local", "local_testnet"),
    "rococo-local": ("mnemo_rococo_local", "Local", "rococo_local"),
}[chain]
errors = []


def want(cond, what):
    if not cond:
        errors.append(what)


want(plain.get("id") == expected[0], f"id {plain.get('id')!r} != {expected[0]!r}")
want(plain.get("chainType") == expected[1], f"chainType {plain.get('chainType')!r}")
want(plain.get("para_id", plain.get("paraId")) == 2000, "para_id is not 2000")
want(plain.get("relay_chain", plain.get("relayChain")) == "rococo-local", "relay chain is not rococo-local")
props = plain.get("properties", {})
want(props.get("tokenSymbol") == "MNEMO" and props.get("tokenDecimals") == 12, f"token properties {props}")
genesis = plain.get("genesis", {}).get("runtimeGenesis", {})
want(genesis.get("code", "").startswith("0x"), "no runtime code")
want(genesis.get("preset") == expected[2] or "patch" in genesis or "config" in genesis,
     f"genesis does not come from preset {expected[2]}")
top = raw.get("genesis", {}).get("raw", {}).get("top", {})
want(len(top) > 10, "the raw spec has no genesis storage")
if errors:
    print(f"chain spec {chain}: " + "; ".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"chain spec {chain}: ok ({len(top)} genesis storage keys)")
