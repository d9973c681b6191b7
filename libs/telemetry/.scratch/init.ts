import { start } from './common';
export const t = start();
