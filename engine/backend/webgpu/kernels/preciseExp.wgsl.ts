// exp() to about 1 ulp. WGSL's built-in exp may be as coarse as 3 + 2|x| ulp (Vulkan's relaxed precision; lavapipe
// uses that latitude), which alone moved absorbed vs naive attention by 1e-5; softmaxes use this instead:
// exp(x) = 2^n · e^r, n = round(x·log2 e), r = x − n·ln 2 (ln 2 split in two for an exact product), e^r by a
// degree-7 Taylor polynomial on |r| ≤ ln2/2.
export const PRECISE_EXP = `fn preciseExp(x: f32) -> f32 {
  if (x < -103.0) { return 0.0; }
  if (x > 88.7) { return 1e38; } // softmax arguments are <= 0: saturate rather than overflow
  let n = round(x * 1.44269504);
  let r = (x - n * 0.693145752) - n * 1.42860677e-6;
  var p = 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  return ldexp(p, i32(n));
}`;
