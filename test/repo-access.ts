/**
 * The password of every test repository. Importing this module also sets
 * TSBAK_PASSWORD (and a low scrypt cost) for the CLI and the child processes a test
 * starts, so every repository test runs encrypted.
 */
export const TEST_PASSWORD = 'tsbak-test-password';
process.env.TSBAK_PASSWORD ??= TEST_PASSWORD;
process.env.TSBAK_SCRYPT_N ??= '4096';

/** Access options of Repository.init/open with the test password. */
export const access = { password: async (): Promise<string> => TEST_PASSWORD };

/** The file of a loose blob in a local test repository (its name is the MAC of the digest: only the key knows it). */
export async function blobObjectPath(repoDir: string, digest: string): Promise<string> {
  const repo = await openTestRepository(repoDir);
  const { blobHandle } = await import('../src/repo/packs.js');
  const { join } = await import('node:path');
  return join(repoDir, repo.objects.key(blobHandle(repo.objects.codec, digest as `sha256:${string}`)));
}

/** Open a local test repository with the test password. */
export async function openTestRepository(repoDir: string) {
  const { Repository } = await import('../src/repo/repository.js');
  const { LocalBackend } = await import('../src/repo/backend/local.js');
  return Repository.open(new LocalBackend(repoDir), access);
}
