import { startAuthorizationServer } from '@bearer-guard/testkit';
import { createApp } from './app.js';

// `npm start`: the test kit plays the authorization server, so this runs on a bare machine.
const port = Number(process.env['PORT'] ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`PORT must be a port number; got ${String(process.env['PORT'])}`);
  process.exit(1);
}
const as = await startAuthorizationServer({ audience: 'https://orders.example', algorithms: ['ES256'] });
const app = createApp({ issuer: as.issuer, audience: as.audience });
const server = app.listen(port, '127.0.0.1', () => {
  void (async () => {
    const read = await as.sign({ scope: 'orders:read' }, { expiresIn: 3600 });
    const other = await as.sign({ scope: 'profile' }, { expiresIn: 3600 });
    const url = `http://127.0.0.1:${String(port)}`;
    console.log(`Protected API on ${url} (authorization server stub: ${as.issuer})\n`);
    console.log(`200: curl -H 'Authorization: Bearer ${read}' ${url}/orders\n`);
    console.log(`403: curl -i -H 'Authorization: Bearer ${other}' ${url}/orders\n`);
    console.log(`401: curl -i ${url}/orders\n`);
    console.log('Ctrl-C to stop.');
  })();
});
const stop = (): void => {
  server.close();
  void as.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
