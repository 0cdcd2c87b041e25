// Package token reads the bearer token that chipd and its clients share:
// from a file (-token-file) or from the environment variable Env, never
// from a flag value, which any user of the machine could read in ps.
package token
