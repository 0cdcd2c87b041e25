// Command chipd serves one device over the chip protocol
// (chipproto/v1/chip.proto), so that trainers on other processes or
// machines can put it in their loop: go run ./cmd/train -device remote
// -remote ADDR. One chipd serves one device, as one lab setup is one chip;
// several trainers may share it, each in its own session, scheduled fairly.
//
// Usage:
//
//	go run ./cmd/chipd [-addr 127.0.0.1:7070] [-device chip|mock|ideal] [-chip SEED]
//	                   [-token-file F] [-tls-cert F -tls-key F] [-metrics-addr 127.0.0.1:9090]
//
// The bearer token comes from -token-file or $ANALOGLOOP_CHIP_TOKEN, never
// from a flag value. chipd refuses to listen on an address other than
// loopback without a token. SIGTERM or SIGINT drains: new calls are refused,
// calls in progress finish, and chipd exits 0. See docs/remote.md.
package main
