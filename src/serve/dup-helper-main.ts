/**
 * A short-lived child of an in-process server: it receives the listening handle and sends it back
 * `count` times. Each trip over IPC duplicates the descriptor, which is what the server wants: more
 * descriptors of one socket to accept through (see listener-set.ts).
 */
process.on('message', (message: { count: number }, handle?: unknown) => {
  if (!handle) return process.exit(1);
  for (let i = 0; i < message.count; i++) process.send!({ i }, handle as never);
});
process.on('disconnect', () => process.exit(0));
