// How one latent row is stored in the pool. c_kv (kv_lora_rank numbers) may be fp32, fp16, int8 or int4 with
// per-group scales; k_pe (qk_rope_head_dim numbers) stays fp32 for the fp32 format and fp16 otherwise (as
// FlashMLA keeps the rope part 16-bit), since position information is what quantisation hurts most.
import { f32ToF16 } from '../weights/halfPrecision';
import { f16ToF32Table } from '../weights/tensor';

export type LatentFormat = 'fp32' | 'fp16' | 'int8' | 'int4';
export const LATENT_FORMATS: readonly LatentFormat[] = ['fp32', 'fp16', 'int8', 'int4'];

/** Values sharing one scale in the int8 and int4 formats. */
export const QUANT_GROUP = 32;

/** Bytes of one token's latents in one layer. */
export function bytesPerTokenLayer(format: LatentFormat, r: number, dr: number): number {
  const groups = Math.ceil(r / QUANT_GROUP);
  switch (format) {
    case 'fp32':
      return 4 * (r + dr);
    case 'fp16':
      return 2 * (r + dr);
    case 'int8':
      return r + 4 * groups + 2 * dr;
    case 'int4':
      return Math.ceil(r / 2) + 4 * groups + 2 * dr;
  }
}

/** Storage of c_kv rows in one format: encode a row in, decode a row out. */
export interface RowCodec {
  /** Elements of the backing typed array per row. */
  readonly rowElements: number;
  /** Scales per row (0 for unscaled formats). */
  readonly rowScales: number;
  allocate(rows: number): { data: Float32Array | Uint16Array | Int8Array | Uint8Array; scales: Float32Array };
  encode(src: Float32Array, srcOff: number, data: Float32Array | Uint16Array | Int8Array | Uint8Array, row: number, scales: Float32Array): void;
  decode(data: Float32Array | Uint16Array | Int8Array | Uint8Array, row: number, scales: Float32Array, out: Float32Array, outOff: number): void;
}

export function rowCodec(format: LatentFormat, width: number): RowCodec {
  const groups = Math.ceil(width / QUANT_GROUP);
  switch (format) {
    case 'fp32':
      return {
        rowElements: width,
        rowScales: 0,
        allocate: (rows) => ({ data: new Float32Array(rows * width), scales: new Float32Array(0) }),
        encode: (src, so, data, row) => (data as Float32Array).set(src.subarray(so, so + width), row * width),
        decode: (data, row, _s, out, oo) => out.set((data as Float32Array).subarray(row * width, (row + 1) * width), oo),
      };
    case 'fp16': {
      const table = f16ToF32Table();
      return {
        rowElements: width,
        rowScales: 0,
        allocate: (rows) => ({ data: new Uint16Array(rows * width), scales: new Float32Array(0) }),
        encode: (src, so, data, row) => {
          for (let i = 0; i < width; i++) data[row * width + i] = f32ToF16(src[so + i]);
        },
        decode: (data, row, _s, out, oo) => {
          for (let i = 0; i < width; i++) out[oo + i] = table[data[row * width + i]];
        },
      };
    }
    case 'int8':
    case 'int4': {
      const levels = format === 'int8' ? 127 : 7;
      const packed = format === 'int4';
      const rowElements = packed ? Math.ceil(width / 2) : width;
      return {
        rowElements,
        rowScales: groups,
        allocate: (rows) => ({ data: packed ? new Uint8Array(rows * rowElements) : new Int8Array(rows * rowElements), scales: new Float32Array(rows * groups) }),
        encode: (src, so, data, row, scales) => {
          for (let g = 0; g < groups; g++) {
            const a = g * QUANT_GROUP, b = Math.min(width, a + QUANT_GROUP);
            let amax = 0;
            for (let i = a; i < b; i++) amax = Math.max(amax, Math.abs(src[so + i]));
            const scale = amax / levels;
            scales[row * groups + g] = scale;
            const inv = scale > 0 ? 1 / scale : 0;
            for (let i = a; i < b; i++) {
              const q = Math.max(-levels, Math.min(levels, Math.round(src[so + i] * inv)));
              if (packed) {
                const idx = row * rowElements + (i >> 1);
                const nibble = q & 0xf;
                data[idx] = i & 1 ? (data[idx] & 0x0f) | (nibble << 4) : (data[idx] & 0xf0) | nibble;
              } else {
                data[row * rowElements + i] = q;
              }
            }
          }
        },
        decode: (data, row, scales, out, oo) => {
          for (let i = 0; i < width; i++) {
            let q: number;
            if (packed) {
              const byte = data[row * rowElements + (i >> 1)];
              const nibble = i & 1 ? byte >> 4 : byte & 0xf;
              q = nibble & 8 ? nibble - 16 : nibble;
            } else {
              q = data[row * rowElements + i];
            }
            out[oo + i] = q * scales[row * groups + Math.floor(i / QUANT_GROUP)];
          }
        },
      };
    }
  }
}
