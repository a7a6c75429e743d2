"""Export a training checkpoint as a Hugging Face model folder the engine loads, with reference logits.

    python3 training/export.py --checkpoint training/.data/run/stage2.pt --tokenizer models/DIR --out models/DIR

writes config.json, model.safetensors (BF16) and reference.json: for a few prompts, the token ids and this
framework's float32 logits at the last two positions (argmax at every one), computed from the BF16-rounded weights (the very numbers in the
file), so the engine's test can hold its logits to 1e-4 of them. The tokenizer files must already be in --tokenizer.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import DeepseekV2Config, DeepseekV2ForCausalLM  # noqa: E402
import safetensors_io  # noqa: E402
from safetensors_io import to_bf16_bits  # noqa: E402

REFERENCE_PROMPTS = [
    '<｜begin▁of▁sentence｜>def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n',
    '<｜begin▁of▁sentence｜>import * as fs from \'node:fs\';\n\nexport function readJson(file: string) {\n',
    '<｜begin▁of▁sentence｜><｜fim▁begin｜>function add(a, b) {\n  <｜fim▁hole｜>\n}\n<｜fim▁end｜>',
    '<｜begin▁of▁sentence｜><｜User｜>Write a Python function `is_even(n)`: Return True when n is even.<｜Assistant｜>',
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--tokenizer', required=True, help='folder with tokenizer.json and tokenizer_config.json')
    parser.add_argument('--out', required=True)
    parser.add_argument('--infill-prompt', choices=('fim', 'prefix'), default=None,
                        help='write tokenizer_config.json `infill_prompt`: how editors should prompt this model for '
                             'an infill (prefix: the text before the cursor alone, where `npm run eval` measured the '
                             "model's FIM answers worse than its plain continuations)")
    args = parser.parse_args()
    state = torch.load(args.checkpoint)
    config_dict = dict(state['config'])
    config_dict.pop('training_context', None)
    config_dict['torch_dtype'] = 'bfloat16'
    config = DeepseekV2Config.from_dict(config_dict)
    model = DeepseekV2ForCausalLM(config)
    model.load_state_dict(state['model'])
    # The reference computes with exactly the weights the file holds.
    rounded = {k: torch.from_numpy((to_bf16_bits(v).astype(np.uint32) << 16).view(np.float32)) for k, v in model.state_dict().items()}
    model.load_state_dict(rounded)
    model.eval()

    os.makedirs(args.out, exist_ok=True)
    for name in ('tokenizer.json', 'tokenizer_config.json'):
        if os.path.abspath(os.path.join(args.tokenizer, name)) != os.path.abspath(os.path.join(args.out, name)):
            shutil.copy(os.path.join(args.tokenizer, name), os.path.join(args.out, name))
    if args.infill_prompt:
        path = os.path.join(args.out, 'tokenizer_config.json')
        with open(path, encoding='utf-8') as f:
            tokenizer_config = json.load(f)
        tokenizer_config['infill_prompt'] = args.infill_prompt
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(tokenizer_config, f, ensure_ascii=False, indent=1)
    with open(os.path.join(args.out, 'config.json'), 'w') as f:
        json.dump(config_dict, f, indent=1)
    safetensors_io.save(model.state_dict(), os.path.join(args.out, 'model.safetensors'), dtype='BF16')

    encoder = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'encode.mjs')
    ids = json.loads(subprocess.run(['node', encoder, args.out], input=json.dumps(REFERENCE_PROMPTS), text=True,
                                    capture_output=True, check=True).stdout)
    cases = []
    with torch.no_grad():
        for text, tokens in zip(REFERENCE_PROMPTS, ids):
            logits = model(torch.tensor([tokens]))[0]
            positions = list(range(max(0, len(tokens) - 2), len(tokens)))
            cases.append({'prompt': text, 'input_ids': tokens, 'logits_positions': positions,
                          'logits': [[float(f'{v:.9g}') for v in logits[p].tolist()] for p in positions],
                          'argmax': logits.argmax(-1).tolist()})
    with open(os.path.join(args.out, 'reference.json'), 'w') as f:
        json.dump({'schema': 'latent-coder-reference/1', 'framework': f'torch {torch.__version__}',
                   'dtype': 'float32 compute over the BF16 weights of model.safetensors', 'cases': cases}, f)
    n = sum(p.numel() for p in model.parameters())
    print(f'{args.out}: {n / 1e6:.2f}M parameters, {os.path.getsize(os.path.join(args.out, "model.safetensors")) / 1e6:.1f} MB')


if __name__ == '__main__':
    main()
