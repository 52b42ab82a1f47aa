/**
 * yargs turns a lone `-` argument into an empty string, so main.ts swaps it
 * for this marker before parsing; commands compare against it for stdin/stdout.
 */
export const STDIO = '<stdio>';

export function protectDash(args: string[]): string[] {
  return args.map((a) => (a === '-' ? STDIO : a));
}
