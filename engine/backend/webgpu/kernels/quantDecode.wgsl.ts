// GGML block-quantised weights read in-kernel: the blocks lie on the GPU as the file stores them (raw bytes in u32
// words, a slab or a stacked matrix starting on a word), and element i is decoded where a kernel reads it, from
// its block's bytes, as llama.cpp's `dequantize_row_*` computes it (engine/weights/dequantise.ts has the layouts and
// the order of the f32 operations; the shader keeps that order, so a value differs from the reference only where
// the compiler fuses a multiply and a subtract). Nothing is expanded to f32 in GPU memory.
//
// A matrix's rows are whole blocks, so element i of a row-major matrix is value i % QK of block i / QK; every f16
// in a block sits at an even byte offset (all block sizes are even), so it is one half of a word.
import { GGML_TYPES, QuantDType } from '../../../weights/ggmlTypes';

/** WGSL helpers over the u32 binding `buffer`: byte b, a signed byte, and the f16 at (even) byte b, as f32. */
function byteReaders(name: string, buffer: string): string {
  return `fn ${name}_u8(b: u32) -> u32 { return (${buffer}[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu; }
fn ${name}_i8(b: u32) -> i32 { return bitcast<i32>(${name}_u8(b) << 24u) >> 24u; }
fn ${name}_f16(b: u32) -> f32 { let v = unpack2x16float(${buffer}[b >> 2u]); return select(v.x, v.y, (b & 2u) != 0u); }`;
}

/** The 6-bit scale (x) and min (y) of sub-block j of a Q4_K/Q5_K block whose 12 packed scale bytes start at s. */
function scaleMinK4(name: string): string {
  return `fn ${name}_scaleMin(s: u32, j: u32) -> vec2<f32> {
  if (j < 4u) { return vec2<f32>(f32(${name}_u8(s + j) & 63u), f32(${name}_u8(s + j + 4u) & 63u)); }
  let sc = (${name}_u8(s + j + 4u) & 0xfu) | ((${name}_u8(s + j - 4u) >> 6u) << 4u);
  let m = (${name}_u8(s + j + 4u) >> 4u) | ((${name}_u8(s + j) >> 6u) << 4u);
  return vec2<f32>(f32(sc), f32(m));
}`;
}

/** The body of `fn <name>(i: u32) -> f32` for `dtype`: `at` is the block's first byte, `j` the value within it. */
function decodeBody(dtype: QuantDType, name: string): string {
  const { blockElements, blockBytes } = GGML_TYPES[dtype];
  const head = `let at = (i / ${blockElements}u) * ${blockBytes}u; let j = i % ${blockElements}u;`;
  switch (dtype) {
    case 'Q8_0':
      return `${head} return f32(${name}_i8(at + 2u + j)) * ${name}_f16(at);`;
    case 'Q4_0':
      return `${head} let q = (${name}_u8(at + 2u + (j & 15u)) >> ((j >> 4u) * 4u)) & 0xfu;
  return f32(i32(q) - 8) * ${name}_f16(at);`;
    case 'Q5_0':
    case 'Q5_1': {
      // Q5_1 stores a min after d; qh's bit j is value j's fifth bit.
      const qh = dtype === 'Q5_0' ? 2 : 4;
      const nibble = `let q = ((${name}_u8(at + ${qh + 4}u + (j & 15u)) >> ((j >> 4u) * 4u)) & 0xfu) | (((${name}_u8(at + ${qh}u + (j >> 3u)) >> (j & 7u)) & 1u) << 4u);`;
      return dtype === 'Q5_0'
        ? `${head} ${nibble}\n  return f32(i32(q) - 16) * ${name}_f16(at);`
        : `${head} ${nibble}\n  let v = f32(q) * ${name}_f16(at); return v + ${name}_f16(at + 2u);`;
    }
    case 'Q4_K':
    case 'Q5_K': {
      // Sub-block s = j / 32: the low (s even) or high nibbles of 32 bytes; Q5_K adds bit s of qh[l] as 16.
      const qs = dtype === 'Q4_K' ? 16 : 48;
      const high = dtype === 'Q4_K' ? '' : ` + ((${name}_u8(at + 16u + l) >> s) & 1u) * 16u`;
      return `${head} let s = j >> 5u; let l = j & 31u;
  let sm = ${name}_scaleMin(at + 4u, s);
  let d1 = ${name}_f16(at) * sm.x;
  let m1 = ${name}_f16(at + 2u) * sm.y;
  let q = ((${name}_u8(at + ${qs}u + 32u * (s >> 1u) + l) >> ((s & 1u) * 4u)) & 0xfu)${high};
  let v = d1 * f32(q); return v - m1;`;
    }
    case 'Q6_K':
      // Half c (128 values) takes 64 bytes of ql and 32 of qh; group g (32 values) of it the low (g < 2) or high
      // nibbles of ql[l + 32·(g & 1)] with bits 2g, 2g+1 of qh[l]; scale = scales[8c + 2g + l / 16], d at byte 208.
      return `${head} let c = j >> 7u; let g = (j >> 5u) & 3u; let l = j & 31u;
  let low = (${name}_u8(at + 64u * c + 32u * (g & 1u) + l) >> ((g >> 1u) * 4u)) & 0xfu;
  let q = i32(low | (((${name}_u8(at + 128u + 32u * c + l) >> (2u * g)) & 3u) << 4u)) - 32;
  let scale = ${name}_f16(at + 208u) * f32(${name}_i8(at + 192u + 8u * c + 2u * g + (l >> 4u)));
  return scale * f32(q);`;
  }
}

/** WGSL `fn <name>(i: u32) -> f32`: element i of the `dtype` blocks in the u32 binding `buffer`, with its helpers. */
export function quantDecode(dtype: QuantDType, name: string, buffer: string): string {
  const k = dtype === 'Q4_K' || dtype === 'Q5_K' ? `\n${scaleMinK4(name)}` : '';
  return `${byteReaders(name, buffer)}${k}
fn ${name}(i: u32) -> f32 {
  ${decodeBody(dtype, name)}
}`;
}

/** Bytes a run of `elements` values (whole blocks) of `dtype` takes. */
export function quantBytes(dtype: QuantDType, elements: number): number {
  const { blockElements, blockBytes } = GGML_TYPES[dtype];
  if (elements % blockElements !== 0) throw new RangeError(`webgpu: ${elements} ${dtype} values are not whole ${blockElements}-value blocks`);
  return (elements / blockElements) * blockBytes;
}

/** The fewest runs of `bytes` bytes that fill whole words: 1, 2 or 4 (a slab or stacked matrix starts on a word). */
export function runsPerWord(bytes: number): number {
  return bytes % 4 === 0 ? 1 : bytes % 2 === 0 ? 2 : 4;
}

/** `elements` (whole blocks) rounded up to whole blocks that fill whole words. */
export function wordAlignedElements(dtype: QuantDType, elements: number): number {
  const { blockElements } = GGML_TYPES[dtype];
  const blocks = quantBytes(dtype, elements) / GGML_TYPES[dtype].blockBytes;
  const per = runsPerWord(GGML_TYPES[dtype].blockBytes);
  return Math.ceil(blocks / per) * per * blockElements;
}
