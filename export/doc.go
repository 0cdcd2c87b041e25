// Package export writes a trained network as the integer weights a
// BrainScaleS-2-style chip loads, and reads such an export back.
//
// # Format
//
// An export is two files in one directory (docs/inference.md is the
// complete definition, with a numpy reference implementation):
//
//   - NAME.npz: one int8 array of shape (in, out) per analog layer, values
//     in -63..63, under the key LAYER.weight, as numpy.load reads it. The
//     .npy members are written by npyio into a stored zip with fixed times,
//     so the same weights always give the same bytes.
//   - NAME.json: the manifest (type Manifest), format_version 2: the
//     network's description (models.Spec, resolved) with the fields derived
//     from it (input rows, tiles on the synapse array, output shapes), the
//     one gain_per_send the integer semantics use, the semantics in words
//     and constants, the .npz's SHA-256, the accuracies measured (on the
//     device it was evaluated on, and on the ideal device), and up to
//     MaxReferences reference samples with every analog layer's exact
//     integer output.
//
// Export writes both atomically. Import reads them back into a
// models.Network with the integer weights; Manifest.Infer runs the
// documented integer semantics on the manifest and weights alone.
//
// # Guarantees
//
// Export checks what it is about to write as Import will, so an export
// that succeeds imports. Import reads only regular files of bounded size
// (a FIFO or /dev/zero is refused without blocking), checks the format, the
// layer list against what models.Build makes of it, every recorded figure
// against the others, the .npz against its SHA-256 and the layers' shapes,
// and replays the reference vectors from the loaded weights through the
// ideal device, the compiled graph and Infer. Manifest.CheckAccuracy
// reproduces ideal_accuracy on the test set.
//
// These checks detect accidental damage and inconsistent edits. They do
// not detect a forgery that updates every derived field consistently (for
// instance a weight the reference samples do not reach, with the SHA-256
// updated): an export says nothing about who wrote it. Sign and
// ImportSigned add an Ed25519 signature over the manifest's bytes for that.
//
// Errors about the files are *Error values naming the file and the field;
// errors.Is tells ErrNotExport (not an export this build reads; ErrVersion
// for another format_version, such as version 1) from ErrTampered (damaged
// or inconsistent).
package export
