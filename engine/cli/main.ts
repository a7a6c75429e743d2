export function main(argv: string[]): void {
  console.log(JSON.stringify(argv));
}
