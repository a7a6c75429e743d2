// Integer-dot matmul kernels over GGML block-quantised weights, as WAT text: the activations arrive quantised
// (Q8_0 for Q8_0/Q4_0 weights, Q8_K for the K-quants; layout and arithmetic in
// engine/weights/quantiseActivations.ts), weights are widened to i16 in registers and multiplied into i32 with
// `i32x4.dot_i16x8_s`; block and sub-block scales are applied to the exact integer sums (the mins through the
// activation's per-16 sums), as llama.cpp's ggml_vec_dot_*_q8_0 / _q8_K do.
//
// Shape contract (exports `dot_q8_0`, `dot_q4_0`, `dot_q5_0`, `dot_q4_k`, `dot_q5_k`, `dot_q6_k`):
//   dot(xq, w, out, n, rows, cols, r0, r1, rowBlock)
//   out[t, r] = dot(quantised x row t, W row r)   for t in [0, n), r in [r0, r1)
// xq: n quantised rows back to back (quantisedRowBytes each); W as for the f32-activation kernels; out f32.
// Loop order: rows in blocks of rowBlock, then tokens, then tiles of DOT_TILE_ROWS rows (sharing the activation
// loads), then single rows.
// The K-quants' f32 arithmetic is the reference's, operation for operation (so the result is bit-exact);
// Q8_0/Q4_0/Q5_0 sum their per-block f32 terms in four lanes (lane l: the values whose index mod 8 is 2l or
// 2l+1), then across them as (l0 + l1) + (l2 + l3). The native kernels (native/quant_dot_avx512.c) repeat these
// f32 steps exactly.
import { GGML_TYPES } from '../../weights/ggmlTypes';

/** The weight types with an integer-dot kernel (Q5_1 takes the f32-activation kernels only). */
export type DotKernelDType = 'q8_0' | 'q4_0' | 'q5_0' | 'q4_k' | 'q5_k' | 'q6_k';
const GGML_OF: Record<DotKernelDType, 'Q8_0' | 'Q4_0' | 'Q5_0' | 'Q4_K' | 'Q5_K' | 'Q6_K'> = { q8_0: 'Q8_0', q4_0: 'Q4_0', q5_0: 'Q5_0', q4_k: 'Q4_K', q5_k: 'Q5_K', q6_k: 'Q6_K' };
export const DOT_KERNEL_DTYPES: DotKernelDType[] = ['q8_0', 'q4_0', 'q5_0', 'q4_k', 'q5_k', 'q6_k'];
const BLOCK32_DTYPES = ['q8_0', 'q4_0', 'q5_0'] as const;

const g = (name: string) => `(local.get $${name})`;
const s = (name: string, value: string) => `(local.set $${name} ${value})`;
const dot = (a: string, b: string) => `(i32x4.dot_i16x8_s ${a} ${b})`;
const xs8 = (offset: number, base = 'x') => `(v128.load8x8_s offset=${offset} ${g(base)})`;
const wu8 = (offset: number, base: string) => `(v128.load8x8_u offset=${offset} ${g(base)})`;
const addI = (a: string, b: string) => `(i32x4.add ${a} ${b})`;
const sumLanes = (v: string) => `(i32.add (i32.add (i32x4.extract_lane 0 ${v}) (i32x4.extract_lane 1 ${v})) (i32.add (i32x4.extract_lane 2 ${v}) (i32x4.extract_lane 3 ${v})))`;
const half = (addr: string) => `(call $half (i32.load16_u ${addr}))`;

/** Σ of `terms` (i32x4 expressions). */
const addAll = (terms: string[]) => terms.reduce((a, b) => addI(a, b));

/** Locals every row-dot uses: the masks as splats of mutable globals (V8 rebuilds a v128.const per use). */
const MASKS = `
    (local $k0f v128) (local $k1 v128) (local $k2 v128) (local $k8 v128) (local $k30 v128) (local $k32 v128)
    ${s('k0f', '(i16x8.splat (global.get $nibbleMask))')}
    ${s('k1', '(i16x8.splat (global.get $one))')}
    ${s('k2', '(i16x8.splat (global.get $two))')}
    ${s('k8', '(i16x8.splat (global.get $q4Offset))')}
    ${s('k30', '(i16x8.splat (global.get $q6High))')}
    ${s('k32', '(i16x8.splat (global.get $q6Offset))')}`;

/** The f32 lane sum of a v128 local. */
const sumF = (v: string) => `(f32.add (f32.add (f32x4.extract_lane 0 ${v}) (f32x4.extract_lane 1 ${v})) (f32.add (f32x4.extract_lane 2 ${v}) (f32x4.extract_lane 3 ${v})))`;

/**
 * The Q8_0/Q4_0/Q5_0 tile over R rows (one token): per block, the 8-value activation vectors are loaded once and
 * used by every row; each row's f32 lanes gather f32(sumi_b)·(f16(d_b)·xd_b).
 */
function tile32(dtype: (typeof BLOCK32_DTYPES)[number], R: number): string {
  const bytes = GGML_TYPES[GGML_OF[dtype]].blockBytes;
  const locals = ['(local $xd i32) (local $end i32) (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $v v128)'];
  const body: string[] = [];
  const q5Setup: string[] = [];
  if (dtype === 'q5_0') {
    locals.push('(local $bits v128) (local $k16 v128)');
    q5Setup.push(s('bits', '(global.get $bitLanes)'), s('k16', '(i16x8.splat (global.get $q5Offset))'));
  }
  for (let k = 0; k < 4; k++) body.push(s(`x${k}`, xs8(8 * k)));
  for (let r = 0; r < R; r++) {
    locals.push(`(local $wp${r} i32) (local $acc${r} v128) (local $isum${r} v128)`);
    let terms: string[];
    if (dtype === 'q8_0') {
      terms = [0, 1, 2, 3].map((k) => dot(`(v128.load8x8_s offset=${2 + 8 * k} ${g(`wp${r}`)})`, g(`x${k}`)));
      body.push(s(`isum${r}`, addAll(terms)));
    } else if (dtype === 'q5_0') {
      // Value j: its nibble (qs[j] low for j < 16, qs[j - 16] high) with bit j of qh as 16, minus 16.
      const fifth = (k: number) => `(v128.and (i16x8.eq (v128.and (i16x8.splat (i32.load8_u offset=${2 + k} ${g(`wp${r}`)})) ${g('bits')}) ${g('bits')}) ${g('k16')})`;
      const value = (nibble: string, k: number) => `(i16x8.sub (v128.or ${nibble} ${fifth(k)}) ${g('k16')})`;
      body.push(s('v', wu8(6, `wp${r}`)));
      body.push(s(`isum${r}`, addI(dot(value(`(v128.and ${g('v')} ${g('k0f')})`, 0), g('x0')), dot(value(`(i16x8.shr_u ${g('v')} (i32.const 4))`, 2), g('x2')))));
      body.push(s('v', wu8(14, `wp${r}`)));
      body.push(s(`isum${r}`, addI(g(`isum${r}`), addI(dot(value(`(v128.and ${g('v')} ${g('k0f')})`, 1), g('x1')), dot(value(`(i16x8.shr_u ${g('v')} (i32.const 4))`, 3), g('x3'))))));
    } else {
      body.push(s('v', wu8(2, `wp${r}`)));
      body.push(s(`isum${r}`, addI(dot(`(i16x8.sub (v128.and ${g('v')} ${g('k0f')}) ${g('k8')})`, g('x0')), dot(`(i16x8.sub (i16x8.shr_u ${g('v')} (i32.const 4)) ${g('k8')})`, g('x2')))));
      body.push(s('v', wu8(10, `wp${r}`)));
      body.push(s(`isum${r}`, addI(g(`isum${r}`), addI(dot(`(i16x8.sub (v128.and ${g('v')} ${g('k0f')}) ${g('k8')})`, g('x1')), dot(`(i16x8.sub (i16x8.shr_u ${g('v')} (i32.const 4)) ${g('k8')})`, g('x3'))))));
    }
    body.push(s(`acc${r}`, `(f32x4.add ${g(`acc${r}`)} (f32x4.mul (f32x4.convert_i32x4_s ${g(`isum${r}`)}) (f32x4.splat (f32.mul ${half(g(`wp${r}`))} (f32.load ${g('xd')})))))`));
    body.push(s(`wp${r}`, `(i32.add ${g(`wp${r}`)} (i32.const ${bytes}))`));
  }
  const init = Array.from({ length: R }, (_, r) => s(`wp${r}`, `(i32.add ${g('w')} (i32.mul ${g('ws')} (i32.const ${r})))`)).join(' ');
  const stores = Array.from({ length: R }, (_, r) => `(f32.store offset=${4 * r} ${g('out')} ${sumF(g(`acc${r}`))})`).join(' ');
  return `
  (func $tile_dot_${dtype}_${R} (param $x i32) (param $w i32) (param $ws i32) (param $nb i32) (param $cols i32) (param $out i32)
    ${locals.join(' ')} ${MASKS}
    ${q5Setup.join(' ')}
    ${init}
    ${s('xd', `(i32.add ${g('x')} ${g('cols')})`)}
    ${s('end', `(i32.add ${g('xd')} (i32.shl ${g('nb')} (i32.const 2)))`)}
    (block $done
      (loop $block
        (br_if $done (i32.ge_u ${g('xd')} ${g('end')}))
        ${body.join('\n        ')}
        ${s('x', `(i32.add ${g('x')} (i32.const 32))`)}
        ${s('xd', `(i32.add ${g('xd')} (i32.const 4))`)}
        (br $block)))
    ${stores})`;
}

/** Q4_K/Q5_K: sets $sc<j>, $m<j> (j < 8) from the 12 packed bytes at $wp<r> + 4 (get_scale_min_k4). */
function scalesK4(r: number): string {
  const b = (o: number) => `(i32.load8_u offset=${4 + o} ${g(`wp${r}`)})`;
  const out: string[] = [];
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      out.push(s(`sc${j}`, `(i32.and ${b(j)} (i32.const 63))`), s(`m${j}`, `(i32.and ${b(j + 4)} (i32.const 63))`));
    } else {
      out.push(s(`sc${j}`, `(i32.or (i32.and ${b(j + 4)} (i32.const 15)) (i32.shl (i32.shr_u ${b(j - 4)} (i32.const 6)) (i32.const 4)))`));
      out.push(s(`m${j}`, `(i32.or (i32.shr_u ${b(j + 4)} (i32.const 4)) (i32.shl (i32.shr_u ${b(j)} (i32.const 6)) (i32.const 4)))`));
    }
  }
  return out.join(' ');
}

/**
 * The K-quant super-block body over R rows: sets $isum<r> (Σ scale·Σ w·x, i32x4) and, with mins, $summs<r>.
 * Activation vectors are loaded once per step and used by every row.
 */
function superBlock(dtype: 'q4_k' | 'q5_k' | 'q6_k', R: number): string {
  const body: string[] = [];
  const rs = Array.from({ length: R }, (_, r) => r);
  for (const r of rs) body.push(s(`isum${r}`, '(i32x4.splat (i32.const 0))'));
  if (dtype === 'q6_k') {
    for (let c = 0; c < 2; c++) {
      for (let kp = 0; kp < 2; kp++) {
        // Steps k = 2kp, 2kp+1 fill one 16-group per quarter h (scale 8c + 2h + kp).
        for (const k of [2 * kp, 2 * kp + 1]) {
          for (let h = 0; h < 4; h++) body.push(s(`x${h}`, xs8(128 * c + 32 * h + 8 * k)));
          for (const r of rs) {
            const wp = `wp${r}`;
            body.push(s('l0', wu8(64 * c + 8 * k, wp)), s('l1', wu8(64 * c + 32 + 8 * k, wp)), s('hb', wu8(128 + 32 * c + 8 * k, wp)));
            const q = [
              `(v128.or (v128.and ${g('l0')} ${g('k0f')}) (v128.and (i16x8.shl ${g('hb')} (i32.const 4)) ${g('k30')}))`,
              `(v128.or (v128.and ${g('l1')} ${g('k0f')}) (v128.and (i16x8.shl ${g('hb')} (i32.const 2)) ${g('k30')}))`,
              `(v128.or (i16x8.shr_u ${g('l0')} (i32.const 4)) (v128.and ${g('hb')} ${g('k30')}))`,
              `(v128.or (i16x8.shr_u ${g('l1')} (i32.const 4)) (v128.and (i16x8.shr_u ${g('hb')} (i32.const 2)) ${g('k30')}))`,
            ];
            for (let h = 0; h < 4; h++) {
              const name = `g${h}_${r}`;
              const d = dot(`(i16x8.sub ${q[h]} ${g('k32')})`, g(`x${h}`));
              body.push(s(name, k & 1 ? addI(g(name), d) : d));
            }
          }
        }
        for (const r of rs) {
          for (let h = 0; h < 4; h++) {
            const sc = `(i32x4.splat (i32.load8_s offset=${192 + 8 * c + 2 * h + kp} ${g(`wp${r}`)}))`;
            body.push(s(`isum${r}`, addI(g(`isum${r}`), `(i32x4.mul ${g(`g${h}_${r}`)} ${sc})`)));
          }
        }
      }
    }
    return body.join('\n        ');
  }
  const qAt = dtype === 'q4_k' ? 16 : 48;
  for (let p = 0; p < 4; p++) {
    for (let k = 0; k < 4; k++) {
      body.push(s('x0', xs8(64 * p + 8 * k)), s('x1', xs8(64 * p + 32 + 8 * k)));
      for (const r of rs) {
        body.push(s('l0', wu8(qAt + 32 * p + 8 * k, `wp${r}`)));
        let qlo = `(v128.and ${g('l0')} ${g('k0f')})`;
        let qhi = `(i16x8.shr_u ${g('l0')} (i32.const 4))`;
        if (dtype === 'q5_k') {
          // The fifth bits of sub-blocks 2p, 2p+1: bits 2p, 2p+1 of qh, read once per super-block ($h<k>_<r>).
          if (p === 0) body.push(s(`h${k}_${r}`, wu8(16 + 8 * k, `wp${r}`)));
          body.push(s('hb', p === 0 ? g(`h${k}_${r}`) : `(i16x8.shr_u ${g(`h${k}_${r}`)} (i32.const ${2 * p}))`));
          qlo = `(v128.or ${qlo} (i16x8.shl (v128.and ${g('hb')} ${g('k1')}) (i32.const 4)))`;
          qhi = `(v128.or ${qhi} (i16x8.shl (v128.and ${g('hb')} ${g('k2')}) (i32.const 3)))`;
        }
        // Summed as they come: $l0 is overwritten by the next step.
        const lo = `g0_${r}`, hi = `g1_${r}`;
        body.push(s(lo, k ? addI(g(lo), dot(qlo, g('x0'))) : dot(qlo, g('x0'))));
        body.push(s(hi, k ? addI(g(hi), dot(qhi, g('x1'))) : dot(qhi, g('x1'))));
      }
    }
    for (const r of rs) {
      body.push(s(`isum${r}`, addI(g(`isum${r}`), addI(`(i32x4.mul ${g(`g0_${r}`)} (i32x4.splat ${g(`sc${2 * p}_${r}`)}))`, `(i32x4.mul ${g(`g1_${r}`)} (i32x4.splat ${g(`sc${2 * p + 1}_${r}`)}))`))));
    }
  }
  // Σ_j m_j·(bsum[2j] + bsum[2j+1]) over the super-block's 16 sums at $xb.
  const bs = (i: number) => `(i32.load16_s offset=${2 * i} ${g('xb')})`;
  for (const r of rs) {
    const mins = [0, 1, 2, 3, 4, 5, 6, 7].map((j) => `(i32.mul ${g(`m${j}_${r}`)} (i32.add ${bs(2 * j)} ${bs(2 * j + 1)}))`);
    body.push(s(`summs${r}`, mins.reduce((a, b) => `(i32.add ${a} ${b})`)));
  }
  return body.join('\n        ');
}

function tileK(dtype: 'q4_k' | 'q5_k' | 'q6_k', R: number): string {
  const bytes = GGML_TYPES[GGML_OF[dtype]].blockBytes;
  const locals = ['(local $xd i32) (local $xb i32) (local $end i32) (local $l0 v128) (local $l1 v128) (local $hb v128) (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)'];
  for (let j = 0; j < 8; j++) locals.push(`(local $sc${j} i32) (local $m${j} i32)`);
  const dAt = dtype === 'q6_k' ? 208 : 0;
  const setup: string[] = [];
  const folds: string[] = [];
  for (let r = 0; r < R; r++) {
    locals.push(`(local $wp${r} i32) (local $acc${r} f32) (local $isum${r} v128) (local $summs${r} i32)`);
    for (let h = 0; h < 4; h++) locals.push(`(local $g${h}_${r} v128) (local $h${h}_${r} v128)`);
    for (let j = 0; j < 8; j++) locals.push(`(local $sc${j}_${r} i32) (local $m${j}_${r} i32)`);
    if (dtype !== 'q6_k') {
      setup.push(scalesK4(r));
      for (let j = 0; j < 8; j++) setup.push(s(`sc${j}_${r}`, g(`sc${j}`)), s(`m${j}_${r}`, g(`m${j}`)));
    }
    const wp = g(`wp${r}`);
    const d = `(f32.mul ${half(`offset=${dAt} ${wp}`)} (f32.load ${g('xd')}))`;
    folds.push(s(`acc${r}`, `(f32.add ${g(`acc${r}`)} (f32.mul ${d} (f32.convert_i32_s ${sumLanes(g(`isum${r}`))})))`));
    if (dtype !== 'q6_k') {
      const dmin = `(f32.mul ${half(`offset=2 ${wp}`)} (f32.load ${g('xd')}))`;
      folds.push(s(`acc${r}`, `(f32.sub ${g(`acc${r}`)} (f32.mul ${dmin} (f32.convert_i32_s ${g(`summs${r}`)})))`));
    }
    folds.push(s(`wp${r}`, `(i32.add ${wp} (i32.const ${bytes}))`));
  }
  const init = Array.from({ length: R }, (_, r) => s(`wp${r}`, `(i32.add ${g('w')} (i32.mul ${g('ws')} (i32.const ${r})))`)).join(' ');
  const stores = Array.from({ length: R }, (_, r) => `(f32.store offset=${4 * r} ${g('out')} ${g(`acc${r}`)})`).join(' ');
  return `
  (func $tile_dot_${dtype}_${R} (param $x i32) (param $w i32) (param $ws i32) (param $nb i32) (param $cols i32) (param $out i32)
    ${locals.join(' ')} ${MASKS}
    ${init}
    ${s('xd', `(i32.add ${g('x')} ${g('cols')})`)}
    ${s('xb', `(i32.add ${g('xd')} (i32.shl ${g('nb')} (i32.const 2)))`)}
    ${s('end', g('xb'))}
    (block $done
      (loop $block
        (br_if $done (i32.ge_u ${g('xd')} ${g('end')}))
        ${setup.join('\n        ')}
        ${superBlock(dtype, R)}
        ${folds.join('\n        ')}
        ${s('x', `(i32.add ${g('x')} (i32.const 256))`)}
        ${s('xd', `(i32.add ${g('xd')} (i32.const 4))`)}
        ${s('xb', `(i32.add ${g('xb')} (i32.const 32))`)}
        (br $block)))
    ${stores})`;
}

/** Bytes of one quantised activation row, as a WAT expression of $cols (see quantisedRowBytes). */
function tokenBytes(dtype: DotKernelDType): string {
  const c = g('cols');
  if (isBlock32(dtype)) return `(i32.add ${c} (i32.shr_u ${c} (i32.const 3)))`;
  return `(i32.add (i32.add ${c} (i32.shr_u ${c} (i32.const 6))) (i32.shr_u ${c} (i32.const 3)))`;
}

/** Rows per tile of each kernel (then a one-row tail). */
export const DOT_TILE_ROWS: Record<DotKernelDType, number> = { q8_0: 4, q4_0: 4, q5_0: 4, q4_k: 2, q5_k: 2, q6_k: 2 };

function isBlock32(dtype: DotKernelDType): dtype is (typeof BLOCK32_DTYPES)[number] {
  return (BLOCK32_DTYPES as readonly string[]).includes(dtype);
}

function dotFunction(dtype: DotKernelDType): string {
  const { blockElements, blockBytes } = GGML_TYPES[GGML_OF[dtype]];
  const sweep = (R: number) => `
            (block $swept${R}
              (loop $next${R}
                (br_if $swept${R} (i32.gt_u (i32.add ${g('r')} (i32.const ${R})) ${g('rb1')}))
                (call $tile_dot_${dtype}_${R} ${g('xt')} (i32.add ${g('w')} (i32.mul ${g('r')} ${g('ws')})) ${g('ws')} ${g('nb')} ${g('cols')}
                  (i32.add ${g('out')} (i32.shl (i32.add (i32.mul ${g('t')} ${g('rows')}) ${g('r')}) (i32.const 2))))
                ${s('r', `(i32.add ${g('r')} (i32.const ${R}))`)}
                (br $next${R})))`;
  return `
  (func (export "dot_${dtype}") (param $x i32) (param $w i32) (param $out i32) (param $n i32) (param $rows i32) (param $cols i32) (param $r0 i32) (param $r1 i32) (param $rowBlock i32)
    (local $rb0 i32) (local $rb1 i32) (local $t i32) (local $r i32) (local $nb i32) (local $ws i32) (local $ts i32) (local $xt i32)
    ${s('nb', `(i32.shr_u ${g('cols')} (i32.const ${Math.log2(blockElements)}))`)}
    ${s('ws', `(i32.mul ${g('nb')} (i32.const ${blockBytes}))`)}
    ${s('ts', tokenBytes(dtype))}
    ${s('rb0', g('r0'))}
    (block $rowsDone
      (loop $rowBlocks
        (br_if $rowsDone (i32.ge_u ${g('rb0')} ${g('r1')}))
        ${s('rb1', `(select ${g('r1')} (i32.add ${g('rb0')} ${g('rowBlock')}) (i32.lt_u (i32.sub ${g('r1')} ${g('rb0')}) ${g('rowBlock')}))`)}
        ${s('t', '(i32.const 0)')}
        (block $tokensDone
          (loop $tokens
            (br_if $tokensDone (i32.ge_u ${g('t')} ${g('n')}))
            ${s('xt', `(i32.add ${g('x')} (i32.mul ${g('t')} ${g('ts')}))`)}
            ${s('r', g('rb0'))}${sweep(DOT_TILE_ROWS[dtype])}${sweep(1)}
            ${s('t', `(i32.add ${g('t')} (i32.const 1))`)}
            (br $tokens)))
        ${s('rb0', g('rb1'))}
        (br $rowBlocks))))`;
}

/** The globals these kernels add to the module (the others come with QUANT_PRELUDE). */
export const DOT_PRELUDE = '  (global $q6High (mut i32) (i32.const 0x30))\n  (global $two (mut i32) (i32.const 2))';

/** All the integer-dot kernels' functions. */
export function dotKernelsWat(): string {
  const parts: string[] = [DOT_PRELUDE];
  for (const dtype of DOT_KERNEL_DTYPES) {
    for (const R of new Set([DOT_TILE_ROWS[dtype], 1])) parts.push(isBlock32(dtype) ? tile32(dtype, R) : tileK(dtype, R));
    parts.push(dotFunction(dtype));
  }
  return parts.join('\n');
}
