"""The official `openai` Python client, unchanged, against a running `mnemo-engine serve`.

Run by scripts/openai-check (which starts the engine). Arguments: the engine's base URL and a
payer voucher header for the metered model `paid` (from `mnemo-engine voucher`).
Every check raises on failure; the script prints what it saw.
"""
import sys

import openai
from openai import OpenAI

base_url, voucher = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=f"{base_url}/v1", api_key="not-used-vouchers-are")

models = [m.id for m in client.models.list()]
assert {"tiny", "free", "paid"} <= set(models), models
print("models:", models)

c = client.completions.create(model="free", prompt="To be, or not to be", max_tokens=8, temperature=0, seed=1)
assert c.object == "text_completion" and len(c.choices) == 1, c
assert c.usage.completion_tokens >= 1 and c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens, c.usage
print("completion:", repr(c.choices[0].text), c.usage)

messages = [{"role": "user", "content": "Speak the speech, I pray you"}]
chat = client.chat.completions.create(model="free", messages=messages, max_tokens=12, temperature=0)
said = chat.choices[0].message.content
assert chat.choices[0].message.role == "assistant" and chat.choices[0].finish_reason in ("stop", "length"), chat
print("chat:", repr(said), chat.usage)

stream = client.chat.completions.create(model="free", messages=messages, max_tokens=12, temperature=0, stream=True,
                                        stream_options={"include_usage": True})
parts, usage, finish = [], None, None
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage
    for ch in chunk.choices:
        if ch.delta.content:
            parts.append(ch.delta.content)
        if ch.finish_reason:
            finish = ch.finish_reason
assert "".join(parts) == said, ("".join(parts), said)
assert usage is not None and usage.completion_tokens == chat.usage.completion_tokens and finish, (usage, finish)
print("stream:", len(parts), "chunks, same text, usage", usage)

try:
    client.completions.create(model="paid", prompt="Now is the winter", max_tokens=4)
    raise AssertionError("a metered model answered without a voucher")
except openai.AuthenticationError as e:
    print("no voucher:", e.status_code, e.body["message"] if isinstance(e.body, dict) else e.body)

raw = client.completions.with_raw_response.create(model="paid", prompt="Now is the winter", max_tokens=4, temperature=0,
                                                  extra_headers={"X-Mnemo-Voucher": voucher})
paid = raw.parse()
request_id = raw.headers["x-mnemo-request-id"]
mnemo = paid.model_extra["mnemo"]
assert mnemo["metered"] and mnemo["request"] == request_id and len(mnemo["transcript"]) == 64, mnemo
print("metered:", request_id, "transcript", mnemo["transcript"], paid.usage)

try:
    client.completions.create(model="paid", prompt="Now is the winter", max_tokens=4, extra_headers={"X-Mnemo-Voucher": voucher})
    raise AssertionError("a voucher was accepted twice")
except openai.ConflictError as e:
    print("voucher reused:", e.status_code)

try:
    client.completions.create(model="no-such-model", prompt="x", max_tokens=2)
    raise AssertionError("an unknown model answered")
except openai.NotFoundError as e:
    print("unknown model:", e.status_code)

try:
    client.completions.create(model="free", prompt="x", max_tokens=2, n=3)
    raise AssertionError("n=3 was accepted")
except openai.BadRequestError as e:
    print("n=3:", e.status_code)

print("the openai client works unchanged against mnemo-engine")
