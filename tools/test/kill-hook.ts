// Preloaded with `node --import tsx --import <this file>`: arms the kill point of RECALLKIT_KILL_POINT (see kill-points.ts).
import { installKillPoint, killPointFromEnv } from './kill-points';

installKillPoint(killPointFromEnv());
