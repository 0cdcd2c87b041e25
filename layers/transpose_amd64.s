//go:build amd64 && !purego

#include "textflag.h"

// func transpose512(t, w *float32, ldt, ldw, m, n int)
//
// Transposes the m x n block at w (rows ldw bytes apart) into the n x m
// block at t (rows ldt bytes apart), m and n multiples of 16, one 16 x 16
// tile in registers at a time: 16 row loads, four rounds of 16 shuffles
// (pairs of elements, then of pairs, then of 128-bit lanes twice), 16
// column stores. Shuffles move bits and never touch a value, NaNs
// included. Tiles go along a band of 16 rows of w, so that w is read in
// order and each tile's stores start where the last one's ended.
TEXT ·transpose512(SB), NOSPLIT, $0-48
	MOVQ t+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ ldt+16(FP), R8
	MOVQ ldw+24(FP), R9
	MOVQ m+32(FP), CX
	MOVQ n+40(FP), DX
	SHLQ $2, DX                  // bytes of a band's row
	LEAQ (R8)(R8*2), R10         // 3 ldt
	LEAQ (R9)(R9*2), R11         // 3 ldw
	MOVQ R9, R13
	SHLQ $4, R13                 // 16 ldw: a band of w
band:
	XORQ AX, AX                  // byte offset of the tile in the band's rows
	MOVQ DI, R12                 // the tile's first column in t
tile:
	LEAQ (SI)(AX*1), BX
	VMOVUPS (BX), Z0
	VMOVUPS (BX)(R9*1), Z1
	VMOVUPS (BX)(R9*2), Z2
	VMOVUPS (BX)(R11*1), Z3
	LEAQ (BX)(R9*4), BX
	VMOVUPS (BX), Z4
	VMOVUPS (BX)(R9*1), Z5
	VMOVUPS (BX)(R9*2), Z6
	VMOVUPS (BX)(R11*1), Z7
	LEAQ (BX)(R9*4), BX
	VMOVUPS (BX), Z8
	VMOVUPS (BX)(R9*1), Z9
	VMOVUPS (BX)(R9*2), Z10
	VMOVUPS (BX)(R11*1), Z11
	LEAQ (BX)(R9*4), BX
	VMOVUPS (BX), Z12
	VMOVUPS (BX)(R9*1), Z13
	VMOVUPS (BX)(R9*2), Z14
	VMOVUPS (BX)(R11*1), Z15
	// Pairs: Z16+2p, Z17+2p interleave rows 2p and 2p+1.
	VUNPCKLPS Z1, Z0, Z16
	VUNPCKHPS Z1, Z0, Z17
	VUNPCKLPS Z3, Z2, Z18
	VUNPCKHPS Z3, Z2, Z19
	VUNPCKLPS Z5, Z4, Z20
	VUNPCKHPS Z5, Z4, Z21
	VUNPCKLPS Z7, Z6, Z22
	VUNPCKHPS Z7, Z6, Z23
	VUNPCKLPS Z9, Z8, Z24
	VUNPCKHPS Z9, Z8, Z25
	VUNPCKLPS Z11, Z10, Z26
	VUNPCKHPS Z11, Z10, Z27
	VUNPCKLPS Z13, Z12, Z28
	VUNPCKHPS Z13, Z12, Z29
	VUNPCKLPS Z15, Z14, Z30
	VUNPCKHPS Z15, Z14, Z31
	// Quads: lane l of Z(4g+e) holds rows 4g..4g+3 of column 4l+e.
	VSHUFPS $0x44, Z18, Z16, Z0
	VSHUFPS $0xEE, Z18, Z16, Z1
	VSHUFPS $0x44, Z19, Z17, Z2
	VSHUFPS $0xEE, Z19, Z17, Z3
	VSHUFPS $0x44, Z22, Z20, Z4
	VSHUFPS $0xEE, Z22, Z20, Z5
	VSHUFPS $0x44, Z23, Z21, Z6
	VSHUFPS $0xEE, Z23, Z21, Z7
	VSHUFPS $0x44, Z26, Z24, Z8
	VSHUFPS $0xEE, Z26, Z24, Z9
	VSHUFPS $0x44, Z27, Z25, Z10
	VSHUFPS $0xEE, Z27, Z25, Z11
	VSHUFPS $0x44, Z30, Z28, Z12
	VSHUFPS $0xEE, Z30, Z28, Z13
	VSHUFPS $0x44, Z31, Z29, Z14
	VSHUFPS $0xEE, Z31, Z29, Z15
	// Lanes, twice: Zc becomes column c.
	VSHUFF32X4 $0x88, Z4, Z0, Z16
	VSHUFF32X4 $0xDD, Z4, Z0, Z17
	VSHUFF32X4 $0x88, Z12, Z8, Z18
	VSHUFF32X4 $0xDD, Z12, Z8, Z19
	VSHUFF32X4 $0x88, Z5, Z1, Z20
	VSHUFF32X4 $0xDD, Z5, Z1, Z21
	VSHUFF32X4 $0x88, Z13, Z9, Z22
	VSHUFF32X4 $0xDD, Z13, Z9, Z23
	VSHUFF32X4 $0x88, Z6, Z2, Z24
	VSHUFF32X4 $0xDD, Z6, Z2, Z25
	VSHUFF32X4 $0x88, Z14, Z10, Z26
	VSHUFF32X4 $0xDD, Z14, Z10, Z27
	VSHUFF32X4 $0x88, Z7, Z3, Z28
	VSHUFF32X4 $0xDD, Z7, Z3, Z29
	VSHUFF32X4 $0x88, Z15, Z11, Z30
	VSHUFF32X4 $0xDD, Z15, Z11, Z31
	VSHUFF32X4 $0x88, Z18, Z16, Z0
	VSHUFF32X4 $0xDD, Z18, Z16, Z8
	VSHUFF32X4 $0x88, Z19, Z17, Z4
	VSHUFF32X4 $0xDD, Z19, Z17, Z12
	VSHUFF32X4 $0x88, Z22, Z20, Z1
	VSHUFF32X4 $0xDD, Z22, Z20, Z9
	VSHUFF32X4 $0x88, Z23, Z21, Z5
	VSHUFF32X4 $0xDD, Z23, Z21, Z13
	VSHUFF32X4 $0x88, Z26, Z24, Z2
	VSHUFF32X4 $0xDD, Z26, Z24, Z10
	VSHUFF32X4 $0x88, Z27, Z25, Z6
	VSHUFF32X4 $0xDD, Z27, Z25, Z14
	VSHUFF32X4 $0x88, Z30, Z28, Z3
	VSHUFF32X4 $0xDD, Z30, Z28, Z11
	VSHUFF32X4 $0x88, Z31, Z29, Z7
	VSHUFF32X4 $0xDD, Z31, Z29, Z15
	VMOVUPS Z0, (R12)
	VMOVUPS Z1, (R12)(R8*1)
	VMOVUPS Z2, (R12)(R8*2)
	VMOVUPS Z3, (R12)(R10*1)
	LEAQ (R12)(R8*4), R12
	VMOVUPS Z4, (R12)
	VMOVUPS Z5, (R12)(R8*1)
	VMOVUPS Z6, (R12)(R8*2)
	VMOVUPS Z7, (R12)(R10*1)
	LEAQ (R12)(R8*4), R12
	VMOVUPS Z8, (R12)
	VMOVUPS Z9, (R12)(R8*1)
	VMOVUPS Z10, (R12)(R8*2)
	VMOVUPS Z11, (R12)(R10*1)
	LEAQ (R12)(R8*4), R12
	VMOVUPS Z12, (R12)
	VMOVUPS Z13, (R12)(R8*1)
	VMOVUPS Z14, (R12)(R8*2)
	VMOVUPS Z15, (R12)(R10*1)
	LEAQ (R12)(R8*4), R12
	ADDQ $64, AX
	CMPQ AX, DX
	JLT  tile
	ADDQ $64, DI                 // the next band's columns in t
	ADDQ R13, SI                 // and its rows in w
	SUBQ $16, CX
	JNZ  band
	VZEROUPPER
	RET
