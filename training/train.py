"""Train the default model: short-context pre-training, then DeepSeek-V2's YaRN long-context extension.

    python3 training/train.py --config training/configs/tiny.json --stage 1 --steps 3000 --out training/.data/run
    python3 training/train.py --config training/configs/tiny.json --stage 2 --steps 200 --out training/.data/run

Stage 1 trains at --context tokens (rope_scaling null) on stage1.bin; stage 2 loads stage 1's checkpoint, sets
rope_scaling to YaRN (factor = serving length / stage-1 context, as DeepSeek-V2 did from 4K to 128K) and trains
at a longer context on stage2.bin; stage 3 (same YaRN config) fine-tunes stage 2 on stage3.bin, FIM holes placed
where an editor's cursor is. Both read the packed token stream in order, so a rerun with the same seed
reproduces the run. AdamW (0.9, 0.95, weight decay 0.1), linear warm-up then cosine decay to 10%, gradient
clip 1.0, DeepSeek-V2's expert-balance loss. CUDA is used when present. `--benchmark N` times N steps and exits.
"""
import argparse
import json
import math
import os
import sys
import time

# Measured on the 2-core machine (13.4M model, batch 8 x 512): 1,070 tok/s as is, 2,100 with OpenMP threads that
# sleep instead of spinning against OpenBLAS's threads. OpenMP reads this when torch loads it, so set it first.
# (jemalloc without page decay reached 2,750 but grew past 22 GB in 300 steps and was killed: not used.)
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import DeepseekV2Config, DeepseekV2ForCausalLM  # noqa: E402
import safetensors_io  # noqa: E402


def init_weights(model, seed):
    """Normal(0, 0.02) linears and embeddings (GPT-2 style, output projections scaled by depth), unit norms."""
    g = torch.Generator().manual_seed(seed)
    depth = model.config.num_hidden_layers
    for name, p in sorted(model.named_parameters()):
        if p.dim() == 1:
            torch.nn.init.ones_(p)
        else:
            std = 0.02 / math.sqrt(2 * depth) if name.endswith(('o_proj.weight', 'down_proj.weight')) else 0.02
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * std)


class TokenStream:
    """Consecutive windows of context+1 tokens from a packed uint16 stream, in order."""

    def __init__(self, path, context, batch, start=0):
        self.ids = np.memmap(path, dtype=np.uint16, mode='r')
        self.context, self.batch, self.at = context, batch, start

    def next(self):
        span = self.context + 1
        need = span * self.batch
        if self.at + need > len(self.ids):
            self.at = 0  # a new epoch
        block = np.array(self.ids[self.at:self.at + need], dtype=np.int64).reshape(self.batch, span)
        self.at += need
        block = torch.from_numpy(block)
        return block[:, :-1], block[:, 1:]


def cpu_model():
    """The CPU's name, printed beside the throughput: machines differ (AVX-512 or AVX2 only) and so do the figures."""
    try:
        with open('/proc/cpuinfo') as f:
            return next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), 'unknown CPU')
    except OSError:
        return 'unknown CPU'


def learning_rate(step, steps, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', required=True, help='model config.json (DeepSeek-V2 keys)')
    parser.add_argument('--stage', type=int, choices=(1, 2, 3), default=1)
    parser.add_argument('--data', default='training/.data')
    parser.add_argument('--out', default='training/.data/run')
    parser.add_argument('--steps', type=int, default=1000)
    parser.add_argument('--context', type=int, default=None, help='default: 512 (stage 1), 2048 (stage 2)')
    parser.add_argument('--batch', type=int, default=None, help='sequences per step; default 16 (stage 1), 4 (stage 2)')
    parser.add_argument('--lr', type=float, default=None, help='peak; default 2e-3 (stage 1), 5e-4 (stage 2)')
    parser.add_argument('--warmup', type=int, default=100)
    parser.add_argument('--serve-length', type=int, default=4096, help='stage 2: the YaRN target length')
    parser.add_argument('--seed', type=int, default=1234)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--benchmark', type=int, default=0, help='time this many steps and exit')
    parser.add_argument('--checkpoint-every', type=int, default=100)
    parser.add_argument('--init-from', default=None,
                        help='start this run from another run\'s checkpoint of the same stage (weights, optimizer '
                             'moments, stream position) with a schedule of its own: continued pre-training')
    parser.add_argument('--init-weights', default=None,
                        help='start from an exported model folder\'s weights (model.safetensors, BF16) with fresh '
                             'optimizer moments, from the stream\'s start: continued pre-training when no '
                             'checkpoint is left')
    parser.add_argument('--stream-at', type=int, default=None,
                        help='with --init-weights: start the token stream this far in, where the run that made '
                             'those weights stopped, so that it is not trained on the same tokens again')
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # tiny Adam moments as denormals slow every CPU op several-fold
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    with open(args.config) as f:
        config_dict = json.load(f)
    stage1_context = config_dict.get('training_context', 512)
    context = args.context or (stage1_context if args.stage == 1 else 2048)
    batch = args.batch or (16 if args.stage == 1 else 4)
    peak = args.lr or (2e-3 if args.stage == 1 else 5e-4)
    checkpoint = os.path.join(args.out, f'stage{args.stage}.pt')

    if args.stage >= 2:
        factor = args.serve_length / stage1_context
        config_dict['rope_scaling'] = {'type': 'yarn', 'factor': factor,
                                       'original_max_position_embeddings': stage1_context,
                                       'beta_fast': 32, 'beta_slow': 1, 'mscale': 0.707, 'mscale_all_dim': 0.707}
        config_dict['max_position_embeddings'] = args.serve_length
    else:
        config_dict['rope_scaling'] = None
        config_dict['max_position_embeddings'] = stage1_context
    config = DeepseekV2Config.from_dict(config_dict)
    model = DeepseekV2ForCausalLM(config)
    init_weights(model, args.seed)
    start_step, stream_at = 0, 0
    optimizer = torch.optim.AdamW(model.parameters(), lr=peak, betas=(0.9, 0.95), weight_decay=0.1)
    # Resuming this run keeps its step; --init-from takes another run's state but starts a schedule of its own.
    resume = os.path.exists(checkpoint) and not args.benchmark
    source = checkpoint if resume else args.init_from
    if source:
        state = torch.load(source)
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        start_step, stream_at = (state['step'] if resume else 0), state['stream_at']
        print(f'resumed {checkpoint} at step {start_step}' if resume else
              f'continues {source} (its step {state["step"]}) at token {stream_at} with a new schedule')
    elif args.init_weights:
        weights = safetensors_io.load(os.path.join(args.init_weights, 'model.safetensors'))
        model.load_state_dict(weights)
        stream_at = args.stream_at or 0
        print(f'starts from the weights of {args.init_weights} with fresh optimizer moments, at token {stream_at}')
    elif args.stage >= 2:
        previous = f'stage{args.stage - 1}.pt'
        state = torch.load(os.path.join(args.out, previous))
        model.load_state_dict(state['model'])
        print(f'stage {args.stage} starts from {previous}')
    model.to(device).train()
    n_params = sum(p.numel() for p in model.parameters())
    print(f'{n_params / 1e6:.2f}M parameters, context {context}, batch {batch}, device {device}, '
          f'threads {torch.get_num_threads()}, {torch.cuda.get_device_name() if device == "cuda" else cpu_model()}')

    stream = TokenStream(os.path.join(args.data, f'stage{args.stage}.bin'), context, batch, stream_at)
    log = open(os.path.join(args.out, f'stage{args.stage}.log'), 'a')
    steps = args.benchmark or args.steps
    t0, tokens_done = time.time(), 0
    for step in range(start_step, steps):
        for group in optimizer.param_groups:
            group['lr'] = learning_rate(step, steps, peak, args.warmup)
        x, y = stream.next()
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), y.reshape(-1))
        total = loss + model.aux_loss()
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        tokens_done += x.numel()
        if step % 10 == 0 or step == steps - 1:
            elapsed = time.time() - t0
            line = json.dumps({'step': step, 'loss': round(loss.item(), 4), 'lr': optimizer.param_groups[0]['lr'],
                               'tok_s': round(tokens_done / elapsed), 'elapsed_s': round(elapsed)})
            print(line, flush=True)
            log.write(line + '\n')
            log.flush()
        if not args.benchmark and ((step + 1) % args.checkpoint_every == 0 or step == steps - 1):
            torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'step': step + 1,
                        'stream_at': stream.at, 'config': config_dict}, checkpoint + '.tmp')
            os.replace(checkpoint + '.tmp', checkpoint)
    if args.benchmark:
        print(json.dumps({'tok_s': round(tokens_done / (time.time() - t0)), 'params': n_params, 'cpu': cpu_model()}))


if __name__ == '__main__':
    main()
