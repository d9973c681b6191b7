import './init2';
import pg from 'pg';
console.log(typeof pg.Client);
