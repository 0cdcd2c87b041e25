// Package catalog opens a dataset by name: the one place that knows every
// loader, so that commands can take -dataset NAME.
package catalog
