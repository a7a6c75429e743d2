"""Read and write .safetensors files (8-byte header length, JSON header, raw little-endian data) with numpy."""
import json
import struct

import numpy as np
import torch

DTYPES = {'F32': np.float32, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32}


def load(path):
    """name -> torch tensor (F32, F16, BF16 or integer tensors)."""
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        begin, end = info['data_offsets']
        raw = data[begin:end]
        if info['dtype'] == 'BF16':
            bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=DTYPES[info['dtype']])
        tensors[name] = torch.from_numpy(array.copy().reshape(info['shape']))
    return tensors


def to_bf16_bits(t):
    """Round float32 to bfloat16 (nearest, ties to even), as torch's .to(torch.bfloat16) does."""
    bits = t.detach().cpu().contiguous().float().numpy().view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def save(tensors, path, dtype='F32', metadata=None):
    """Write tensors as F32 or BF16 in sorted-name order, as torch's safetensors writer does."""
    header, blobs, offset = {'__metadata__': metadata or {'format': 'pt'}}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        blob = (to_bf16_bits(t).astype('<u2') if dtype == 'BF16' else t.detach().cpu().contiguous().float().numpy().astype('<f4')).tobytes()
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
