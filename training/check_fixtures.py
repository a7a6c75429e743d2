"""The training modules compute what DeepSeek's own code computes: every fixture's logits within 1e-4.

    python3 training/check_fixtures.py ../shared/fixtures

prints one JSON line per fixture case ({"fixture", "case", "max_abs_diff"}) and exits 1 if any is over 1e-4.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import DeepseekV2Config, DeepseekV2ForCausalLM  # noqa: E402
import safetensors_io  # noqa: E402

TOLERANCE = 1e-4


def load_model(folder):
    with open(os.path.join(folder, 'config.json')) as f:
        config = DeepseekV2Config.from_dict(json.load(f))
    model = DeepseekV2ForCausalLM(config)
    missing, unexpected = model.load_state_dict(safetensors_io.load(os.path.join(folder, 'model.safetensors')), strict=False)
    if missing or unexpected:
        raise SystemExit(f'{folder}: missing {missing}, unexpected {unexpected}')
    return model.eval()


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '../shared/fixtures'
    worst = 0.0
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isfile(os.path.join(folder, 'expected.json')):
            continue
        model = load_model(folder)
        with open(os.path.join(folder, 'expected.json')) as f:
            expected = json.load(f)
        for case in expected['cases']:
            with torch.no_grad():
                logits = model(torch.tensor([case['input_ids']]))[0]
            got = logits[case['logits_positions']]
            diff = (got - torch.tensor(case['logits'], dtype=torch.float32)).abs().max().item()
            worst = max(worst, diff)
            print(json.dumps({'fixture': name, 'case': case['name'], 'max_abs_diff': diff}))
    sys.exit(0 if worst <= TOLERANCE else 1)


if __name__ == '__main__':
    main()
