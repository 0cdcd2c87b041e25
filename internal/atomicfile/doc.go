// Package atomicfile writes files so that a reader, or a process started
// after a crash, sees the old contents or the new ones, never a part.
package atomicfile
