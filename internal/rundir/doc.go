// Package rundir guards a run's output directory: one process at a time,
// and nothing half-written left behind.
//
// Lock takes an exclusive lock on DIR/.lock, which records the holder's
// PID. The lock is the kernel's (flock), so it dies with its process: a
// lock file left by a process killed with SIGKILL is stale, and the next
// Lock takes it over. A second live process is refused with the holder's
// PID. Lock also removes the temporary files that an interrupted atomic
// write (internal/atomicfile) leaves when its process is killed between
// creating and renaming them.
package rundir
