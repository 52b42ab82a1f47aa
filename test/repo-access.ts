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
