// Integer-dot matmul kernels over GGML block-quantised weights, as WAT text: the activations arrive quantised
// (Q8_0 for Q8_0/Q4_0 weights, Q8_K for the K-quants; layout and arithmetic in
// engine/weights/quantiseActivations.ts), weights are widened to i16 in registers and multiplied into i32 with
// `i32x4.dot_i16x8_s`; block and sub-block scales are applied to the exact integer sums (the mins through the
// activation's per-16 sums), as llama.cpp's ggml_vec_dot_*_q8_0 / _q8_K do.
//
// Shape contract (exports `dot_q8_0`, `dot_q4_0`, `dot_q4_k`, `dot_q5_k`, `dot_q6_k`):
//   dot(xq, w, out, n, rows, cols, r0, r1, rowBlock)
//   out[t, r] = dot(quantised x row t, W row r)   for t in [0, n), r in [r0, r1)
// xq: n quantised rows back to back (quantisedRowBytes each); W as for the f32-activation kernels; out f32.
// Loop order: rows in blocks of rowBlock, then tokens, then two rows at a time (sharing the activation loads).
// The K-quants' f32 arithmetic is the reference's, operation for operation (so the result is bit-exact);
// Q8_0/Q4_0 sum their per-block f32 terms in four lanes, then across them.
import type { QuantKernelDType } from './quantMatmulWat';
import { GGML_TYPES } from '../../weights/ggmlTypes';

const GGML_OF: Record<QuantKernelDType, 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q5_K' | 'Q6_K'> = { q8_0: 'Q8_0', q4_0: 'Q4_0', q4_k: 'Q4_K', q5_k: 'Q5_K', q6_k: 'Q6_K' };
export const DOT_KERNEL_DTYPES: QuantKernelDType[] = ['q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k'];

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
    (local $k0f v128) (local $k1 v128) (local $k8 v128) (local $k30 v128) (local $k32 v128)
    ${s('k0f', '(i16x8.splat (global.get $nibbleMask))')}
    ${s('k1', '(i16x8.splat (global.get $one))')}
    ${s('k8', '(i16x8.splat (global.get $q4Offset))')}
    ${s('k30', '(i16x8.splat (global.get $q6High))')}
    ${s('k32', '(i16x8.splat (global.get $q6Offset))')}`;

/** The row-dot of one 32-value block (Q8_0/Q4_0): the i32x4 partial sums of w·x at $w, $x. */
function block32(dtype: 'q8_0' | 'q4_0'): string {
  if (dtype === 'q8_0') return addAll([0, 1, 2, 3].map((k) => dot(`(v128.load8x8_s offset=${2 + 8 * k} ${g('w')})`, xs8(8 * k))));
  const terms: string[] = [];
  for (const k of [0, 1]) {
    terms.push(dot(`(i16x8.sub (v128.and ${wu8(2 + 8 * k, 'w')} ${g('k0f')}) ${g('k8')})`, xs8(8 * k)));
    terms.push(dot(`(i16x8.sub (i16x8.shr_u ${wu8(2 + 8 * k, 'w')} (i32.const 4)) ${g('k8')})`, xs8(16 + 8 * k)));
  }
  return addAll(terms);
}

/** A 32-value-block row-dot: f32 lanes of Σ_b f32(sumi_b)·(f16(d_b)·xd_b). */
function rowDot32(dtype: 'q8_0' | 'q4_0'): string {
  const bytes = GGML_TYPES[GGML_OF[dtype]].blockBytes;
  return `
  (func $rowdot_${dtype} (param $x i32) (param $w i32) (param $nb i32) (param $cols i32) (result f32)
    (local $xd i32) (local $end i32) (local $acc v128) ${MASKS}
    ${s('xd', `(i32.add ${g('x')} ${g('cols')})`)}
    ${s('end', `(i32.add ${g('xd')} (i32.shl ${g('nb')} (i32.const 2)))`)}
    (block $done
      (loop $block
        (br_if $done (i32.ge_u ${g('xd')} ${g('end')}))
        ${s('acc', `(f32x4.add ${g('acc')} (f32x4.mul (f32x4.convert_i32x4_s ${block32(dtype)}) (f32x4.splat (f32.mul ${half(g('w'))} (f32.load ${g('xd')})))))`)}
        ${s('w', `(i32.add ${g('w')} (i32.const ${bytes}))`)}
        ${s('x', `(i32.add ${g('x')} (i32.const 32))`)}
        ${s('xd', `(i32.add ${g('xd')} (i32.const 4))`)}
        (br $block)))
    (f32.add (f32.add (f32x4.extract_lane 0 ${g('acc')}) (f32x4.extract_lane 1 ${g('acc')})) (f32.add (f32x4.extract_lane 2 ${g('acc')}) (f32x4.extract_lane 3 ${g('acc')}))))`;
}

/** Q4_K/Q5_K: sets $sc<j>, $m<j> (j < 8) from the 12 packed bytes at $w + 4 (get_scale_min_k4). */
function scalesK4(): string {
  const b = (o: number) => `(i32.load8_u offset=${4 + o} ${g('w')})`;
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

/** The K-quant super-block bodies: set $isum (Σ scale·Σ w·x, i32x4) and, with mins, $summs (i32). */
function superBlock(dtype: 'q4_k' | 'q5_k' | 'q6_k'): string {
  const body: string[] = [];
  if (dtype === 'q6_k') {
    body.push(s('isum', '(i32x4.splat (i32.const 0))'));
    for (let c = 0; c < 2; c++) {
      // Four quarters h of the half, two 16-groups each: sums[h][i].
      const sums: string[][] = [[], [], [], []];
      for (let k = 0; k < 4; k++) {
        body.push(s('l0', wu8(64 * c + 8 * k, 'w')), s('l1', wu8(64 * c + 32 + 8 * k, 'w')), s('hb', wu8(128 + 32 * c + 8 * k, 'w')));
        const q = [
          `(v128.or (v128.and ${g('l0')} ${g('k0f')}) (v128.and (i16x8.shl ${g('hb')} (i32.const 4)) ${g('k30')}))`,
          `(v128.or (v128.and ${g('l1')} ${g('k0f')}) (v128.and (i16x8.shl ${g('hb')} (i32.const 2)) ${g('k30')}))`,
          `(v128.or (i16x8.shr_u ${g('l0')} (i32.const 4)) (v128.and ${g('hb')} ${g('k30')}))`,
          `(v128.or (i16x8.shr_u ${g('l1')} (i32.const 4)) (v128.and (i16x8.shr_u ${g('hb')} (i32.const 2)) ${g('k30')}))`,
        ];
        for (let h = 0; h < 4; h++) {
          const name = `g${h}_${k >> 1}`;
          const d = dot(`(i16x8.sub ${q[h]} ${g('k32')})`, xs8(128 * c + 32 * h + 8 * k));
          body.push(s(name, k & 1 ? addI(g(name), d) : d));
          if (k & 1) sums[h].push(name);
        }
      }
      for (let h = 0; h < 4; h++) {
        for (let i = 0; i < 2; i++) {
          const sc = `(i32x4.splat (i32.load8_s offset=${192 + 8 * c + 2 * h + i} ${g('w')}))`;
          body.push(s('isum', addI(g('isum'), `(i32x4.mul ${g(sums[h][i])} ${sc})`)));
        }
      }
    }
    return body.join('\n        ');
  }
  const qAt = dtype === 'q4_k' ? 16 : 48;
  body.push(scalesK4());
  if (dtype === 'q5_k') for (let k = 0; k < 4; k++) body.push(s(`h${k}`, wu8(16 + 8 * k, 'w')));
  body.push(s('isum', '(i32x4.splat (i32.const 0))'));
  for (let p = 0; p < 4; p++) {
    for (let k = 0; k < 4; k++) {
      body.push(s('l0', wu8(qAt + 32 * p + 8 * k, 'w')));
      let qlo = `(v128.and ${g('l0')} ${g('k0f')})`;
      let qhi = `(i16x8.shr_u ${g('l0')} (i32.const 4))`;
      if (dtype === 'q5_k') {
        const bit = (j: number) => `(i16x8.shl (v128.and (i16x8.shr_u ${g(`h${k}`)} (i32.const ${j})) ${g('k1')}) (i32.const 4))`;
        qlo = `(v128.or ${qlo} ${bit(2 * p)})`;
        qhi = `(v128.or ${qhi} ${bit(2 * p + 1)})`;
      }
      // Summed as they come: $l0 is overwritten by the next step.
      body.push(s('g0_0', k ? addI(g('g0_0'), dot(qlo, xs8(64 * p + 8 * k))) : dot(qlo, xs8(64 * p + 8 * k))));
      body.push(s('g0_1', k ? addI(g('g0_1'), dot(qhi, xs8(64 * p + 32 + 8 * k))) : dot(qhi, xs8(64 * p + 32 + 8 * k))));
    }
    body.push(s('isum', addI(g('isum'), addI(`(i32x4.mul ${g('g0_0')} (i32x4.splat ${g(`sc${2 * p}`)}))`, `(i32x4.mul ${g('g0_1')} (i32x4.splat ${g(`sc${2 * p + 1}`)}))`))));
  }
  // Σ_j m_j·(bsum[2j] + bsum[2j+1]) over the super-block's 16 sums at $xb.
  const bs = (i: number) => `(i32.load16_s offset=${2 * i} ${g('xb')})`;
  const mins = [0, 1, 2, 3, 4, 5, 6, 7].map((j) => `(i32.mul ${g(`m${j}`)} (i32.add ${bs(2 * j)} ${bs(2 * j + 1)}))`);
  body.push(s('summs', mins.reduce((a, b) => `(i32.add ${a} ${b})`)));
  return body.join('\n        ');
}

function rowDotK(dtype: 'q4_k' | 'q5_k' | 'q6_k'): string {
  const bytes = GGML_TYPES[GGML_OF[dtype]].blockBytes;
  const locals = ['(local $xd i32) (local $xb i32) (local $end i32) (local $acc f32) (local $isum v128) (local $summs i32) (local $l0 v128) (local $l1 v128) (local $hb v128)'];
  for (let j = 0; j < 8; j++) locals.push(`(local $sc${j} i32) (local $m${j} i32)`);
  for (let k = 0; k < 4; k++) locals.push(`(local $h${k} v128) (local $g${k}_0 v128) (local $g${k}_1 v128)`);
  const dAt = dtype === 'q6_k' ? 208 : 0;
  const d = `(f32.mul ${half(`offset=${dAt} ${g('w')}`)} (f32.load ${g('xd')}))`;
  let fold = s('acc', `(f32.add ${g('acc')} (f32.mul ${d} (f32.convert_i32_s ${sumLanes(g('isum'))})))`);
  if (dtype !== 'q6_k') {
    const dmin = `(f32.mul ${half(`offset=2 ${g('w')}`)} (f32.load ${g('xd')}))`;
    fold += ' ' + s('acc', `(f32.sub ${g('acc')} (f32.mul ${dmin} (f32.convert_i32_s ${g('summs')})))`);
  }
  return `
  (func $rowdot_${dtype} (param $x i32) (param $w i32) (param $nb i32) (param $cols i32) (result f32)
    ${locals.join(' ')} ${MASKS}
    ${s('xd', `(i32.add ${g('x')} ${g('cols')})`)}
    ${s('xb', `(i32.add ${g('xd')} (i32.shl ${g('nb')} (i32.const 2)))`)}
    ${s('end', g('xb'))}
    (block $done
      (loop $block
        (br_if $done (i32.ge_u ${g('xd')} ${g('end')}))
        ${superBlock(dtype)}
        ${fold}
        ${s('w', `(i32.add ${g('w')} (i32.const ${bytes}))`)}
        ${s('x', `(i32.add ${g('x')} (i32.const 256))`)}
        ${s('xd', `(i32.add ${g('xd')} (i32.const 4))`)}
        ${s('xb', `(i32.add ${g('xb')} (i32.const 32))`)}
        (br $block)))
    ${g('acc')})`;
}

/** Bytes of one quantised activation row, as a WAT expression of $cols (see quantisedRowBytes). */
function tokenBytes(dtype: QuantKernelDType): string {
  const c = g('cols');
  if (dtype === 'q8_0' || dtype === 'q4_0') return `(i32.add ${c} (i32.shr_u ${c} (i32.const 3)))`;
  return `(i32.add (i32.add ${c} (i32.shr_u ${c} (i32.const 6))) (i32.shr_u ${c} (i32.const 3)))`;
}

function dotFunction(dtype: QuantKernelDType): string {
  const { blockElements, blockBytes } = GGML_TYPES[GGML_OF[dtype]];
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
            ${s('r', g('rb0'))}
            (block $rowsOfBlock
              (loop $row
                (br_if $rowsOfBlock (i32.ge_u ${g('r')} ${g('rb1')}))
                (f32.store (i32.add ${g('out')} (i32.shl (i32.add (i32.mul ${g('t')} ${g('rows')}) ${g('r')}) (i32.const 2)))
                  (call $rowdot_${dtype} ${g('xt')} (i32.add ${g('w')} (i32.mul ${g('r')} ${g('ws')})) ${g('nb')} ${g('cols')}))
                ${s('r', `(i32.add ${g('r')} (i32.const 1))`)}
                (br $row)))
            ${s('t', `(i32.add ${g('t')} (i32.const 1))`)}
            (br $tokens)))
        ${s('rb0', g('rb1'))}
        (br $rowBlocks))))`;
}

/** The globals these kernels add to the module (the others come with QUANT_PRELUDE). */
export const DOT_PRELUDE = '  (global $q6High (mut i32) (i32.const 0x30))';

/** All the integer-dot kernels' functions. */
export function dotKernelsWat(): string {
  const parts: string[] = [DOT_PRELUDE];
  for (const dtype of DOT_KERNEL_DTYPES) {
    parts.push(dtype === 'q8_0' || dtype === 'q4_0' ? rowDot32(dtype) : rowDotK(dtype), dotFunction(dtype));
  }
  return parts.join('\n');
}
