// Package deviceflags is how the commands open a device from their flags:
// -device KIND and -chip SEED for the simulated devices, -device remote
// with -remote ADDR (and -token-file, -tls-ca, ...) for a chip served by
// cmd/chipd or any other server of the chip protocol. It is the one place
// that knows every kind a command line can name, so cmd/train,
// cmd/characterize and the others take the same flags with the same
// meaning.
package deviceflags
