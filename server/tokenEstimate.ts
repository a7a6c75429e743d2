// The fallback token count, for engines that cannot count (no /tokenize): code averages a little over 3
// characters per DeepSeek token.

export const CHARS_PER_TOKEN = 3;

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}
