#!/usr/bin/env python3
"""Chats rendered with Jinja2 set up as HF does and tokenized with HF tokenizers (masks as in
../shared/reference/make_reference.py). Wrote core/src/test/resources/ai/safetune/tokenizer/hf_chat_cases.jsonl
(jinja2 3.1.6, tokenizers 0.23.3). Usage: make_hf_chat_cases.py OUT.jsonl [SHARED_DIR]; needs `pip install tokenizers jinja2`."""
import json, os, sys
SHARED = sys.argv[2] if len(sys.argv) > 2 else '../shared'
from tokenizers import Tokenizer
from jinja2.sandbox import ImmutableSandboxedEnvironment
import jinja2.ext
tok = Tokenizer.from_file(os.path.join(SHARED, 'models/tiny-llama/tokenizer.json'))
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
tpl = env.from_string(open(os.path.join(SHARED, 'models/tiny-llama/chat_template.jinja')).read())
CH = [
    dict(messages=[{"role": "system", "content": "Answer with a single letter."},
                   {"role": "user", "content": "Which is a mammal?\n(A) shark\n(B) whale"},
                   {"role": "assistant", "content": "B"}], gen=False),
    dict(messages=[{"role": "user", "content": "Translate 'good morning' to Spanish."}], gen=True),
    dict(messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
                   {"role": "user", "content": "Tell me a joke."}, {"role": "assistant", "content": "Why did the chicken cross the road?"}], gen=False),
    dict(messages=[{"role": "user", "content": "  spaces around  "}, {"role": "assistant", "content": "\nstarts with newline and ends with space "}], gen=False),
]
def spans(rendered, messages):
    sp, pos = [], 0
    for m in messages:
        head = "<|im_start|>" + m["role"] + "\n"
        start = rendered.index(head + m["content"] + "<|im_end|>", pos) + len(head)
        end = start + len(m["content"]) + len("<|im_end|>")
        if m["role"] == "assistant": sp.append((start, end))
        pos = end
    return sp
with open(sys.argv[1], 'w') as f:
  for c in CH:
    r = tpl.render(messages=c["messages"], add_generation_prompt=c["gen"], bos_token="<|im_start|>", eos_token="<|im_end|>")
    e = tok.encode(r, add_special_tokens=False)
    S = spans(r, c["messages"])
    mask = [1 if any(s <= a and b <= t for s, t in S) else 0 for a, b in e.offsets]
    strad = [(a,b) for a,b in e.offsets if any((a < s < b) or (a < t < b) for s,t in S)]
    f.write(json.dumps({"kind":"chat","messages":c["messages"],"add_generation_prompt":c["gen"],"rendered":r,"ids":e.ids,"assistant_mask":mask,"straddle":strad}, ensure_ascii=False)+"\n")
    print(len(e.ids), sum(mask), strad)
