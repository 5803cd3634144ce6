/**
 * When a launcher started this service with an IPC channel (`npm start`: examples/fleet), tell it
 * the URL this process listens on — its proof that a health answer on that port comes from this
 * process — and stop when the channel closes, so a launcher that dies (even by SIGKILL) leaves no
 * service behind to hold its port. Without a channel (a container, a terminal) it does nothing.
 */
export function reportToLauncher(url: string, stop: () => void): void {
  if (process.send === undefined) return;
  process.send({ type: 'listening', url });
  process.once('disconnect', stop);
  // The channel must not keep the process alive once its server has closed.
  process.channel?.unref();
}
