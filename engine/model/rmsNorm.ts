// RMSNorm: w * (x / sqrt(mean(x²) + eps)), row by row.

export function rmsNorm(out: Float32Array, x: Float32Array, rows: number, dim: number, weight: Float32Array, eps: number, xStride = dim, xOffset = 0): void {
  for (let r = 0; r < rows; r++) {
    const xo = xOffset + r * xStride;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[xo + i] * x[xo + i];
    const inv = Math.fround(1 / Math.sqrt(Math.fround(ss / dim) + eps));
    const oo = r * dim;
    for (let i = 0; i < dim; i++) out[oo + i] = weight[i] * Math.fround(x[xo + i] * inv);
  }
}
