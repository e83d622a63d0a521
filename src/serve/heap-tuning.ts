/**
 * serve's processes keep V8's young generation at its initial size.
 *
 * Why: V8 doubles its semi-spaces (up to 16 MiB each on 64-bit) whenever the objects that survive a
 * scavenge outgrow them, and a burst of accepted connections does exactly that (every socket
 * survives). The young generation then stays at its largest: about 25 MB of RSS that nothing uses,
 * which bench/serve-memory counts as 2.5 KB per idle connection at 10,000 (5.3 KB with it, 3.5 KB
 * without; the live heap is 1.35 KB per connection either way). Echo makes almost no garbage per
 * message (frames are parsed in views of the shared read buffer), so the small young generation
 * costs no throughput that serve-echo-vs-go can see.
 *
 * A runtime flag, which V8 reads each time it would grow the semi-spaces. Set only in processes
 * serve owns (the CLI's and its workers), never in a program that calls serve() as a library.
 */
import { setFlagsFromString } from 'node:v8';

export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
