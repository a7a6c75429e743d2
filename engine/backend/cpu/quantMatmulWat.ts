// The matmul kernels over GGML block-quantised weights (Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K), as WAT
// text. Same contract, loop order and register tiles as the float kernels (matmulWat.ts), but W's rows are blocks
// and each block is decoded in registers as the tile reaches it: never expanded to f32 in memory.
//
// Shape contract (exports `matmul_q8_0`, `matmul_q4_0`, `matmul_q5_0`, `matmul_q5_1`, `matmul_q4_k`, `matmul_q5_k`,
// `matmul_q6_k`):
//   matmul(x, w, out, n, rows, cols, r0, r1, rowBlock)
//   out[t, r] = Σ_i x[t, i] · W[r, i]   for t in [0, n), r in [r0, r1)
// x: f32 [n, cols]; W: [rows, cols/blockElements] blocks, row-major; out: f32 [n, rows]; cols a whole number
// of blocks (32 or 256 values). The tile walks 32-value units (a Q8_0/Q4_0/Q5_0/Q5_1 block, a K-quant sub-block): per
// unit and row it sets the unit's scale (and min), then 4 steps of 8 values, each decoded per row to two f32x4
// vectors and multiplied into every token's accumulators.
// Each decoded weight is bit-exact with llama.cpp's dequantize_row_* (the same f32 products, in the same order;
// see engine/weights/dequantise.ts); only the f32 accumulation order differs from the reference kernel.
import type { QuantDType } from '../../weights/ggmlTypes';
import { GGML_TYPES } from '../../weights/ggmlTypes';

export type QuantKernelDType = 'q8_0' | 'q4_0' | 'q5_0' | 'q5_1' | 'q4_k' | 'q5_k' | 'q6_k';
export const QUANT_KERNEL_DTYPES: QuantKernelDType[] = ['q8_0', 'q4_0', 'q5_0', 'q5_1', 'q4_k', 'q5_k', 'q6_k'];
export const QUANT_KERNEL_OF: Record<QuantDType, QuantKernelDType> = { Q8_0: 'q8_0', Q4_0: 'q4_0', Q5_0: 'q5_0', Q5_1: 'q5_1', Q4_K: 'q4_k', Q5_K: 'q5_k', Q6_K: 'q6_k' };
const GGML_OF: Record<QuantKernelDType, QuantDType> = { q8_0: 'Q8_0', q4_0: 'Q4_0', q5_0: 'Q5_0', q5_1: 'Q5_1', q4_k: 'Q4_K', q5_k: 'Q5_K', q6_k: 'Q6_K' };

const get = (name: string) => `(local.get $${name})`;
const set = (name: string, value: string) => `(local.set $${name} ${value})`;
const i32 = (v: number) => `(i32.const ${v})`;
const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
const mul = (a: string, b: string) => `(i32.mul ${a} ${b})`;
const half = (addr: string) => `(call $half (i32.load16_u ${addr}))`;
const splatScaled = (d: string, level: string, signed: boolean) => `(f32x4.splat (f32.mul ${d} (f32.convert_i32_${signed ? 's' : 'u'} ${level})))`;

/**
 * Decodes 8 i16 levels in $t into two f32x4 weights: level·scale (- min), or the bare levels when the tile
 * defers the scale (`scale` null).
 */
function toWeights(r: number, scale: string | null, min: string | null, signed: boolean): string {
  const half = (high: boolean) => {
    const extended = `(i32x4.extend_${high ? 'high' : 'low'}_i16x8_${signed ? 's' : 'u'} ${get('t')})`;
    if (scale === null) return `(f32x4.convert_i32x4_s ${extended})`;
    const scaled = `(f32x4.mul (f32x4.convert_i32x4_s ${extended}) ${scale})`;
    return min ? `(f32x4.sub ${scaled} ${min})` : scaled;
  };
  return set(`w${r}a`, half(false)) + ' ' + set(`w${r}b`, half(true));
}

/** `bytes` loaded as 8 u16 lanes, shifted right by `shift` (an i32 expression) and masked with `mask`. */
const field = (offset: number, addr: string, shift: string | null, mask: string) => {
  const loaded = `(v128.load8x8_u offset=${offset} ${addr})`;
  return `(v128.and ${shift ? `(i16x8.shr_u ${loaded} ${shift})` : loaded} ${get(mask)})`;
};

/**
 * Q5_0/Q5_1 step k (values 8k..8k+7): the nibbles as Q4_0 keeps them at `qsAt`, with byte k of qh (at `qhAt`)
 * spread over the 8 lanes: lane l tests bit l (the $kbit lanes 1, 2, .., 128) and takes 16 where it is set.
 */
function fiveBitLevels(r: number, qhAt: number, qsAt: number, k: number): string {
  const blk = get(`blk${r}`);
  const low = field(qsAt + 8 * (k & 1), blk, k >= 2 ? i32(4) : null, 'k0f');
  const bits = `(v128.and (i16x8.splat (i32.load8_u offset=${qhAt + k} ${blk})) ${get('kbit')})`;
  return `(v128.or ${low} (v128.and (i16x8.eq ${bits} ${get('kbit')}) ${get('k16')}))`;
}


/**
 * Per type: the shared unit locals (once per unit), the row's unit setup, and the decode of step k (scaled, or
 * bare levels when `deferred`). `fold`: how deferred partial sums become the unit's contribution: × $s
 * ('scale'); × $s, less $m × Σx ('scaleMin'); steps 0-1 × $s plus steps 2-3 × $m ('twoScales', Q6_K).
 */
interface QuantCodec {
  shared: string;
  row(r: number): string;
  step(r: number, k: number, deferred: boolean): string;
  fold: 'scale' | 'scaleMin' | 'twoScales';
}

/** Q4_K/Q5_K: the 6-bit scale and min of sub-block $si (get_scale_min_k4) at block $blk{r}, as splats. */
function scaleMinK4(r: number): string {
  const b = (offset: string) => `(i32.load8_u ${add(get(`blk${r}`), offset)})`;
  const si = get('si');
  return `
      (if (i32.lt_u ${si} ${i32(4)})
        (then ${set('sc', `(i32.and ${b(add(si, i32(4)))} ${i32(63)})`)} ${set('mn', `(i32.and ${b(add(si, i32(8)))} ${i32(63)})`)})
        (else
          ${set('sc', `(i32.or (i32.and ${b(add(si, i32(8)))} ${i32(15)}) (i32.shl (i32.shr_u ${b(si)} ${i32(6)}) ${i32(4)}))`)}
          ${set('mn', `(i32.or (i32.shr_u ${b(add(si, i32(8)))} ${i32(4)}) (i32.shl (i32.shr_u ${b(add(si, i32(4)))} ${i32(6)}) ${i32(4)}))`)}))
      ${set(`s${r}`, splatScaled(get(`d${r}`), get('sc'), false))}
      ${set(`m${r}`, splatScaled(get(`dm${r}`), get('mn'), false))}`;
}

/** Per super-block of a K-quant: its f16 d (and dmin), read when the tile enters it. */
function superBlockScales(r: number, dAt: number, dminAt: number | null): string {
  const reads = set(`d${r}`, half(`offset=${dAt} ${get(`blk${r}`)}`)) + (dminAt === null ? '' : ' ' + set(`dm${r}`, half(`offset=${dminAt} ${get(`blk${r}`)}`)));
  return `(if (i32.eqz ${get('si')}) (then ${reads}))`;
}

const CODECS: Record<QuantKernelDType, QuantCodec> = {
  // Block of 32: f16 d, int8 q[32].
  q8_0: {
    shared: '',
    row: (r) => `${set(`blk${r}`, add(get(`wp${r}`), mul(get('u'), i32(34))))} ${set(`s${r}`, `(f32x4.splat ${half(get(`blk${r}`))})`)}`,
    step: (r, k, deferred) => `${set('t', `(v128.load8x8_s offset=${2 + 8 * k} ${get(`blk${r}`)})`)} ${toWeights(r, deferred ? null : get(`s${r}`), null, true)}`,
    fold: 'scale',
  },
  // Block of 32: f16 d, 16 bytes: values 0-15 the low nibbles, 16-31 the high ones; value (q - 8)·d.
  q4_0: {
    shared: '',
    row: (r) => `${set(`blk${r}`, add(get(`wp${r}`), mul(get('u'), i32(18))))} ${set(`s${r}`, `(f32x4.splat ${half(get(`blk${r}`))})`)}`,
    step: (r, k, deferred) => `${set('t', `(i16x8.sub ${field(2 + 8 * (k & 1), get(`blk${r}`), k >= 2 ? i32(4) : null, 'k0f')} ${get('k8')})`)} ${toWeights(r, deferred ? null : get(`s${r}`), null, true)}`,
    fold: 'scale',
  },
  // Block of 32 (22 B): f16 d, 4 B of fifth bits (bit j for value j), 16 B nibbles as Q4_0; value (q - 16)·d.
  q5_0: {
    shared: '',
    row: (r) => `${set(`blk${r}`, add(get(`wp${r}`), mul(get('u'), i32(22))))} ${set(`s${r}`, `(f32x4.splat ${half(get(`blk${r}`))})`)}`,
    step: (r, k, deferred) => `${set('t', `(i16x8.sub ${fiveBitLevels(r, 2, 6, k)} ${get('k16')})`)} ${toWeights(r, deferred ? null : get(`s${r}`), null, true)}`,
    fold: 'scale',
  },
  // Block of 32 (24 B): f16 d, f16 m, fifth bits, nibbles; value q·d + m, as q·d - (-m) (negation is exact).
  q5_1: {
    shared: '',
    row: (r) => `${set(`blk${r}`, add(get(`wp${r}`), mul(get('u'), i32(24))))} ${set(`s${r}`, `(f32x4.splat ${half(get(`blk${r}`))})`)}
      ${set(`m${r}`, `(f32x4.splat (f32.neg ${half(`offset=2 ${get(`blk${r}`)}`)}))`)}`,
    step: (r, k, deferred) => `${set('t', fiveBitLevels(r, 4, 8, k))} ${toWeights(r, deferred ? null : get(`s${r}`), get(`m${r}`), false)}`,
    fold: 'scaleMin',
  },
  // Super-block of 256 (144 B): f16 d, f16 dmin, 12 B scales, 128 B nibbles; unit = sub-block $si.
  q4_k: {
    shared: `${set('sb', `(i32.shr_u ${get('u')} ${i32(3)})`)} ${set('si', `(i32.and ${get('u')} ${i32(7)})`)} ${set('sh', `(i32.shl (i32.and ${get('si')} ${i32(1)}) ${i32(2)})`)}`,
    row: (r) => `${set(`blk${r}`, add(get(`wp${r}`), mul(get('sb'), i32(144))))} ${superBlockScales(r, 0, 2)} ${scaleMinK4(r)}
      ${set(`q${r}`, add(get(`blk${r}`), add(i32(16), `(i32.shl (i32.shr_u ${get('si')} ${i32(1)}) ${i32(5)})`)))}`,
    step: (r, k, deferred) => `${set('t', field(8 * k, get(`q${r}`), get('sh'), 'k0f'))} ${toWeights(r, deferred ? null : get(`s${r}`), get(`m${r}`), false)}`,
    fold: 'scaleMin',
  },
  // Super-block of 256 (176 B): as Q4_K with 32 B of fifth bits (bit $si of qh[l]) before the nibbles.
  q5_k: {
    shared: `${set('sb', `(i32.shr_u ${get('u')} ${i32(3)})`)} ${set('si', `(i32.and ${get('u')} ${i32(7)})`)} ${set('sh', `(i32.shl (i32.and ${get('si')} ${i32(1)}) ${i32(2)})`)}`,
    row: (r) => `${set(`blk${r}`, add(get(`wp${r}`), mul(get('sb'), i32(176))))} ${superBlockScales(r, 0, 2)} ${scaleMinK4(r)}
      ${set(`q${r}`, add(get(`blk${r}`), add(i32(48), `(i32.shl (i32.shr_u ${get('si')} ${i32(1)}) ${i32(5)})`)))}`,
    step: (r, k, deferred) => {
      const low = field(8 * k, get(`q${r}`), get('sh'), 'k0f');
      const high = `(i16x8.shl ${field(16 + 8 * k, get(`blk${r}`), get('si'), 'k1')} ${i32(4)})`;
      return `${set('t', `(v128.or ${low} ${high})`)} ${toWeights(r, deferred ? null : get(`s${r}`), get(`m${r}`), false)}`;
    },
    fold: 'scaleMin',
  },
  // Super-block of 256 (210 B): ql[128], qh[64], int8 scales[16], f16 d. Unit u of the super-block: half
  // c = u>>2 and group g = u&3 (ql nibbles at 64c + 32(g&1), low for g < 2; qh bits 2g at 128 + 32c); the
  // first 16 values take scale 8c+2g, the next 16 scale 8c+2g+1; value (d·scale)·(q - 32).
  q6_k: {
    shared: `${set('sb', `(i32.shr_u ${get('u')} ${i32(3)})`)} ${set('si', `(i32.and ${get('u')} ${i32(7)})`)}
      ${set('sh', `(i32.shl (i32.shr_u (i32.and ${get('si')} ${i32(3)}) ${i32(1)}) ${i32(2)})`)}
      ${set('hsh', `(i32.shl (i32.and ${get('si')} ${i32(3)}) ${i32(1)})`)}
      ${set('qlo', add(`(i32.shl (i32.shr_u ${get('si')} ${i32(2)}) ${i32(6)})`, `(i32.shl (i32.and ${get('si')} ${i32(1)}) ${i32(5)})`))}
      ${set('qho', add(i32(128), `(i32.shl (i32.shr_u ${get('si')} ${i32(2)}) ${i32(5)})`))}
      ${set('sco', add(i32(192), `(i32.shl ${get('si')} ${i32(1)})`))}`,
    row: (r) => {
      const blk = get(`blk${r}`);
      return `${set(`blk${r}`, add(get(`wp${r}`), mul(get('sb'), i32(210))))} ${superBlockScales(r, 208, null)}
      ${set(`q${r}`, add(blk, get('qlo')))}
      ${set(`s${r}`, splatScaled(get(`d${r}`), `(i32.load8_s ${add(blk, get('sco'))})`, true))}
      ${set(`m${r}`, splatScaled(get(`d${r}`), `(i32.load8_s offset=1 ${add(blk, get('sco'))})`, true))}`;
    },
    step: (r, k, deferred) => {
      const low = field(8 * k, get(`q${r}`), get('sh'), 'k0f');
      const high = `(i16x8.shl ${field(8 * k, add(get(`blk${r}`), get('qho')), get('hsh'), 'k3')} ${i32(4)})`;
      return `${set('t', `(i16x8.sub (v128.or ${low} ${high}) ${get('k32')})`)} ${toWeights(r, deferred ? null : get(k < 2 ? `s${r}` : `m${r}`), null, true)}`;
    },
    fold: 'twoScales',
  },
};

/** Bytes of one row of W, as a WAT expression of $cols. */
export function quantRowBytes(dtype: QuantKernelDType, cols: string): string {
  const { blockElements, blockBytes } = GGML_TYPES[GGML_OF[dtype]];
  return mul(`(i32.shr_u ${cols} ${i32(Math.log2(blockElements))})`, i32(blockBytes));
}

/**
 * A register tile over quantised W: tokens × rows accumulators over all columns. One-token tiles (decode) defer
 * the scales: they sum x·level over the unit (and Σx, for types with a min) and scale once per unit, which saves
 * a multiply (and a subtract) per weight; wider tiles, short of registers for the partial sums, scale each weight.
 */
export function quantTile(dtype: QuantKernelDType, tokens: number, rows: number): string {
  const codec = CODECS[dtype];
  const deferred = tokens === 1;
  const locals = ['$u', '$units', '$xo', '$xs', '$ws', '$sb', '$si', '$sh', '$hsh', '$qlo', '$qho', '$sco', '$sc', '$mn'].map((n) => `(local ${n} i32)`);
  locals.push('(local $t v128) (local $xa v128) (local $xb v128)');
  // Constants are splats of mutable globals, set once: V8 would rebuild a v128.const at every use.
  const constants: [string, string][] = [
    ['k0f', '(i16x8.splat (global.get $nibbleMask))'],
    ['k1', '(i16x8.splat (global.get $one))'],
    ['k3', '(i16x8.splat (global.get $twoBits))'],
    ['k8', '(i16x8.splat (global.get $q4Offset))'],
    ['k32', '(i16x8.splat (global.get $q6Offset))'],
    ['k16', '(i16x8.splat (global.get $q5Offset))'],
    ['kbit', '(global.get $bitLanes)'],
  ];
  for (const [name] of constants) locals.push(`(local $${name} v128)`);
  const bases: string[] = constants.map(([name, value]) => set(name, value));
  for (let r = 0; r < rows; r++) {
    locals.push(`(local $w${r}a v128) (local $w${r}b v128) (local $s${r} v128) (local $m${r} v128)`);
    locals.push(`(local $wp${r} i32) (local $blk${r} i32) (local $q${r} i32) (local $d${r} f32) (local $dm${r} f32)`);
    if (deferred) locals.push(`(local $p${r} v128) (local $p2${r} v128)`);
    bases.push(set(`wp${r}`, add(get('w'), mul(get('ws'), i32(r)))));
  }
  for (let t = 0; t < tokens; t++) {
    locals.push(`(local $xp${t} i32)`);
    bases.push(set(`xp${t}`, add(get('x'), mul(get('xs'), i32(t)))));
  }
  for (let t = 0; t < tokens; t++) for (let r = 0; r < rows; r++) locals.push(`(local $acc${t}_${r} v128)`);

  const body: string[] = [codec.shared];
  for (let r = 0; r < rows; r++) body.push(codec.row(r));
  if (deferred) locals.push('(local $xsum v128)');
  for (let k = 0; k < 4; k++) {
    for (let r = 0; r < rows; r++) body.push(codec.step(r, k, deferred));
    if (deferred) {
      // One token: partial sums of x·level per row, restarted each unit (and per 16 values for Q6_K).
      const addr = add(get('xp0'), get('xo'));
      body.push(`${set('xa', `(v128.load offset=${32 * k} ${addr})`)} ${set('xb', `(v128.load offset=${32 * k + 16} ${addr})`)}`);
      if (codec.fold === 'scaleMin') {
        const both = `(f32x4.add ${get('xa')} ${get('xb')})`;
        body.push(set('xsum', k === 0 ? both : `(f32x4.add ${get('xsum')} ${both})`));
      }
      for (let r = 0; r < rows; r++) {
        const p = codec.fold === 'twoScales' && k >= 2 ? `p2${r}` : `p${r}`;
        const fresh = k === 0 || (codec.fold === 'twoScales' && k === 2);
        const products = `(f32x4.add (f32x4.mul ${get('xa')} ${get(`w${r}a`)}) (f32x4.mul ${get('xb')} ${get(`w${r}b`)}))`;
        body.push(set(p, fresh ? products : `(f32x4.add ${get(p)} ${products})`));
      }
      continue;
    }
    for (let t = 0; t < tokens; t++) {
      const addr = add(get(`xp${t}`), get('xo'));
      body.push(`${set('xa', `(v128.load offset=${32 * k} ${addr})`)} ${set('xb', `(v128.load offset=${32 * k + 16} ${addr})`)}`);
      for (let r = 0; r < rows; r++) {
        const acc = `acc${t}_${r}`;
        body.push(set(acc, `(f32x4.add ${get(acc)} (f32x4.mul ${get('xa')} ${get(`w${r}a`)}))`));
        body.push(set(acc, `(f32x4.add ${get(acc)} (f32x4.mul ${get('xb')} ${get(`w${r}b`)}))`));
      }
    }
  }
  if (deferred) {
    for (let r = 0; r < rows; r++) {
      let unit = `(f32x4.mul ${get(`p${r}`)} ${get(`s${r}`)})`;
      if (codec.fold === 'scaleMin') unit = `(f32x4.sub ${unit} (f32x4.mul ${get('xsum')} ${get(`m${r}`)}))`;
      if (codec.fold === 'twoScales') unit = `(f32x4.add ${unit} (f32x4.mul ${get(`p2${r}`)} ${get(`m${r}`)}))`;
      body.push(set(`acc0_${r}`, `(f32x4.add ${get(`acc0_${r}`)} ${unit})`));
    }
  }
  const stores: string[] = [];
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < rows; r++) {
      const acc = get(`acc${t}_${r}`);
      const sum = `(f32.add (f32.add (f32x4.extract_lane 0 ${acc}) (f32x4.extract_lane 1 ${acc})) (f32.add (f32x4.extract_lane 2 ${acc}) (f32x4.extract_lane 3 ${acc})))`;
      const at = add(get('out'), `(i32.shl ${add(mul(get('rows'), i32(t)), i32(r))} ${i32(2)})`);
      stores.push(`(f32.store ${at} ${sum})`);
    }
  }
  return `
  (func $tile_${dtype}_${tokens}x${rows} (param $x i32) (param $w i32) (param $out i32) (param $rows i32) (param $cols i32)
    ${locals.join(' ')}
    ${set('xs', `(i32.shl ${get('cols')} ${i32(2)})`)}
    ${set('ws', quantRowBytes(dtype, get('cols')))}
    ${set('units', `(i32.shr_u ${get('cols')} ${i32(5)})`)}
    ${bases.join(' ')}
    (block $done
      (loop $unit
        (br_if $done (i32.ge_u ${get('u')} ${get('units')}))
        ${body.join('\n        ')}
        ${set('u', add(get('u'), i32(1)))}
        ${set('xo', add(get('xo'), i32(128)))}
        (br $unit)))
    ${stores.join('\n    ')})`;
}

/** The globals and the f16 -> f32 helper the quantised tiles use. */
export const QUANT_PRELUDE = `
  (global $nibbleMask (mut i32) (i32.const 0x0f))
  (global $one (mut i32) (i32.const 1))
  (global $twoBits (mut i32) (i32.const 3))
  (global $q4Offset (mut i32) (i32.const 8))
  (global $q6Offset (mut i32) (i32.const 32))
  (global $q5Offset (mut i32) (i32.const 16))
  (global $bitLanes (mut v128) (v128.const i16x8 1 2 4 8 16 32 64 128))
  ;; f16 bits -> f32, exactly: |h| moved into f32 position and rebiased by 2^112 (subnormals too); exponent
  ;; 31 (inf/nan) becomes 255; the sign is ORed in.
  (func $half (param $h i32) (result f32)
    (local $a i32)
    (local.set $a (i32.and (local.get $h) (i32.const 0x7fff)))
    (f32.reinterpret_i32 (i32.or
      (i32.shl (i32.and (local.get $h) (i32.const 0x8000)) (i32.const 16))
      (select
        (i32.or (i32.shl (local.get $a) (i32.const 13)) (i32.const 0x7f800000))
        (i32.reinterpret_f32 (f32.mul (f32.reinterpret_i32 (i32.shl (local.get $a) (i32.const 13))) (f32.const 0x1p112)))
        (i32.gt_u (local.get $a) (i32.const 0x7bff))))))`;
