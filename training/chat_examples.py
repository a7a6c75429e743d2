"""Chat turns made from the corpus: a function's docstring asks for it, the function answers.

The default model is too small to follow open instructions, but it can learn the shape of an answer (a fenced
code block that implements what was asked), which is what the chat panel and the refactor commands read back.
Each Python function with a docstring in a training file becomes one conversation, rendered with the same chat
template as tokenizer_config.json (the system prompt is that of the LSP server's chat, on half of them).

    python3 training/chat_examples.py --corpus training/.data/corpus-train.jsonl --out training/.data/chat-train.jsonl
"""
import argparse
import ast
import json
import random

from bpe import ASSISTANT, BOS, EOS, USER

SYSTEM_PROMPT = ("You are Latent Coder, a coding assistant inside the user's editor. Answer concisely in markdown; "
                 "put code in fenced blocks.")
ASKS = ['Write a Python function `{sig}`: {doc}', 'Implement `{sig}` in Python. {doc}', '{doc}\n\nWrite it as `{sig}`.']


def conversations(text, rng):
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return
    lines = text.split('\n')
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.col_offset != 0:
            continue
        doc = ast.get_docstring(node)
        if not doc or node.end_lineno - node.lineno > 40:
            continue
        summary = doc.strip().split('\n\n')[0].replace('\n', ' ')
        if len(summary) < 20:
            continue
        source = '\n'.join(lines[node.lineno - 1:node.end_lineno])
        sig = lines[node.lineno - 1].strip().removeprefix('def ').removeprefix('async def ').rstrip(':')
        user = rng.choice(ASKS).format(sig=sig, doc=summary)
        answer = f'```python\n{source}\n```'
        system = SYSTEM_PROMPT + '\n\n' if rng.random() < 0.5 else ''
        yield f'{BOS}{system}{USER}{user}{ASSISTANT}{answer}{EOS}'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--corpus', default='training/.data/corpus-train.jsonl')
    parser.add_argument('--out', default='training/.data/chat-train.jsonl')
    parser.add_argument('--seed', type=int, default=1234)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    n = 0
    with open(args.corpus) as f, open(args.out, 'w') as out:
        for line in f:
            doc = json.loads(line)
            if doc['language'] != 'python':
                continue
            for text in conversations(doc['text'], rng):
                out.write(json.dumps({'text': text}) + '\n')
                n += 1
    print(f'{n} conversations')


if __name__ == '__main__':
    main()
