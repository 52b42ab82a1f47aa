// Every scenario `npm run bench` knows, by name, in the order a full run takes them.
// A new benchmark is a module exporting a Scenario, listed here.
import type { Scenario } from '../lib/scenario.js';
import { freezeScenario } from './freeze.js';
import { imagesScenario } from './images.js';
import { pushScenario } from './push.js';
import { restoreScenario } from './restore.js';
import { runtimeScenario } from './runtime.js';
import { unpackScenario } from './unpack.js';
import { volumesScenario } from './volumes.js';

export const SCENARIOS: readonly Scenario[] = [imagesScenario, restoreScenario, pushScenario, volumesScenario, freezeScenario, unpackScenario, runtimeScenario];
