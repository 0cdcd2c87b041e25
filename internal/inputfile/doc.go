// Package inputfile reads files that come from outside the program
// (manifests, weights, checkpoints, datasets, descriptions) without
// trusting them: only regular files, opened without blocking (a FIFO would
// otherwise hang the open until a writer comes, deaf to signals), and never
// more than a stated number of bytes, checked before reading. /dev/zero, a
// FIFO or a 10 GB file are refused at once, in bounded time and memory.
package inputfile
