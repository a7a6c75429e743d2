// The CPU matmul kernel: out[n, rows] = x[n, cols] · Wᵀ, over a range of W's rows (so that threads can split
// the rows). Weights stay in their file dtype; a 16-bit row is decoded once into a scratch row and then used for
// a block of tokens, which keeps both the row and the token block in cache. A quantised row is decoded a block
// at a time (llama.cpp's exact dequantisation), each block used by a block of tokens, accumulating in double.
import { dequantiseBlock } from '../../weights/dequantise';
import { GGML_TYPES, isQuantised, QuantDType, rowBytes } from '../../weights/ggmlTypes';
import { f16ToF32Table, Tensor } from '../../weights/tensor';

const TOKEN_BLOCK = 32;

export function matmulRows(out: Float32Array, x: Float32Array, n: number, w: Tensor, rowStart: number, rowEnd: number): void {
  if (isQuantised(w.dtype)) {
    matmulQuantisedRows(out, x, n, w, w.dtype, rowStart, rowEnd);
    return;
  }
  const rows = w.shape[0];
  const cols = w.shape[1];
  const isF32 = w.dtype === 'F32';
  const scratch = isF32 ? undefined : new Float32Array(cols);
  const wf = isF32 ? (w.data as Float32Array) : scratch!;
  const w16 = w.data as Uint16Array;
  const scratchBits = scratch ? new Uint32Array(scratch.buffer) : undefined;
  const table = w.dtype === 'F16' ? f16ToF32Table() : undefined;
  for (let t0 = 0; t0 < n; t0 += TOKEN_BLOCK) {
    const t1 = Math.min(n, t0 + TOKEN_BLOCK);
    for (let r = rowStart; r < rowEnd; r++) {
      let wo = r * cols;
      if (!isF32) {
        if (table) for (let i = 0; i < cols; i++) scratch![i] = table[w16[wo + i]];
        else for (let i = 0; i < cols; i++) scratchBits![i] = w16[wo + i] << 16;
        wo = 0;
      }
      let t = t0;
      // Four tokens at a time share each weight load.
      for (; t + 4 <= t1; t += 4) {
        const x0 = t * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let i = 0; i < cols; i++) {
          const wv = wf[wo + i];
          s0 += x[x0 + i] * wv;
          s1 += x[x1 + i] * wv;
          s2 += x[x2 + i] * wv;
          s3 += x[x3 + i] * wv;
        }
        out[t * rows + r] = s0;
        out[(t + 1) * rows + r] = s1;
        out[(t + 2) * rows + r] = s2;
        out[(t + 3) * rows + r] = s3;
      }
      for (; t < t1; t++) {
        const xo = t * cols;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        let i = 0;
        for (; i + 4 <= cols; i += 4) {
          s0 += x[xo + i] * wf[wo + i];
          s1 += x[xo + i + 1] * wf[wo + i + 1];
          s2 += x[xo + i + 2] * wf[wo + i + 2];
          s3 += x[xo + i + 3] * wf[wo + i + 3];
        }
        for (; i < cols; i++) s0 += x[xo + i] * wf[wo + i];
        out[t * rows + r] = s0 + s1 + s2 + s3;
      }
    }
  }
}

function matmulQuantisedRows(out: Float32Array, x: Float32Array, n: number, w: Tensor, dtype: QuantDType, rowStart: number, rowEnd: number): void {
  const [rows, cols] = w.shape;
  const { blockElements, blockBytes } = GGML_TYPES[dtype];
  const stride = rowBytes(dtype, cols);
  const bytes = w.data as Uint8Array;
  const block = new Float32Array(blockElements);
  const sums = new Float64Array(TOKEN_BLOCK);
  for (let t0 = 0; t0 < n; t0 += TOKEN_BLOCK) {
    const t1 = Math.min(n, t0 + TOKEN_BLOCK);
    for (let r = rowStart; r < rowEnd; r++) {
      sums.fill(0);
      for (let b = 0; b < cols / blockElements; b++) {
        dequantiseBlock(dtype, bytes, r * stride + b * blockBytes, block);
        for (let t = t0; t < t1; t++) {
          const xo = t * cols + b * blockElements;
          let s = 0;
          for (let i = 0; i < blockElements; i++) s += x[xo + i] * block[i];
          sums[t - t0] += s;
        }
      }
      for (let t = t0; t < t1; t++) out[t * rows + r] = sums[t - t0];
    }
  }
}
