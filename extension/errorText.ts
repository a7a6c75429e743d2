// What an error says to the user: its message (a ResponseError's included), or the value itself.

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
