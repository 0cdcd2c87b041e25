// Package plots renders analogloop's figures as PNG: the characterisation
// of a device, training curves, and the study's charts. It is the only
// package that imports gonum/plot, so the numeric packages (analogmac,
// layers, models) stay free of rendering; callers hand it plain numbers or
// analogmac's measurement types and get PNG bytes back.
//
// Every function writes a complete PNG to an io.Writer and returns the
// first error; the same input always gives the same bytes.
package plots
