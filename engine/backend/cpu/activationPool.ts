// The CPU backend's activation arrays, reused layer to layer. The model marks each layer of a step
// (Backend.beginLayer / endLayer); the arrays of the activations made inside a layer go back to a free list when it
// ends and are handed out again, by length, to the next layer's ops (every MoE layer has the same shapes). Without
// this a 512-token prefill of DeepSeek-V2-Lite allocates about 100 MB of arrays per layer, and V8 answers the
// external memory with a mark-compact every few hundred milliseconds (measured: 9% of a prefill's time, besides a
// core taken by its concurrent marking).
export class ActivationPool {
  /** Arrays free for reuse, by length. */
  private readonly free = new Map<number, Float32Array[]>();
  /** The open layer's arrays, or null outside a layer (arrays made there are the garbage collector's). */
  private layer: Float32Array[] | null = null;
  /** Lengths handed out in this step: the free lists of other lengths go at its end. */
  private readonly lengthsThisStep = new Set<number>();

  get inLayer(): boolean {
    return this.layer !== null;
  }

  /** A zeroed array of `length` floats. */
  take(length: number): Float32Array {
    if (!this.layer) return new Float32Array(length);
    const reused = this.free.get(length)?.pop();
    const a = reused ? reused.fill(0) : new Float32Array(length);
    this.layer.push(a);
    this.lengthsThisStep.add(length);
    return a;
  }

  beginLayer(): void {
    this.endLayer();
    this.layer = [];
  }

  /** Every array of the layer is free from now on. */
  endLayer(): void {
    for (const a of this.layer ?? []) {
      const list = this.free.get(a.length);
      if (list) list.push(a);
      else this.free.set(a.length, [a]);
    }
    this.layer = null;
  }

  /** Ends the step's layers; keeps only the lengths this step used, so one step's arrays are held at most. */
  endStep(): void {
    this.endLayer();
    for (const length of [...this.free.keys()]) if (!this.lengthsThisStep.has(length)) this.free.delete(length);
    this.lengthsThisStep.clear();
  }
}
