import pg from 'pg';
export { pg };
