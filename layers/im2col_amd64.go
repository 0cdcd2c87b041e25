//go:build amd64 && !purego

package layers

import "unsafe"

//go:noescape
func padLines16(dst, src *uint8, h, line, wp int)

//go:noescape
func cutPatches16(out, src *uint8, bands, bandStep, n, pr, step, k, rowLen, wp int)

// im2colImageVector cuts the patches of one image of bytes (the 5-bit
// inputs of a device) into out, through pad, in assembly, and reports
// whether it could: rows of at least 16 bytes to pad, and room in out
// for the last patch row's whole word.
func im2colImageVector[T float32 | uint8](g Geometry, out, img, pad []T) bool {
	var z T
	rowLen, wp, line := g.Kernel*g.C, (g.W+2*g.Pad)*g.C, g.W*g.C
	if unsafe.Sizeof(z) != 1 || !vectorIm2colFits(g) || len(out) < g.Patches*g.PatchRows-rowLen+16 {
		return false
	}
	// The last bytes the kernels touch, which pad's slack and the test
	// above guarantee; checked here all the same, since they do not.
	_ = img[g.InputsPerSample-1]
	_ = pad[(g.H-1+g.Pad)*wp+g.Pad*g.C+line-1]
	_ = pad[((g.OutH-1)*wp+(g.OutW-1)*g.C)*g.Stride+(g.Kernel-1)*wp+15]
	p := (*uint8)(unsafe.Pointer(unsafe.SliceData(pad)))
	padLines16((*uint8)(unsafe.Add(unsafe.Pointer(p), (g.Pad*wp+g.Pad*g.C))), (*uint8)(unsafe.Pointer(unsafe.SliceData(img))), g.H, line, wp)
	cutPatches16((*uint8)(unsafe.Pointer(unsafe.SliceData(out))), p, g.OutH, g.Stride*wp, g.OutW, g.PatchRows, g.Stride*g.C, g.Kernel, rowLen, wp)
	return true
}

// vectorIm2colFits reports whether im2colImageVector takes images of g:
// patch rows of at most 16 values, image rows of at least 16.
func vectorIm2colFits(g Geometry) bool { return g.Kernel*g.C <= 16 && g.W*g.C >= 16 }
