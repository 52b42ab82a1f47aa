/**
 * `tsbak runtime run [OPTIONS] IMAGE [COMMAND [ARG...]]`: as with `docker
 * run`, everything after the image belongs to the command, flags included
 * (`sh -c '…'`). yargs cannot stop parsing inside a sub-subcommand, so main.ts
 * puts a `--` after the image before parsing.
 */
/** run's options that take no value; every other option takes one (unless written --opt=value). */
const RUN_FLAGS = new Set(['-d', '--detach', '--rm', '--json', '-h', '--help', '--insecure-registry']);

export function protectRunCommand(args: string[]): string[] {
  const at = args.findIndex((a, i) => a === 'run' && args[i - 1] === 'runtime');
  if (at < 0 || args.includes('--')) return args;
  for (let i = at + 1; i < args.length; i++) {
    const a = args[i] as string;
    if (a.startsWith('-')) {
      const takesValue = !RUN_FLAGS.has(a) && !a.includes('=') && !/^-[a-z]{2,}$/i.test(a);
      if (takesValue) i++;
      continue;
    }
    return [...args.slice(0, i + 1), '--', ...args.slice(i + 1)];
  }
  return args;
}
