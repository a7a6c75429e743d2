// Load-time quantisation of a safetensors checkpoint (`--weights q8_0|q4_k`): the 2-D linear weights are
// quantised as they are read, a few rows at a time, straight into the tensor the backend allocated for the
// blocks, so the full-precision model is never held. Embeddings, norms and the MoE router (`mlp.gate.weight`,
// whose fp32 softmax picks the experts) stay in their file dtype, as does any weight whose rows are not a whole
// number of blocks.
import { GGML_TYPES, QuantDType, rowBytes } from './ggmlTypes';
import { quantiseRow } from './quantise';
import { DTYPE_BYTES, SafetensorsFile, TensorInfo } from './safetensors';
import { readRow, Tensor, tensorData } from './tensor';

export type WeightQuantisation = 'q8_0' | 'q4_k';
export const WEIGHT_QUANTISATIONS: readonly WeightQuantisation[] = ['q8_0', 'q4_k'];
const BLOCK_TYPE: Record<WeightQuantisation, QuantDType> = { q8_0: 'Q8_0', q4_k: 'Q4_K' };

/** Bytes of file data converted per step (a few rows of the widest weights). */
const READ_CHUNK_BYTES = 8 << 20;

/** A linear layer's weight, which load-time quantisation applies to. */
export function isQuantisableLinear(name: string, shape: readonly number[]): boolean {
  return shape.length === 2 && name.endsWith('.weight') && !name.endsWith('embed_tokens.weight') && !name.endsWith('.mlp.gate.weight');
}

export interface QuantisationPlan {
  /** The block type of each tensor to quantise. */
  typeOf: Map<string, QuantDType>;
  /** Linear weights kept in their file dtype because their rows are not whole blocks. */
  kept: string[];
  /** One line for the log about the kept weights, or null when none was kept. */
  note: string | null;
}

export function planQuantisation(choice: WeightQuantisation, tensors: readonly { name: string; shape: readonly number[] }[]): QuantisationPlan {
  const dtype = BLOCK_TYPE[choice];
  const block = GGML_TYPES[dtype].blockElements;
  const typeOf = new Map<string, QuantDType>();
  const kept: string[] = [];
  for (const t of tensors) {
    if (!isQuantisableLinear(t.name, t.shape)) continue;
    if (t.shape[1] % block === 0) typeOf.set(t.name, dtype);
    else kept.push(t.name);
  }
  const note = kept.length === 0 ? null : `--weights ${choice}: ${kept.length} of ${kept.length + typeOf.size} linear weights kept unquantised, their rows not a multiple of ${block} values (e.g. ${kept[0]})`;
  return { typeOf, kept, note };
}

/** Reads tensor `info` of `file` a few rows at a time and quantises each row into `blocks` (its whole storage). */
export function quantiseFromFile(file: SafetensorsFile, info: TensorInfo, dtype: QuantDType, blocks: Uint8Array): void {
  const [rows, cols] = info.shape;
  const fileRowBytes = cols * DTYPE_BYTES[info.dtype];
  const blockRowBytes = rowBytes(dtype, cols);
  if (blocks.byteLength !== rows * blockRowBytes) throw new Error(`"${info.name}": ${blocks.byteLength} B of storage for ${rows} rows of ${dtype} (${rows * blockRowBytes} B)`);
  const rowsPerRead = Math.max(1, Math.floor(READ_CHUNK_BYTES / fileRowBytes));
  const raw = new ArrayBuffer(rowsPerRead * fileRowBytes);
  const values = new Float32Array(rowsPerRead * cols);
  for (let r0 = 0; r0 < rows; r0 += rowsPerRead) {
    const count = Math.min(rowsPerRead, rows - r0);
    const part = new Uint8Array(raw, 0, count * fileRowBytes);
    file.readRange(info.name, r0 * fileRowBytes, part);
    const view: Tensor = { name: info.name, dtype: info.dtype, shape: [count, cols], data: tensorData(info.dtype, raw, 0, part.byteLength) };
    readRow(view, 0, count * cols, values);
    for (let r = 0; r < count; r++) quantiseRow(dtype, values.subarray(r * cols, (r + 1) * cols), blocks, (r0 + r) * blockRowBytes);
  }
}
