//go:build !amd64 || purego

package wirecodec

var sparseFast = false

func sparseEncode512(dst, src *byte, blocks int) int { panic("wirecodec: no vector sparse form here") }

func sparseDecode512(dst, src *byte, blocks, srclen int) (done, used int) {
	panic("wirecodec: no vector sparse form here")
}
