/** `npm run demo:corrupt`: corrupts the demo store's primary again so the demo can be re-run. */
import * as path from 'node:path';
import { corruptDemo } from './demo-data';

const dataDir = path.resolve(process.env.LIFEBOAT_DATA_DIR ?? path.join(__dirname, '..', '.data'));
console.log(`corrupted ${corruptDemo(dataDir)}; start the demo again with:`);
console.log('  npx lifeboat start corruptedStoreRecovery --target demo-store');
