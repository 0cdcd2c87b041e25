//go:build amd64 && !purego

#include "textflag.h"

// func zigFast512(state *uint64, buf *float64, n int) int
//
// Lane j of a group computes draw j of the stream, SplitMix64 being a
// counter: u = mix64(s + j*golden64). The fast path of normal, per lane:
// layer i = u & 255, x = float64(int64(u>>11)) * zigScale[i], accepted if
// x < zigInner[i], sign from bit 8. A group whose valid lanes are all
// accepted is stored whole; otherwise the lanes before the first rejected
// one are stored and the function returns, leaving that draw to normal.
TEXT ·zigFast512(SB), NOSPLIT, $0-32
	MOVQ state+0(FP), DI
	MOVQ buf+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ (DI), R8                // s
	XORQ AX, AX                  // written
	LEAQ ·zigScale(SB), R10
	LEAQ ·zigInner(SB), R11
	MOVQ $0x9e3779b97f4a7c15, R12
	VMOVDQU64 ·zigSteps(SB), Z30
	MOVQ $0xbf58476d1ce4e5b9, R9
	VPBROADCASTQ R9, Z29
	MOVQ $0x94d049bb133111eb, R9
	VPBROADCASTQ R9, Z28
	MOVQ $255, R9
	VPBROADCASTQ R9, Z27
	MOVQ $256, R9
	VPBROADCASTQ R9, Z26

loop:
	TESTQ CX, CX
	JLE   done
	VPBROADCASTQ R8, Z0
	VPADDQ  Z30, Z0, Z0          // z = s + (j+1)*golden: mix64's input after its increment
	VPSRLQ  $30, Z0, Z1
	VPXORQ  Z1, Z0, Z0
	VPMULLQ Z29, Z0, Z0
	VPSRLQ  $27, Z0, Z1
	VPXORQ  Z1, Z0, Z0
	VPMULLQ Z28, Z0, Z0
	VPSRLQ  $31, Z0, Z1
	VPXORQ  Z1, Z0, Z0           // u
	VPANDQ  Z27, Z0, Z2          // layer
	KXNORB  K1, K1, K1
	VGATHERQPD (R10)(Z2*8), K1, Z3
	KXNORB  K2, K2, K2
	VGATHERQPD (R11)(Z2*8), K2, Z4
	VPSRLQ  $11, Z0, Z5
	VCVTQQ2PD Z5, Z5             // exact: 53 bits
	VMULPD  Z3, Z5, Z5           // x
	VCMPPD  $1, Z4, Z5, K3       // x < inner: fast path
	VPANDQ  Z26, Z0, Z6
	VPSLLQ  $55, Z6, Z6
	VPORQ   Z6, Z5, Z5           // bit 8 of u becomes the sign
	MOVQ    $8, R9
	CMPQ    CX, R9
	CMOVQLT CX, R9               // lanes wanted
	MOVL    $0xff, DX
	BZHIL   R9, DX, DX           // their mask
	KMOVB   K3, BX
	NOTL    BX
	ANDL    DX, BX               // wanted lanes off the fast path
	JNZ     partial
	KMOVB   DX, K4
	VMOVUPD Z5, K4, (SI)(AX*8)
	ADDQ    R9, AX
	SUBQ    R9, CX
	IMULQ   R12, R9
	ADDQ    R9, R8
	JMP     loop

partial:
	TZCNTL  BX, BX               // the first rejected lane
	MOVL    $0xff, DX
	BZHIL   BX, DX, DX
	KMOVB   DX, K4
	VMOVUPD Z5, K4, (SI)(AX*8)
	ADDQ    BX, AX
	IMULQ   R12, BX
	ADDQ    BX, R8

done:
	MOVQ R8, (DI)
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET
