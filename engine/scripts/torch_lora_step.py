"""The engine's LoRA training step in PyTorch + PEFT, for `scripts/bench-engine`.

Same shapes as `mnemo-engine bench`: rank-8 q/v LoRA, batch 8 x 64 tokens, AdamW, one warm-up
step then N timed steps, on the CPU with as many threads as the engine uses. Weights are random
(speed does not depend on their values). Prints one JSON line per model.
"""
import json, os, sys, time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

SHAPES = {
    "tiny": dict(vocab_size=259, hidden_size=96, intermediate_size=256, num_hidden_layers=3,
                 num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0),
    "smollm2-135m": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, rope_theta=100000.0),
}

def main():
    # As many threads as the engine (scripts/bench-engine passes its count), else torch's default.
    if os.environ.get("MNEMO_THREADS"):
        torch.set_num_threads(int(os.environ["MNEMO_THREADS"]))
    models = sys.argv[1].split(",") if len(sys.argv) > 1 else list(SHAPES)
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    torch.manual_seed(0)
    for name in models:
        cfg = LlamaConfig(**SHAPES[name], tie_word_embeddings=True, max_position_embeddings=2048, rms_norm_eps=1e-5)
        model = LlamaForCausalLM(cfg).float()
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
        batch, seq = 8, 64
        ids = torch.randint(0, cfg.vocab_size, (batch, seq + 1))
        def step():
            out = model(input_ids=ids[:, :-1], labels=ids[:, :-1])
            out.loss.backward()
            opt.step()
            opt.zero_grad()
        step()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        secs = time.perf_counter() - t
        tokens = steps * batch * seq
        print(json.dumps({"model": name, "task": "lora-train", "batch": batch, "seq": seq, "tokens": tokens,
                          "seconds": secs, "tokens_per_second": tokens / secs, "threads": torch.get_num_threads(),
                          "torch": torch.__version__}))

if __name__ == "__main__":
    main()
