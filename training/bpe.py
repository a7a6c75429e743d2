"""Train the model's byte-level BPE tokenizer and write it in Hugging Face's tokenizer.json form.

Byte-level as GPT-2 and DeepSeek: text is split into pre-tokens by one regex, each pre-token's UTF-8 bytes are
mapped to printable characters, and merges are learned greedily by pair frequency. The regex is written for code:
a newline keeps its following indentation (one token for "\\n    "), identifiers keep one optional leading
space, digits go in groups of at most three, runs of punctuation stay together.

    python3 training/bpe.py --corpus training/.data/corpus-train.jsonl --vocab-size 8192 --out models/DIR
"""
import argparse
import collections
import heapq
import json
import os
import random

import regex

PRE_TOKENIZER = (r"(?:\r?\n)+[ \t]*|[ \t]?[\p{L}_$][\p{L}\p{M}\p{N}_$]*|\p{N}{1,3}|[ \t]?[^\s\p{L}\p{N}_$]+"
                 r"|[ \t]+(?=[ \t][^\s])|[ \t]+|\s+")

# DeepSeek's special tokens, spelled as DeepSeek spells them, so the engine and server find them by text.
BOS, EOS = '<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>'
FIM_HOLE, FIM_BEGIN, FIM_END = '<｜fim▁hole｜>', '<｜fim▁begin｜>', '<｜fim▁end｜>'
USER, ASSISTANT = '<｜User｜>', '<｜Assistant｜>'
SPECIAL_TOKENS = [BOS, EOS, FIM_HOLE, FIM_BEGIN, FIM_END, USER, ASSISTANT, '<｜pad｜>']

# The chat template (Jinja, as Hugging Face renders it): system text first, then role-marked turns; each
# answer ends with eos, and the prompt ends with the assistant marker the model continues from.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}"
    "{% elif message['role'] == 'assistant' %}{{ '<｜Assistant｜>' + message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only system, user and assistant roles are supported') }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}"
)


def bytes_to_unicode():
    """GPT-2's reversible map from the 256 byte values to printable unicode characters."""
    printable = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, chars)))


def word_counts(texts):
    pattern = regex.compile(PRE_TOKENIZER)
    counts = collections.Counter()
    for text in texts:
        counts.update(pattern.findall(text))
    return counts


def train_merges(counts, n_merges):
    """Greedy BPE: repeatedly merge the most frequent adjacent pair, updating only the words that hold it."""
    byte_char = bytes_to_unicode()
    words = [[byte_char[b] for b in w.encode('utf-8')] for w in counts]
    freq = list(counts.values())
    pair_count = collections.Counter()
    where = collections.defaultdict(set)
    for i, symbols in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pair_count[pair] += freq[i]
            where[pair].add(i)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg:
            if pair_count.get(pair, 0) > 0:
                heapq.heappush(heap, (-pair_count[pair], pair))
            continue
        if -neg < 2:
            break
        merges.append(pair)
        merged = pair[0] + pair[1]
        touched = set()
        for i in list(where[pair]):
            symbols = words[i]
            f = freq[i]
            for old in zip(symbols, symbols[1:]):
                pair_count[old] -= f
                touched.add(old)
            out, j = [], 0
            while j < len(symbols):
                if j + 1 < len(symbols) and symbols[j] == pair[0] and symbols[j + 1] == pair[1]:
                    out.append(merged)
                    j += 2
                else:
                    out.append(symbols[j])
                    j += 1
            words[i] = out
            for new in zip(out, out[1:]):
                pair_count[new] += f
                where[new].add(i)
                touched.add(new)
        del where[pair]
        pair_count.pop(pair, None)
        for p in touched:
            c = pair_count.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            elif p in pair_count:
                del pair_count[p]
    return merges


def tokenizer_json(merges):
    byte_char = bytes_to_unicode()
    vocab = {byte_char[b]: b for b in range(256)}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    added = [{'id': len(vocab) + i, 'content': t, 'single_word': False, 'lstrip': False, 'rstrip': False,
              'normalized': False, 'special': True} for i, t in enumerate(SPECIAL_TOKENS)]
    return {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': added,
        'normalizer': None,
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'Split', 'pattern': {'Regex': PRE_TOKENIZER}, 'behavior': 'Isolated', 'invert': False},
            {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False},
        ]},
        'post_processor': None,
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False},
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': None,
                  'end_of_word_suffix': None, 'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
                  'vocab': vocab, 'merges': [f'{a} {b}' for a, b in merges]},
    }


def tokenizer_config(model_max_length):
    return {
        'add_bos_token': True,
        'add_eos_token': False,
        'bos_token': BOS,
        'eos_token': EOS,
        'pad_token': '<｜pad｜>',
        'clean_up_tokenization_spaces': False,
        'model_max_length': model_max_length,
        'tokenizer_class': 'PreTrainedTokenizerFast',
        'chat_template': CHAT_TEMPLATE,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--corpus', default='training/.data/corpus-train.jsonl')
    parser.add_argument('--vocab-size', type=int, default=8192)
    parser.add_argument('--sample-bytes', type=int, default=24_000_000, help='train the merges on this much text')
    parser.add_argument('--model-max-length', type=int, default=4096)
    parser.add_argument('--seed', type=int, default=1234)
    parser.add_argument('--out', required=True)
    args = parser.parse_args()
    with open(args.corpus) as f:
        documents = [json.loads(line)['text'] for line in f]
    random.Random(args.seed).shuffle(documents)
    texts, total = [], 0
    for text in documents:
        if total >= args.sample_bytes:
            break
        texts.append(text)
        total += len(text)
    counts = word_counts(texts)
    merges = train_merges(counts, args.vocab_size - 256 - len(SPECIAL_TOKENS))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'tokenizer.json'), 'w', encoding='utf-8') as f:
        json.dump(tokenizer_json(merges), f, ensure_ascii=False)
    with open(os.path.join(args.out, 'tokenizer_config.json'), 'w', encoding='utf-8') as f:
        json.dump(tokenizer_config(args.model_max_length), f, ensure_ascii=False, indent=1)
    print(f'{len(merges)} merges from {total / 1e6:.1f} MB ({len(counts)} distinct pre-tokens)')


if __name__ == '__main__':
    main()
