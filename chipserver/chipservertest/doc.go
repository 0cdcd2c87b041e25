// Package chipservertest starts chip servers on loopback for tests, as
// net/http/httptest does for HTTP.
package chipservertest
