"""Collect the training corpus: permissively licensed source code already on this machine.

JavaScript/TypeScript comes from the npm packages under node_modules/ (their package.json names the licence),
Python from Debian's python3 packages under /usr/lib/python3/dist-packages (licences from Debian's copyright
files, listed below by hand because those files are free text). Only MIT, Apache-2.0, BSD and ISC code is taken.
Minified or generated files (long lines) are skipped, duplicates removed, and a few whole packages are held out
for evaluation: the model never sees them in training.

    python3 training/corpus.py --out training/.data

writes corpus-train.jsonl / corpus-heldout.jsonl ({"package", "license", "path", "text"} per file) and
sources.json (every package with its licence, file count and bytes, and its split).
"""
import argparse
import hashlib
import json
import os
import random

PERMISSIVE = ('MIT', 'Apache-2.0', 'BSD-2-Clause', 'BSD-3-Clause', 'ISC', '0BSD')

# Debian python3 packages and their licences (from /usr/share/doc/python3-*/copyright).
PYTHON_PACKAGES = {
    'sympy': 'BSD-3-Clause', 'torch': 'BSD-3-Clause', 'numpy': 'BSD-3-Clause', 'pip': 'MIT',
    'pygments': 'BSD-2-Clause', 'setuptools': 'MIT', 'mpmath': 'BSD-3-Clause', 'psutil': 'BSD-3-Clause',
    'click': 'BSD-3-Clause', 'urllib3': 'MIT', 'idna': 'BSD-3-Clause', 'pyparsing': 'MIT',
    'oauthlib': 'BSD-3-Clause', 'torchgen': 'BSD-3-Clause', 'attr': 'MIT', 'dateutil': 'Apache-2.0',
    'jwt': 'MIT', 'certifi': 'MPL-2.0', 'six': 'MIT', 'wheel': 'MIT', 'blinker': 'MIT', 'distro': 'Apache-2.0',
    'colorama': 'BSD-3-Clause', 'httplib2': 'MIT', 'pkg_resources': 'MIT', 'astunparse': 'BSD-3-Clause',
}
PYTHON_ROOT = '/usr/lib/python3/dist-packages'

# Never trained on: evaluation only.
HELDOUT = {'click', 'pyparsing', 'markdown-it', 'commander', 'js-yaml', 'semver'}

# A package's share of the corpus is capped so that a few giants (sympy, typescript) do not dominate it.
MAX_BYTES_PER_PACKAGE = 4_000_000
MAX_FILE_BYTES = 200_000
CODE_EXTENSIONS = {'.py': 'python', '.js': 'javascript', '.mjs': 'javascript', '.cjs': 'javascript',
                   '.ts': 'typescript', '.mts': 'typescript', '.cts': 'typescript'}


def looks_handwritten(text):
    """Skip minified, bundled and generated files: humans write short lines."""
    lines = text.split('\n')
    if len(lines) < 5:
        return False
    if max(len(line) for line in lines) > 400:
        return False
    if sum(len(line) for line in lines) / len(lines) > 90:
        return False
    head = text[:2000]
    return 'DO NOT EDIT' not in head and 'auto-generated' not in head.lower() and 'sourceMappingURL=data:' not in text


def npm_license(package_json):
    lic = package_json.get('license')
    if isinstance(lic, dict):
        lic = lic.get('type')
    if isinstance(lic, str):
        return lic.strip('()')
    return None


def npm_packages(root):
    for entry in sorted(os.listdir(root)):
        if entry.startswith('.'):
            continue
        if entry.startswith('@'):
            for sub in sorted(os.listdir(os.path.join(root, entry))):
                yield f'{entry}/{sub}', os.path.join(root, entry, sub)
        else:
            yield entry, os.path.join(root, entry)


def files_of(package_dir, skip_nested_node_modules=True):
    for dirpath, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = sorted(d for d in dirnames if not (skip_nested_node_modules and d == 'node_modules')
                             and not d.startswith('.') and d not in ('__pycache__',))
        for name in sorted(filenames):
            ext = os.path.splitext(name)[1]
            if name.endswith('.min.js'):
                continue
            if ext in CODE_EXTENSIONS:
                yield os.path.join(dirpath, name), CODE_EXTENSIONS[ext]


def collect(node_modules, seed):
    rng = random.Random(seed)
    sources = []
    seen = set()

    def take(package, license, base, paths):
        rng.shuffle(paths)
        split = 'heldout' if package in HELDOUT else 'train'
        budget, docs = MAX_BYTES_PER_PACKAGE, []
        for path, language in paths:
            try:
                if os.path.getsize(path) > MAX_FILE_BYTES:
                    continue
                with open(path, encoding='utf-8') as f:
                    text = f.read()
            except (UnicodeDecodeError, OSError):
                continue
            if not looks_handwritten(text):
                continue
            digest = hashlib.sha1(text.encode()).hexdigest()
            if digest in seen:
                continue
            if len(text) > budget:
                break
            seen.add(digest)
            budget -= len(text)
            docs.append({'package': package, 'license': license, 'language': language,
                         'path': os.path.relpath(path, base), 'text': text})
        if docs:
            sources.append({'package': package, 'license': license, 'split': split, 'files': len(docs),
                            'bytes': sum(len(d['text']) for d in docs)})
        return split, docs

    out = {'train': [], 'heldout': []}
    for package, directory in npm_packages(node_modules):
        try:
            with open(os.path.join(directory, 'package.json')) as f:
                license = npm_license(json.load(f))
        except (OSError, ValueError):
            continue
        if license is None or not any(license == p or license.startswith(p + ' ') for p in PERMISSIVE):
            continue
        split, docs = take(package, license, directory, list(files_of(directory)))
        out[split] += docs
    for package, license in sorted(PYTHON_PACKAGES.items()):
        directory = os.path.join(PYTHON_ROOT, package)
        if license not in PERMISSIVE or not os.path.isdir(directory):
            continue
        split, docs = take(package, license, directory, list(files_of(directory)))
        out[split] += docs
    return out, sources


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='training/.data')
    parser.add_argument('--node-modules', default='node_modules')
    parser.add_argument('--seed', type=int, default=1234)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    out, sources = collect(args.node_modules, args.seed)
    for split, docs in out.items():
        with open(os.path.join(args.out, f'corpus-{split}.jsonl'), 'w') as f:
            for doc in docs:
                f.write(json.dumps(doc) + '\n')
        print(f'{split}: {len(docs)} files, {sum(len(d["text"]) for d in docs) / 1e6:.1f} MB')
    with open(os.path.join(args.out, 'sources.json'), 'w') as f:
        json.dump(sorted(sources, key=lambda s: (s['split'], s['package'])), f, indent=1)


if __name__ == '__main__':
    main()
