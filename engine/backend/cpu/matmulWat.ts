// The WebAssembly SIMD kernels of the CPU backend, as WAT text (assembled at start by kernelModule.ts):
// matmul_{f32,f16,bf16,f16_finite} (below), matmul_{q8_0,q4_0,q5_0,q5_1,q4_k,q5_k,q6_k} (their tiles in
// quantMatmulWat.ts), matmul_nn_f32 (attention's P·V) and f16_finite (a scan).
//
// Shape contract, for each stored dtype (export `matmul_f32`, `matmul_f16`, `matmul_bf16`, `matmul_f16_finite`):
//   matmul(x, w, out, n, rows, cols, r0, r1, rowBlock)
//   out[t, r] = Σ_i x[t, i] · W[r, i]   for t in [0, n), r in [r0, r1)
// x: f32 [n, cols]; W: [rows, cols] in its dtype (f16 and bf16 decoded in-register, exactly); out: f32 [n, rows].
// Pointers are byte offsets into the shared memory (unsigned, up to 4 GiB); cols must be a multiple of 8.
// Accumulation is in f32 lanes (8 columns per step, then a lane sum), like the reference's fp32 GEMMs.
//
// Loop order: rows in blocks of `rowBlock` (chosen by the caller so a block of W stays in L2), then tokens in
// blocks of 4, then register tiles of 4 tokens × 2 rows (8 accumulators: each W vector is used by 4 tokens and
// each x vector by 2 rows). Decode (n = 1) uses tiles of 1 token × 4 rows: four independent accumulators
// stream W once.

import { dotKernelsWat } from './quantDotWat';
import { QUANT_KERNEL_DTYPES, QUANT_PRELUDE, QuantKernelDType, quantRowBytes, quantTile } from './quantMatmulWat';

/** f16_finite: f16 weights known to hold no inf/nan (checked once per tensor by `f16_finite`): a cheaper decode. */
export type FloatKernelDType = 'f32' | 'f16' | 'bf16' | 'f16_finite';
export type KernelDType = FloatKernelDType | QuantKernelDType;
export const KERNEL_DTYPES: FloatKernelDType[] = ['f32', 'f16', 'bf16', 'f16_finite'];

/** Sets locals `${dst}a` (columns 0-3) and `${dst}b` (columns 4-7) to the 8 weights at byte address `addr`. */
function loadWeights(dtype: FloatKernelDType, addr: string, dst: string): string {
  if (dtype === 'f32') {
    return `(local.set $${dst}a (v128.load ${addr})) (local.set $${dst}b (v128.load offset=16 ${addr}))`;
  }
  const halves = `(local.set $h (v128.load ${addr}))`;
  // Interleaves zero words with 4 of the 8 halves, putting each half in the top 16 bits of an i32 lane
  // (V8 emits one punpcklwd / punpckhwd for these two patterns).
  const spread = (v: string, high: boolean) =>
    `(i8x16.shuffle ${high ? '8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31' : '0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23'} (local.get $kZero) ${v})`;

  if (dtype === 'f16_finite') {
    // The half in the top 16 bits, shifted right arithmetically by 3: the sign lands in bit 31 (and 30..28,
    // cleared by the mask) and exponent+mantissa in f32 position; ×2^112 rebiases (exact, subnormals too).
    const decode = (high: boolean, out: string) => `
      (local.set $${out} (f32x4.mul
        (v128.and (i32x4.shr_s ${spread('(local.get $h)', high)} (i32.const 3)) (local.get $kSignExpMant))
        (local.get $kScale)))`;
    return halves + decode(false, `${dst}a`) + decode(true, `${dst}b`);
  }
  if (dtype === 'bf16') {
    // bf16 is the top half of an f32.
    return `${halves}
      (local.set $${dst}a ${spread('(local.get $h)', false)})
      (local.set $${dst}b ${spread('(local.get $h)', true)})`;
  }
  // f16, per 8 halves: |h| moved into f32 position (the top half of each i32 lane, shifted right by 3) and
  // rebiased by multiplying by 2^112 (exact, subnormals included); the sign, and exponent 255 for inf/nan,
  // are ORed in afterwards. Exact for every bit pattern.
  const decode = (high: boolean, out: string) => `
      (local.set $${out}
        (v128.or
          (f32x4.mul (i32x4.shr_u ${spread('(local.get $a)', high)} (i32.const 3)) (local.get $kScale))
          ${spread('(local.get $e)', high)}))`;
  const prepare = `
      (local.set $a (v128.and (local.get $h) (local.get $k7fff)))
      (local.set $e (v128.or (v128.xor (local.get $h) (local.get $a))
        (v128.and (i16x8.gt_s (local.get $a) (local.get $k7bff)) (local.get $k7f80))))`;
  return halves + prepare + decode(false, `${dst}a`) + decode(true, `${dst}b`);
}

/** A register tile: tokens × rows accumulators over all columns; writes tokens × rows outputs. */
function tile(dtype: FloatKernelDType, tokens: number, rows: number): string {
  const wBytes = dtype === 'f32' ? 4 : 2;
  const name = `$tile_${dtype}_${tokens}x${rows}`;
  const locals: string[] = ['(local $i i32)', '(local $wi i32)', '(local $xs i32)', '(local $ws i32)', '(local $end i32)'];
  locals.push('(local $h v128)', '(local $e v128)', '(local $a v128)', '(local $xa v128)', '(local $xb v128)');
  // V8 rebuilds a v128.const at every use; the f16 decode's constants are set once, outside the loop.
  // They are splats of mutable globals, which V8 cannot fold back into per-use constants.
  const constants: [string, string][] = [
    ['$kZero', '(v128.const i64x2 0 0)'],
    ['$k7fff', '(i16x8.splat (global.get $f16AbsMask))'],
    ['$k7bff', '(i16x8.splat (global.get $f16MaxFinite))'],
    ['$k7f80', '(i16x8.splat (global.get $f32InfHigh))'],
    ['$kScale', '(f32x4.splat (global.get $f16Rebias))'],
    ['$kSignExpMant', '(i32x4.splat (global.get $f16SignExpMant))'],
  ];
  for (const [name] of constants) locals.push(`(local ${name} v128)`);
  for (let r = 0; r < rows; r++) locals.push(`(local $w${r}a v128)`, `(local $w${r}b v128)`, `(local $wp${r} i32)`);
  for (let t = 0; t < tokens; t++) locals.push(`(local $xp${t} i32)`);
  const bases: string[] = dtype !== 'f32' ? constants.map(([name, value]) => `(local.set ${name} ${value})`) : [];
  for (let r = 0; r < rows; r++) bases.push(`(local.set $wp${r} (i32.add (local.get $w) (i32.mul (local.get $ws) (i32.const ${r}))))`);
  for (let t = 0; t < tokens; t++) bases.push(`(local.set $xp${t} (i32.add (local.get $x) (i32.mul (local.get $xs) (i32.const ${t}))))`);
  for (let t = 0; t < tokens; t++) for (let r = 0; r < rows; r++) locals.push(`(local $acc${t}_${r} v128)`);

  const body: string[] = [];
  for (let r = 0; r < rows; r++) {
    const addr = `(i32.add (local.get $wp${r}) (local.get $wi))`;
    body.push(loadWeights(dtype, addr, `w${r}`));
  }
  for (let t = 0; t < tokens; t++) {
    const addr = `(i32.add (local.get $xp${t}) (local.get $i))`;
    body.push(`(local.set $xa (v128.load ${addr})) (local.set $xb (v128.load offset=16 ${addr}))`);
    for (let r = 0; r < rows; r++) {
      const acc = `$acc${t}_${r}`;
      body.push(`(local.set ${acc} (f32x4.add (local.get ${acc}) (f32x4.mul (local.get $xa) (local.get $w${r}a))))`);
      body.push(`(local.set ${acc} (f32x4.add (local.get ${acc}) (f32x4.mul (local.get $xb) (local.get $w${r}b))))`);
    }
  }
  const stores: string[] = [];
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < rows; r++) {
      const acc = `(local.get $acc${t}_${r})`;
      const sum = `(f32.add (f32.add (f32x4.extract_lane 0 ${acc}) (f32x4.extract_lane 1 ${acc})) (f32.add (f32x4.extract_lane 2 ${acc}) (f32x4.extract_lane 3 ${acc})))`;
      const at = `(i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $rows) (i32.const ${t})) (i32.const ${r})) (i32.const 2)))`;
      stores.push(`(f32.store ${at} ${sum})`);
    }
  }
  return `
  (func ${name} (param $x i32) (param $w i32) (param $out i32) (param $rows i32) (param $cols i32)
    ${locals.join(' ')}
    (local.set $xs (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $ws (i32.mul (local.get $cols) (i32.const ${wBytes})))
    (local.set $end (local.get $xs))
    ${bases.join(' ')}
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        ${body.join('\n        ')}
        (local.set $i (i32.add (local.get $i) (i32.const 32)))
        (local.set $wi (i32.add (local.get $wi) (i32.const ${8 * wBytes})))
        (br $step)))
    ${stores.join('\n    ')})`;
}

/** Tiles per token-block size: [tokens, rows] pairs, widest first; the last has one row (the row tail). */
const TILES: Record<number, number[]> = { 4: [2, 1], 3: [2, 1], 2: [2, 1], 1: [4, 1] };

/** Bytes of one row of W, as a WAT expression of $cols. */
function rowBytes(dtype: KernelDType): string {
  if ((QUANT_KERNEL_DTYPES as string[]).includes(dtype)) return quantRowBytes(dtype as QuantKernelDType, '(local.get $cols)');
  return `(i32.mul (local.get $cols) (i32.const ${dtype === 'f32' ? 4 : 2}))`;
}

function matmulFunction(dtype: KernelDType): string {
  // Sweeps rows [$r, $rb1) of one token block with tiles of `rows` rows, leaving $r at the first row not done.
  const sweep = (tokens: number, rows: number) => `
          (block $swept
            (loop $next
              (br_if $swept (i32.gt_u (i32.add (local.get $r) (i32.const ${rows})) (local.get $rb1)))
              (call $tile_${dtype}_${tokens}x${rows}
                (i32.add (local.get $x) (i32.mul (local.get $t0) (i32.shl (local.get $cols) (i32.const 2))))
                (i32.add (local.get $w) (i32.mul (local.get $r) ${rowBytes(dtype)}))
                (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $t0) (local.get $rows)) (local.get $r)) (i32.const 2)))
                (local.get $rows) (local.get $cols))
              (local.set $r (i32.add (local.get $r) (i32.const ${rows})))
              (br $next)))`;
  const byTokens = [4, 3, 2, 1]
    .map((tb) => `
        (if (i32.eq (local.get $tb) (i32.const ${tb}))
          (then ${TILES[tb].map((rows) => sweep(tb, rows)).join('')}))`)
    .join('');
  return `
  (func (export "matmul_${dtype}") (param $x i32) (param $w i32) (param $out i32) (param $n i32) (param $rows i32) (param $cols i32) (param $r0 i32) (param $r1 i32) (param $rowBlock i32)
    (local $rb0 i32) (local $rb1 i32) (local $t0 i32) (local $tb i32) (local $r i32)
    (local.set $rb0 (local.get $r0))
    (block $rowsDone
      (loop $rowBlocks
        (br_if $rowsDone (i32.ge_u (local.get $rb0) (local.get $r1)))
        (local.set $rb1 (select (local.get $r1) (i32.add (local.get $rb0) (local.get $rowBlock))
          (i32.lt_u (i32.sub (local.get $r1) (local.get $rb0)) (local.get $rowBlock))))
        (local.set $t0 (i32.const 0))
        (block $tokensDone
          (loop $tokenBlocks
            (br_if $tokensDone (i32.ge_u (local.get $t0) (local.get $n)))
            (local.set $tb (select (i32.const 4) (i32.sub (local.get $n) (local.get $t0))
              (i32.ge_u (i32.sub (local.get $n) (local.get $t0)) (i32.const 4))))
            (local.set $r (local.get $rb0))${byTokens}
            (local.set $t0 (i32.add (local.get $t0) (local.get $tb)))
            (br $tokenBlocks)))
        (local.set $rb0 (local.get $rb1))
        (br $rowBlocks)))
  )`;
}

/**
 * The weighted row sum, for attention's P·V with V stored by rows (MLA's latent rows):
 *   matmul_nn_f32(p, w, out, n, k, m, c0, c1, unused)
 *   out[t, c] = Σ_s p[t, s] · W[s, c]   for t in [0, n), c in [c0, c1)
 * p: f32 [n, k]; W: f32 [k, m]; out: f32 [n, m]; m, c0 and c1 multiples of 8. Tiles of 4 rows of p × 8 columns
 * (each W vector used by 4 rows); threads split the columns.
 */
function nnTile(tokens: number): string {
  const locals = ['(local $s i32)', '(local $wp i32)', '(local $ps i32)', '(local $end i32)', '(local $w0 v128)', '(local $w1 v128)', '(local $pv v128)'];
  for (let t = 0; t < tokens; t++) locals.push(`(local $a${t} v128)`, `(local $b${t} v128)`, `(local $pp${t} i32)`);
  const bases: string[] = [];
  for (let t = 0; t < tokens; t++) bases.push(`(local.set $pp${t} (i32.add (local.get $p) (i32.mul (i32.shl (local.get $k) (i32.const 2)) (i32.const ${t}))))`);
  const body: string[] = [];
  for (let t = 0; t < tokens; t++) {
    body.push(`(local.set $pv (f32x4.splat (f32.load (i32.add (local.get $pp${t}) (local.get $ps)))))`);
    body.push(`(local.set $a${t} (f32x4.add (local.get $a${t}) (f32x4.mul (local.get $pv) (local.get $w0))))`);
    body.push(`(local.set $b${t} (f32x4.add (local.get $b${t}) (f32x4.mul (local.get $pv) (local.get $w1))))`);
  }
  const stores: string[] = [];
  for (let t = 0; t < tokens; t++) {
    const at = `(i32.add (local.get $out) (i32.mul (i32.shl (local.get $m) (i32.const 2)) (i32.const ${t})))`;
    stores.push(`(v128.store ${at} (local.get $a${t})) (v128.store offset=16 ${at} (local.get $b${t}))`);
  }
  return `
  (func $nn_tile_${tokens} (param $p i32) (param $w i32) (param $out i32) (param $k i32) (param $m i32)
    ${locals.join(' ')}
    ${bases.join(' ')}
    (local.set $wp (local.get $w))
    (local.set $end (i32.shl (local.get $k) (i32.const 2)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $ps) (local.get $end)))
        (local.set $w0 (v128.load (local.get $wp)))
        (local.set $w1 (v128.load offset=16 (local.get $wp)))
        ${body.join('\n        ')}
        (local.set $ps (i32.add (local.get $ps) (i32.const 4)))
        (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $m) (i32.const 2))))
        (br $step)))
    ${stores.join('\n    ')})`;
}

function matmulNnFunction(): string {
  const sweep = (tokens: number) => `
        (block $swept
          (loop $next
            (br_if $swept (i32.gt_u (i32.add (local.get $t) (i32.const ${tokens})) (local.get $n)))
            (call $nn_tile_${tokens}
              (i32.add (local.get $p) (i32.shl (i32.mul (local.get $t) (local.get $k)) (i32.const 2)))
              (i32.add (local.get $w) (i32.shl (local.get $c) (i32.const 2)))
              (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $m)) (local.get $c)) (i32.const 2)))
              (local.get $k) (local.get $m))
            (local.set $t (i32.add (local.get $t) (i32.const ${tokens})))
            (br $next)))`;
  return `
  (func (export "matmul_nn_f32") (param $p i32) (param $w i32) (param $out i32) (param $n i32) (param $k i32) (param $m i32) (param $c0 i32) (param $c1 i32) (param $unused i32)
    (local $c i32) (local $t i32)
    (local.set $c (local.get $c0))
    (block $colsDone
      (loop $cols
        (br_if $colsDone (i32.ge_u (local.get $c) (local.get $c1)))
        (local.set $t (i32.const 0))${sweep(4)}${sweep(1)}
        (local.set $c (i32.add (local.get $c) (i32.const 8)))
        (br $cols)))
  )`;
}

/** f16_finite(ptr, count) -> 1 when none of `count` halves (a multiple of 8) at ptr is inf or nan. */
const F16_FINITE_SCAN = `
  (func (export "f16_finite") (param $p i32) (param $count i32) (result i32)
    (local $end i32) (local $any v128) (local $expMask v128)
    (local.set $expMask (i16x8.splat (i32.const 0x7c00)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $count) (i32.const 1))))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $any (v128.or (local.get $any)
          (i16x8.eq (v128.and (v128.load (local.get $p)) (local.get $expMask)) (local.get $expMask))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $step)))
    (i32.eqz (v128.any_true (local.get $any))))`;

/** The whole kernel module: imports its (shared) memory as env.memory. */
export function matmulWat(): string {
  const parts: string[] = [
    '(module',
    '  (import "env" "memory" (memory 1 65536 shared))',
    '  (global $f16AbsMask (mut i32) (i32.const 0x7fff))',
    '  (global $f16MaxFinite (mut i32) (i32.const 0x7bff))',
    '  (global $f32InfHigh (mut i32) (i32.const 0x7f80))',
    '  (global $f16Rebias (mut f32) (f32.const 0x1p112))',
    '  (global $f16SignExpMant (mut i32) (i32.const 0x8fffe000))',
    QUANT_PRELUDE,
  ];
  for (const dtype of KERNEL_DTYPES) {
    for (const tb of [4, 3, 2, 1]) for (const rows of TILES[tb]) parts.push(tile(dtype, tb, rows));
    parts.push(matmulFunction(dtype));
  }
  for (const dtype of QUANT_KERNEL_DTYPES) {
    for (const tb of [4, 3, 2, 1]) for (const rows of TILES[tb]) parts.push(quantTile(dtype, tb, rows));
    parts.push(matmulFunction(dtype));
  }
  parts.push(nnTile(4), nnTile(1), matmulNnFunction(), F16_FINITE_SCAN);
  parts.push(dotKernelsWat());
  parts.push(')');
  return parts.join('\n');
}
