//go:build amd64 && !purego

#include "textflag.h"

// func relu512(dst *uint8, src *int8, n int, shift uint64)
//
// ConvertReLU, 64 outputs at a time: min(31, max(0, y) >> shift).
TEXT ·relu512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ shift+24(FP), R8
	VMOVQ R8, X30                // shift count
	MOVL $0xff, DX
	SHRXL R8, DX, DX             // the bits a byte keeps after the shift
	VPBROADCASTB DX, Z29
	MOVL $31, DX
	VPBROADCASTB DX, Z28
	VPXORD Z27, Z27, Z27
	XORQ AX, AX
loop:
	MOVQ CX, DX
	SUBQ AX, DX
	JLE  done
	CMPQ DX, $64
	JLT  tail
	KXNORQ K1, K1, K1
	JMP  body
tail:
	MOVQ $-1, BX
	BZHIQ DX, BX, BX
	KMOVQ BX, K1
body:
	VMOVDQU8.Z (SI)(AX*1), K1, Z0
	VPMAXSB Z27, Z0, Z0          // max(0, y): 0..127
	VPSRLW X30, Z0, Z0           // shifted as words,
	VPANDD Z29, Z0, Z0           // bits from the neighbour byte cleared
	VPMINUB Z28, Z0, Z0
	VMOVDQU8 Z0, K1, (DI)(AX*1)
	ADDQ $64, AX
	JMP  loop
done:
	VZEROUPPER
	RET
