// Fault injection for the cache's failure tests: a real forward pass that fails half-way, as a kernel error would.
import type { DeepseekV2Model } from '../../engine/model/deepseekV2';

/**
 * Makes the next forward pass throw inside layer 1, after every cache of the batch grew and layer 0 wrote.
 * Returns a function that disarms the fault if no forward ran.
 */
export function failNextForward(model: DeepseekV2Model): () => void {
  const layer = (model as unknown as { layers: { attention: { forward: (...args: unknown[]) => void } }[] }).layers[1];
  const attention = layer.attention;
  const real = attention.forward;
  attention.forward = () => {
    attention.forward = real;
    throw new Error('injected fault in layer 1 attention');
  };
  return () => {
    attention.forward = real;
  };
}
