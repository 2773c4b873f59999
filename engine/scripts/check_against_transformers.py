"""The engine against the Hugging Face ecosystem on the real SmolLM2-135M-Instruct GGUF file.

1. Token ids equal transformers' tokenizer (loaded from the same GGUF) on texts with digits,
   Unicode and ChatML special tokens.
2. Next-token logits within 1e-2 of transformers' GGUF-loaded model on 3 prompts.
3. An adapter trained by the engine, loaded with `peft.PeftModel.from_pretrained`, gives logits
   within 1e-3 of the engine's with the same adapter.

Usage: python check_against_transformers.py ENGINE_BINARY GGUF_FILE WORK_DIR
"""
import json, os, subprocess, sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

engine, gguf, work = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
d, f = os.path.dirname(gguf), os.path.basename(gguf)

def inspect(prompt, adapter=None):
    cmd = [engine, "inspect", "--base", gguf, "--prompt", prompt]
    if adapter:
        cmd += ["--adapter", adapter]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)

tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
texts = ["In 2024, 17 apples cost $3.50 each.", "Naïve café — 東京 🚀 déjà vu",
         "<|im_start|>user\nWhat is 12+30?<|im_end|>\n<|im_start|>assistant\n"]
failures = 0
for t in texts:
    ours = inspect(t)["ids"]
    theirs = tok(t, add_special_tokens=False)["input_ids"]
    ok = ours == theirs
    failures += not ok
    print(f"tokens {'OK ' if ok else 'BAD'} {t!r}: {len(ours)} ids" + ("" if ok else f"\n  engine {ours}\n  hf     {theirs}"))

model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32).eval()
prompts = ["The capital of France is", "def fibonacci(n):", "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n"]
def hf_logits(m, p):
    ids = torch.tensor([inspect(p)["ids"]])
    with torch.no_grad():
        return m(input_ids=ids).logits[0, -1]
for p in prompts:
    ours = torch.tensor(inspect(p)["logits"])
    diff = (ours - hf_logits(model, p)).abs().max().item()
    ok = diff < 1e-2
    failures += not ok
    print(f"logits {'OK ' if ok else 'BAD'} max |diff| {diff:.2e} {p!r}")

# An adapter trained by the engine, loaded by PEFT.
data = os.path.join(work, "data.txt")
with open(data, "w") as fh:
    fh.write("The tide comes in and the tide goes out; the harbour wakes at dawn. " * 20)
adapter = os.path.join(work, "adapter")
subprocess.run([engine, "train", "--base", gguf, "--data", data, "--rank", "4", "--alpha", "8",
                "--targets", "q,v,down", "--epochs", "1", "--lr", "0.01", "--chunk-len", "32", "--batch", "4",
                "--holdout", "0.2", "--out", adapter], check=True, capture_output=True)
peft_model = PeftModel.from_pretrained(model, adapter).eval()
for p in prompts[:2]:
    ours = torch.tensor(inspect(p, adapter)["logits"])
    base = torch.tensor(inspect(p)["logits"])
    diff = (ours - hf_logits(peft_model, p)).abs().max().item()
    moved = (ours - base).abs().max().item()
    ok = diff < 1e-3 * max(1.0, ours.abs().max().item()) and moved > 1e-3
    failures += not ok
    print(f"peft   {'OK ' if ok else 'BAD'} max |diff| {diff:.2e} (the adapter moves logits by {moved:.2e}) {p!r}")
sys.exit(1 if failures else 0)
