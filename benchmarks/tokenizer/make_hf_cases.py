#!/usr/bin/env python3
"""Random mixed-script texts encoded by Hugging Face tokenizers (an independent reference for the Java
byte-level BPE). Usage: make_hf_cases.py OUT.jsonl [N] [tokenizer.json]; needs `pip install tokenizers`.
Wrote core/src/test/resources/ai/safetune/tokenizer/hf_tokenizers_cases.jsonl (tokenizers 0.23.3, N=600)."""
import json, random, sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[3] if len(sys.argv) > 3 else '../shared/models/tiny-llama/tokenizer.json')
random.seed(7)
hold = ["  double  spaced  text  ", "Bonjour à tous, ça va ?", "ÆØÅ æøå", "Dobrý den, jak se máte?",
    "तुम कैसे हो", "Xin chào thế giới", "🙂🙃🤖💡", "SELECT * FROM users WHERE id = 42;",
    "if x:\n\tpass\nelse:\n\treturn None", "9999999999 0.000001 -17", "won't can't shan't y'all'd've",
    "<|im_start|>assistant\nSure<|im_end|>\n", "Options: A) yes B) no C) maybe", "\r\n\r\n",
    "long " * 30, "email@sub.domain.co.uk visited http://a.b/c?d=e", "C++ and C# and F#",
    "„German quotes“ and «French»", "日本語のテキストとEnglish", "   \n\t  mixed whitespace"]
pools = [range(0x20,0x7f), range(0xa0,0x250), range(0x300,0x370), range(0x370,0x400), range(0x400,0x500),
         range(0x590,0x700), range(0x900,0x980), range(0xe00,0xe80), range(0x1100,0x1200), range(0x2000,0x2070),
         range(0x2070,0x2200), range(0x2460,0x2500), range(0x3000,0x3100), range(0x4e00,0x4f00), range(0xac00,0xad00),
         range(0xff00,0xfff0), range(0x1f300,0x1f700), range(0x1d400,0x1d500), range(0x10000,0x10100), [9,10,11,12,13,0x85,0x1c,0x1d,0x1e,0x1f,0x200b,0x200d,0xfeff,0x180e]]
words = ["'s","'t","'re","'ve","'m","'ll","'d","'S"," ","  ","\n","<|im_end|>","<|im_start|>","<|endoftext|>","123","x","Hello"]
out=[]
for t in hold: out.append(t)
for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 600):
    parts=[]
    for j in range(random.randint(1,12)):
        if random.random()<0.3: parts.append(random.choice(words))
        else:
            p=random.choice(pools); parts.append(''.join(chr(random.choice(p)) for _ in range(random.randint(1,6))))
    out.append(''.join(parts))
with open(sys.argv[1],'w') as f:
    for t in out:
        ids = tok.encode(t, add_special_tokens=False).ids
        f.write(json.dumps({"text":t,"ids":ids,"decoded":tok.decode(ids, skip_special_tokens=False)}, ensure_ascii=False)+"\n")
print(len(out))
