// Package remote is a chip reached over the network: an analogmac.Device
// whose weights and runs go to a server of the chip protocol
// (chipproto/v1/chip.proto) — cmd/chipd, the Python example server, or the
// host of a real chip. The trainer uses it exactly like a local device.
//
// Dial connects, asks the server which device it serves (Spec then
// describes that device: results record "chip 1" for a server of chip 1,
// as a local run does) and opens a session. Program sends a weight matrix
// once; its Program's Update sends only the weights that changed; Run
// sends a batch of inputs with its noise key and receives the outputs.
// The Device is an analogmac.Chainer: RunChain sends several runs, each on
// the previous one's outputs, as one request when the server runs chains
// (the trainer's forward pass: one round trip instead of one per layer).
// It uses the protocol's optional parts (run streams, sparse inputs,
// chains) only when the server lists them, and the plain calls otherwise.
//
// Faults. Every attempt of a call has a deadline (Options.CallTimeout);
// transient failures (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED)
// are retried with exponential backoff for up to Options.Wait, after which
// the call fails with analogmac.ErrUnavailable (ErrBusy for a queue that
// stays full): package train then saves its checkpoint. When the server
// answers NOT_FOUND — it restarted and lost the session and its programs —
// the client opens a new session, checks that the server still serves the
// same device, programs its last weights again and repeats the call. A
// repeated run carries the same noise key, and a simulated device's output
// is a pure function of its weights, inputs and key, so the answer is the
// one the lost call would have had: a run interrupted by a server restart
// ends with the results of an undisturbed one.
//
// Errors the server gives for bad requests (INVALID_ARGUMENT) come back as
// *analogmac.ArgError naming the field; the client checks every request
// with analogmac.Check and CheckRun before sending it, so a well-behaved
// caller sees the same errors as with a local device.
package remote
