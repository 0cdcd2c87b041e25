// Package chipv1 is the generated Go code of the analogloop chip protocol,
// version 1 (chip.proto in this directory: read it for the protocol). The
// server is package chipserver, the client package remote.
//
// Regenerate after editing chip.proto, from this directory, with Debian's
// protobuf-compiler and the two plugins at the versions go.mod pins:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//	go generate
//
// .ci/crossprocess.sh regenerates it and fails when the committed code
// differs.
package chipv1

//go:generate protoc -I ../.. --go_out=../.. --go_opt=paths=source_relative --go-grpc_out=../.. --go-grpc_opt=paths=source_relative chipproto/v1/chip.proto
