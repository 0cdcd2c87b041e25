//go:build amd64 && !purego

#include "textflag.h"

// func above512(x *uint8, n int, limit uint8) int
//
// Returns the start of the first 64-byte block of x[:n] holding a byte
// above limit, or n rounded down to a multiple of 64 if none does (the
// caller checks from there one by one).
TEXT ·above512(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVBLZX limit+16(FP), DX
	VPBROADCASTB DX, Z31
	ANDQ $-64, CX
	XORQ AX, AX
loop:
	CMPQ AX, CX
	JGE  done
	VMOVDQU8 (SI)(AX*1), Z0
	VPCMPUB $6, Z31, Z0, K1      // x > limit, unsigned
	KORTESTQ K1, K1
	JNZ  done
	ADDQ $64, AX
	JMP  loop
done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET
