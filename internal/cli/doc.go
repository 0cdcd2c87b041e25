// Package cli holds what the long-running commands (cmd/train, cmd/study)
// do alike at start: a context that the first SIGINT or SIGTERM cancels
// (so the work in progress can finish its step and save) while a second
// one ends the process, progress output only on a terminal, and bad
// configuration reported by flag name rather than by Go field name.
package cli
