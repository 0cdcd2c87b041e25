//go:build amd64 && !purego

#include "textflag.h"

// func padLines16(dst, src *uint8, h, line, wp int)
//
// Copies h lines of line >= 16 bytes from src (one after another) to dst
// (wp bytes apart) in 16-byte words, the last word of a line ending at
// its end (overlapping the one before): an image into the middle of the
// padded one.
TEXT ·padLines16(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ h+16(FP), CX
	MOVQ line+24(FP), R8
	MOVQ wp+32(FP), R9
	LEAQ -16(R8), R10            // the last word's offset
line:
	XORQ AX, AX
word:
	CMPQ AX, R10
	JGE  last
	MOVOU (SI)(AX*1), X0
	MOVOU X0, (DI)(AX*1)
	ADDQ $16, AX
	JMP  word
last:
	MOVOU (SI)(R10*1), X0
	MOVOU X0, (DI)(R10*1)
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNZ  line
	RET

// func cutPatches16(out, src *uint8, bands, bandStep, n, pr, step, k, rowLen, wp int)
//
// cutPatches for bytes, over bands of n patches bandStep bytes apart in
// src: patches of k rows, each row one 16-byte word from src (rows wp
// bytes apart, patches step apart) to out (rows rowLen apart, patches pr
// apart, bands one after another), in order, so that each word's spill
// past its row is overwritten by the next. A word is one load and one
// store, and the counters stay in registers, which the Go compiler's
// version of the loop did not manage.
TEXT ·cutPatches16(SB), NOSPLIT, $0-80
	MOVQ out+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ bands+16(FP), R13
	MOVQ pr+40(FP), R8
	MOVQ step+48(FP), R9
	MOVQ rowLen+64(FP), R11
	MOVQ wp+72(FP), R12
band:
	MOVQ SI, R10                 // the patch's first row in src
	MOVQ n+32(FP), CX
patch:
	MOVQ DI, AX
	MOVQ R10, BX
	MOVQ k+56(FP), DX
row:
	MOVOU (BX), X0
	MOVOU X0, (AX)
	ADDQ R11, AX
	ADDQ R12, BX
	DECQ DX
	JNZ  row
	ADDQ R8, DI
	ADDQ R9, R10
	DECQ CX
	JNZ  patch
	ADDQ bandStep+24(FP), SI
	DECQ R13
	JNZ  band
	RET
