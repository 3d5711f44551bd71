import { main } from './program';
import { serveJobs } from './worker';

// `__worker` is the bench's own worker process; everything else is the user's command line.
if (process.argv[2] === '__worker') serveJobs();
else process.exitCode = await main(process.argv.slice(2));
