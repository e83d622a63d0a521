/** A client process that opens N connections, tells its parent, and holds them until killed. */
import { WebSocket } from 'ws';

const [url, count] = [process.argv[2]!, Number(process.argv[3])];
const sockets: WebSocket[] = [];
let open = 0;
for (let i = 0; i < count; i++) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  sockets.push(ws);
  ws.on('error', () => {});
  ws.once('open', () => {
    if (++open === count) process.send!('open');
  });
}
setInterval(() => {}, 1 << 30);
// Never outlive the test that started it.
process.on('disconnect', () => process.exit(0));
