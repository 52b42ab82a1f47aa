// Every scenario `npm run bench` knows, by name. A new benchmark (volumes vs restic,
// restore vs docker load, push vs skopeo copy) is a module exporting a Scenario, listed here.
import type { Scenario } from '../lib/scenario.js';
import { imagesScenario } from './images.js';

export const SCENARIOS: readonly Scenario[] = [imagesScenario];
