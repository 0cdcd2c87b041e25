// Package chipserver serves one analogmac.Device over the chip protocol
// (chipproto/v1, package analogloop.chip.v1), so that a trainer in another
// process or on another machine uses the device as if it were local
// (package remote is the client; cmd/chipd the command).
//
// The model follows the device contract. A client opens a session, programs
// weight matrices in it (the weights travel once), then runs batches through
// them, each with its noise key, so a remote simulated chip gives the same
// numbers as a local one; Update sends only the changed weights. A session
// holds its programs until it is closed, freed, or idle longer than
// Config.SessionIdle. The server offers the protocol's optional parts —
// runs on a stream (RunStream), sparse inputs, and chains of runs, each on
// the previous one's outputs through the converting ReLU, in one request
// (at most MaxChain runs) — and lists them in Describe.
//
// Every request is checked before the device sees it (shapes, ranges,
// sizes, the session's limits), and a refusal is a gRPC status a client can
// act on: INVALID_ARGUMENT for a bad request, NOT_FOUND for an unknown
// session or program, FAILED_PRECONDITION for a run or update against
// weights the program no longer holds, RESOURCE_EXHAUSTED beyond a limit or a full queue,
// UNAUTHENTICATED without the token, UNAVAILABLE while draining. The checks
// are fuzzed (fuzz_test.go, seeds in testdata/).
//
// Concurrency: a Server is safe for concurrent use by any number of
// sessions. Device calls run at most Config.Workers at once, in a bounded
// queue that is fair between sessions (start-time fair queuing on device
// work), so one client's large batches cannot starve another's; each
// session gets exactly the results it would get alone.
package chipserver
